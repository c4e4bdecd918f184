"""Real PostgreSQL, Valkey and S3 (SeaweedFS) on free loopback ports, and a real server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from server.config import load_settings
from server.connections import Connections
from server.embedded import EmbeddedPostgres, EmbeddedS3, EmbeddedService, EmbeddedValkey
from tests.servers import ServerProcess

S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "spikex-test",
    "AWS_SECRET_ACCESS_KEY": "spikex-test-secret",
    "AWS_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
}


Service = TypeVar("Service", bound=EmbeddedService)


def _running(service: Service) -> Iterator[Service]:
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedService]:
    yield from _running(EmbeddedPostgres(tmp_path_factory.mktemp("postgres")))


@pytest.fixture(scope="session")
def valkey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedService]:
    yield from _running(EmbeddedValkey(tmp_path_factory.mktemp("valkey")))


@pytest.fixture
def own_valkey(tmp_path: Path) -> Iterator[EmbeddedValkey]:
    """A Valkey of the test's own (to restart, or to give one server a Valkey apart)."""
    yield from _running(EmbeddedValkey(tmp_path / "valkey"))


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedS3]:
    yield from _running(EmbeddedS3(tmp_path_factory.mktemp("s3")))


def s3_environment(s3: EmbeddedS3) -> dict[str, str]:
    return {**S3_CREDENTIALS, "AWS_ENDPOINT": s3.endpoint}


@pytest.fixture(scope="session")
def services_environment(
    postgres: EmbeddedService, valkey: EmbeddedService, s3: EmbeddedS3
) -> dict[str, str]:
    """Settings that point a server at the shared test services (S3 for objects)."""
    return {
        "DATABASE_URL": postgres.url,
        "VALKEY_URL": valkey.url,
        "OBJECT_STORE_URL": f"{s3.url}/{uuid.uuid4().hex}",
        **s3_environment(s3),
    }


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory, services_environment: dict[str, str]
) -> Iterator[ServerProcess]:
    """One SPIKE-X server for the session, using the shared services."""
    process = ServerProcess(tmp_path_factory.mktemp("server") / "data", services_environment)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def connections(
    server: ServerProcess,  # its start-up applied the migrations
    services_environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
) -> AsyncIterator[Connections]:
    """This process's own connections to the shared services (tables bound to them)."""
    for variable, value in services_environment.items():
        monkeypatch.setenv(variable, value)  # obstore reads the AWS_* variables itself
    opened = await Connections.open(
        load_settings({**services_environment, "SPIKEX_DATA_DIR": str(data_dir)})
    )
    try:
        yield opened
    finally:
        await opened.close()
