"""A service that dies while SPIKE-X serves: health says so (503), then recovers by itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server.embedded import EmbeddedPostgres, EmbeddedService, EmbeddedValkey
from tests.servers import ServerProcess, wait_for

WITHIN_S = 20.0


@pytest.fixture
def own_services(tmp_path: Path) -> Iterator[dict[str, EmbeddedService]]:
    """A PostgreSQL and a Valkey for this test alone: it kills them."""
    services: dict[str, EmbeddedService] = {
        "postgres": EmbeddedPostgres(tmp_path / "postgres"),
        "valkey": EmbeddedValkey(tmp_path / "valkey"),
    }
    for service in services.values():
        service.start()
    yield services
    for service in services.values():
        service.stop()


def health(server: ServerProcess) -> tuple[int, dict[str, bool]]:
    try:
        response = server.get("/api/health")
    except httpx.TransportError:
        return 0, {}
    return response.status_code, {s["name"]: s["up"] for s in response.json()["services"]}


@pytest.mark.parametrize("victim", ["postgres", "valkey"])
def test_health_reports_an_outage_and_the_recovery(
    own_services: dict[str, EmbeddedService], data_dir: Path, victim: str
) -> None:
    server = ServerProcess(
        data_dir,
        {
            "DATABASE_URL": own_services["postgres"].url,
            "VALKEY_URL": own_services["valkey"].url,
            "SPIKEX_HEALTH_TIMEOUT_S": "1",
        },
    ).start()
    try:
        own_services[victim].kill()
        down = wait_for(lambda: health(server)[0] == 503, WITHIN_S)
        assert down, server.output()
        status, up = health(server)
        assert status == 503
        assert up == {name: name != victim for name in ("postgres", "valkey", "objects")}
        report = server.get("/api/health").json()
        assert report["status"] == "degraded"
        broken = next(s for s in report["services"] if s["name"] == victim)
        assert broken["error"] and broken["latency_ms"] is None

        own_services[victim].start()  # same port, same data
        assert wait_for(lambda: health(server)[0] == 200, WITHIN_S), server.output()
        assert server.post("/api/models", json={"name": "after recovery"}).status_code == 201
    finally:
        server.stop()
