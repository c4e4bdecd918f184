"""The one Litestar app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from litestar import Litestar, MediaType, Response, get
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from server import __version__
from server.config import Settings
from server.connections import Connections
from server.domain.datasets.controller import DatasetController
from server.domain.documents.controller import DocumentController
from server.domain.documents.rooms import open_rooms
from server.domain.documents.sharing import Sharing
from server.domain.documents.socket import document_socket
from server.domain.frames.hub import FrameHub
from server.domain.frames.socket import frames_socket
from server.domain.health import health
from server.domain.library.controller import LibraryController
from server.domain.models.controller import ModelController
from server.domain.runs.controller import ModelRunsController, RunController, compute
from server.domain.runs.service import Runs

log = structlog.get_logger(__name__)

SWAGGER_UI = "/vendor/swagger-ui"


def create_app(settings: Settings, embedded: frozenset[str] = frozenset()) -> Litestar:
    """Build the app for ``settings``; ``embedded`` names the services we started ourselves."""

    @asynccontextmanager
    async def connections(app: Litestar) -> AsyncIterator[None]:
        app.state.connections = await Connections.open(settings, embedded)
        app.state.rooms = open_rooms(settings, app.state.connections)
        app.state.sharing = Sharing.from_settings(settings)
        app.state.runs = Runs(settings, app.state.connections, app.state.rooms)
        await app.state.runs.start()
        app.state.frames = FrameHub(settings, app.state.connections.valkey)
        log.info("serving", url=f"http://{settings.host}:{settings.port}")
        try:
            yield
        finally:
            await app.state.frames.close()
            await app.state.runs.close()
            await app.state.rooms.close()
            await app.state.connections.close()
            log.info("stopped")

    handlers: list[ControllerRouterHandler] = [
        health,
        ModelController,
        DocumentController,
        document_socket,
        ModelRunsController,
        RunController,
        frames_socket,
        compute,
    ]
    handlers.append(LibraryController)
    handlers.append(DatasetController)
    handlers.append(_web_app(settings))
    return Litestar(
        route_handlers=handlers,
        lifespan=[connections],
        openapi_config=OpenAPIConfig(
            title="SPIKE-X",
            version=__version__,
            description="Build, simulate, train and watch neural networks together.",
            path="/api/docs",
            # Swagger UI's files come with the web build (web/vite.config.ts), not a CDN.
            render_plugins=[
                SwaggerRenderPlugin(
                    js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
                    css_url=f"{SWAGGER_UI}/swagger-ui.css",
                    standalone_preset_js_url=f"{SWAGGER_UI}/swagger-ui-standalone-preset.js",
                )
            ],
        ),
        request_max_body_size=settings.max_request_bytes,
        logging_config=None,  # server.logging configures the handlers
    )


def _web_app(settings: Settings) -> ControllerRouterHandler:
    """The built web app at ``/``, or a page that says how to build it."""
    if (settings.web_dist / "index.html").is_file():
        return create_static_files_router(
            path="/",
            directories=[settings.web_dist],
            html_mode=True,
            name="web",
            include_in_schema=False,
        )

    @get("/", include_in_schema=False, media_type=MediaType.TEXT)
    async def web_not_built() -> Response[str]:
        return Response(
            f"The SPIKE-X web app is not built ({settings.web_dist} has no index.html).\n"
            "`just run` builds it; the API is up at /api/docs.\n",
            status_code=503,
        )

    return web_not_built
