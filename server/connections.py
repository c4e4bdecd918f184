"""The server's connections to PostgreSQL, Valkey and object storage, and their probes.

Start-up opens all three (failing fast with one line naming the setting at fault), and
``/api/health`` probes them on every call; a probe never raises, it reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import msgspec
import structlog
import valkey.asyncio as valkey_asyncio
from piccolo.engine.postgres import PostgresEngine

from server.config import Settings
from server.db.piccolo_app import APP_CONFIG
from server.objects import ObjectStore

log = structlog.get_logger(__name__)

# Any constant works; it only has to be the same for every SPIKE-X process on the database.
_MIGRATION_LOCK = 0x5350_494B_4558

HEALTH_KEY = ".spikex/health"


class StartupError(RuntimeError):
    """A configured service cannot be used; the message is one line naming the setting."""


class ServiceHealth(msgspec.Struct, frozen=True):
    name: str
    setting: str
    url: str
    embedded: bool
    up: bool
    latency_ms: float | None
    error: str | None


def redact(url: str) -> str:
    """The URL without its password, fit for logs and health pages."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@dataclass
class Connections:
    settings: Settings
    embedded: frozenset[str]
    """Names of the services this process started itself (for the health page)."""
    database: PostgresEngine
    valkey: valkey_asyncio.Valkey
    objects: ObjectStore

    @classmethod
    async def open(cls, settings: Settings, embedded: frozenset[str] = frozenset()) -> Connections:
        """Connect to every service, or raise ``StartupError`` naming the one that failed."""
        timeout = settings.connect_timeout_s
        assert settings.database_url and settings.valkey_url, "resolved before start-up"
        database = PostgresEngine(config={"dsn": settings.database_url})
        await _connect(
            "DATABASE_URL",
            settings.database_url,
            timeout,
            lambda: database.start_connection_pool(
                min_size=1,
                max_size=10,
                timeout=timeout,
                command_timeout=60,
                reset=_keep_session,
            ),
        )
        client = valkey_asyncio.from_url(
            settings.valkey_url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            health_check_interval=30,
        )
        objects: ObjectStore | None = None
        try:
            await _connect("VALKEY_URL", settings.valkey_url, timeout, client.ping)
            try:
                objects = ObjectStore(
                    settings.effective_object_store_url,
                    timeout_s=timeout,
                    allow_http=settings.object_store_allow_http,
                )
            except ValueError as error:
                raise StartupError(str(error)) from None
            await _connect(
                "OBJECT_STORE_URL",
                settings.effective_object_store_url,
                timeout,
                lambda: objects.put(HEALTH_KEY, b"ok"),
            )
        except BaseException:
            await database.close_connection_pool()
            await client.aclose()
            raise
        for table in APP_CONFIG.table_classes:
            table._meta.db = database
        return cls(settings, embedded, database, client, objects)

    @property
    def pool(self) -> asyncpg.Pool:
        return self.database.pool

    async def close(self) -> None:
        await self.valkey.aclose()
        await self.database.close_connection_pool()

    async def health(self) -> list[ServiceHealth]:
        timeout = self.settings.health_timeout_s
        assert self.settings.database_url and self.settings.valkey_url
        return list(
            await asyncio.gather(
                self._probe(
                    "postgres",
                    "DATABASE_URL",
                    self.settings.database_url,
                    timeout,
                    lambda: self.pool.fetchval("SELECT 1"),
                ),
                self._probe(
                    "valkey", "VALKEY_URL", self.settings.valkey_url, timeout, self.valkey.ping
                ),
                self._probe(
                    "objects",
                    "OBJECT_STORE_URL",
                    self.objects.url,
                    timeout,
                    lambda: self.objects.get(HEALTH_KEY),
                ),
            )
        )

    async def _probe(
        self,
        name: str,
        setting: str,
        url: str,
        timeout_s: float,
        check: Callable[[], Awaitable[object]],
    ) -> ServiceHealth:
        started = time.perf_counter()
        error: str | None = None
        # Two tries: after a service restarts, the first use of a pooled connection is what
        # discovers that it is dead (and replaces it).
        for _ in range(2):
            try:
                await asyncio.wait_for(check(), timeout_s)
            except Exception as failure:
                error = _describe(failure)
            else:
                error = None
                break
        latency = None if error else round((time.perf_counter() - started) * 1000, 2)
        return ServiceHealth(
            name, setting, redact(url), name in self.embedded, error is None, latency, error
        )


async def _connect(
    setting: str, url: str, timeout_s: float, attempt: Callable[[], Awaitable[object]]
) -> object:
    try:
        return await asyncio.wait_for(attempt(), timeout_s)
    except Exception as error:
        raise StartupError(
            f"{setting} ({redact(url)}): cannot connect: {_describe(error)}"
        ) from None


async def _keep_session(connection: asyncpg.Connection) -> None:
    """A pooled connection goes back to the pool as it is: asyncpg's default reset is one
    more round trip to PostgreSQL (UNLISTEN, RESET ALL, unlock all advisory locks) after every
    query, on the path of every edit, and nothing here leaves such session state on a pooled
    connection (the migration lock has a connection of its own). An open transaction is
    still rolled back (asyncpg does that before calling this)."""


async def migrate(database_url: str) -> None:
    """Apply the piccolo migrations not applied yet; safe to run from many processes at once."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    connection = await asyncpg.connect(database_url)
    try:
        # Session-level advisory lock: a second process waits here, then finds nothing to do.
        await connection.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        output = io.StringIO()
        with contextlib.redirect_stdout(output):  # piccolo prints progress for terminals
            result = await run_forwards(app_name="all")
        log.debug("migrations", output=output.getvalue())
        if not result.success:
            raise StartupError(f"DATABASE_URL: migrations failed: {result.message}")
    finally:
        await connection.close()
