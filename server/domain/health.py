"""``GET /api/health``: each service up or down, with its latency; 503 when one is down."""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec

import simcore
from server import __version__
from server.connections import Connections, ServiceHealth


class HealthReport(msgspec.Struct, frozen=True):
    status: Literal["ok", "degraded"]
    version: str
    engine: str
    services: list[ServiceHealth]


@get(
    "/api/health",
    tags=["system"],
    summary="Service health",
    responses={503: ResponseSpec(HealthReport, description="A service is down")},
)
async def health(state: State) -> Response[HealthReport]:
    """Probe PostgreSQL, Valkey and object storage. 200 when all are up, 503 otherwise."""
    connections: Connections = state.connections
    services = await connections.health()
    up = all(service.up for service in services)
    report = HealthReport("ok" if up else "degraded", __version__, simcore.ENGINE_VERSION, services)
    return Response(report, status_code=200 if up else 503)
