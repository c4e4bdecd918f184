"""Start-up faults: one clear line naming the cause, a non-zero exit, within seconds."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from server.embedded import EmbeddedS3, EmbeddedService, free_port
from tests.conftest import s3_environment
from tests.servers import clean_environment, spikex_command

# Start-up waits SPIKEX_CONNECT_TIMEOUT_S per service; the process must be gone well before
# this (it includes the interpreter's own start).
EXIT_WITHIN_S = 20.0


def run_spikex(environ: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        spikex_command("run"),
        env=clean_environment(SPIKEX_CONNECT_TIMEOUT_S="3", **environ),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return done, time.monotonic() - started


def closed_url(template: str) -> str:
    """A URL to a loopback port where nothing listens."""
    return template.format(port=free_port())


@pytest.fixture
def good(
    postgres: EmbeddedService, valkey: EmbeddedService, s3: EmbeddedS3, data_dir: Path
) -> dict[str, str]:
    return {
        "DATABASE_URL": postgres.url,
        "VALKEY_URL": valkey.url,
        "OBJECT_STORE_URL": f"{s3.url}/startup",
        "AWS_ALLOW_HTTP": "true",
        "SPIKEX_DATA_DIR": str(data_dir),
        "SPIKEX_PORT": str(free_port()),
        **s3_environment(s3),
    }


@pytest.mark.parametrize(
    ("setting", "bad"),
    [
        ("DATABASE_URL", "postgresql://postgres@127.0.0.1:{port}/spikex"),
        ("VALKEY_URL", "valkey://127.0.0.1:{port}/0"),
        ("AWS_ENDPOINT", "http://127.0.0.1:{port}"),
    ],
)
def test_an_unreachable_service_stops_start_up_with_one_line(
    good: dict[str, str], setting: str, bad: str
) -> None:
    environ = {**good, setting: closed_url(bad)}
    done, elapsed = run_spikex(environ)
    assert done.returncode != 0
    assert elapsed < EXIT_WITHIN_S
    named = "OBJECT_STORE_URL" if setting == "AWS_ENDPOINT" else setting
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"spikex: {named} ("), done.stderr
    assert "cannot connect" in last_line
    assert "Traceback" not in done.stderr


def test_a_port_in_use_is_reported_without_a_stack_trace(good: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done, elapsed = run_spikex({**good, "SPIKEX_PORT": str(port)})
    assert done.returncode != 0
    assert elapsed < EXIT_WITHIN_S
    assert done.stderr.strip().splitlines()[-1] == (
        f"spikex: cannot serve on 127.0.0.1:{port}: the port is already in use "
        "(stop the other program or set SPIKEX_PORT)"
    )
    assert "Traceback" not in done.stderr


def test_a_malformed_setting_is_named(good: dict[str, str]) -> None:
    done, _ = run_spikex({**good, "SPIKEX_PORT": "eighty"})
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1].startswith("spikex: ")
    assert "SPIKEX_PORT" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unusable_object_store_url_is_named(good: dict[str, str]) -> None:
    done, _ = run_spikex({**good, "OBJECT_STORE_URL": "ftp://example/objects"})
    assert done.returncode != 0
    assert "OBJECT_STORE_URL='ftp://example/objects'" in done.stderr.strip().splitlines()[-1]
