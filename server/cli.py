"""The ``spikex`` command: ``run`` serves SPIKE-X, ``services`` starts the embedded services,
``library sync`` syncs the component library, ``users create`` makes a user and an API key.

Whatever goes wrong at start-up is said in one line on stderr, with a non-zero exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import fcntl
import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from server.config import Settings, SettingsError, load_settings
from server.embedded import EmbeddedPostgres, EmbeddedService, EmbeddedValkey, ServiceError
from server.logging import configure_logging

if TYPE_CHECKING:
    import uvicorn

log = structlog.get_logger("spikex")


class CommandError(RuntimeError):
    """Stops the command with its message as the one line the user sees."""


def _stop_requested(signum: int, frame: object) -> None:
    # SIGTERM behaves like Ctrl-C: unwind, so every service we started is stopped cleanly.
    # (uvicorn handles the first signal itself, then re-raises it here once it has drained.)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="spikex", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="serve SPIKE-X (starting embedded services as needed)")
    commands.add_parser("services", help="start the embedded services alone; print their URLs")
    library = commands.add_parser("library", help="the component library").add_subparsers(
        dest="action", required=True
    )
    sync = library.add_parser("sync", help="sync library/ to the database and object storage")
    sync.add_argument(
        "--check", action="store_true", help="also run every reference against the engine"
    )
    users = commands.add_parser("users", help="users and their API keys").add_subparsers(
        dest="action", required=True
    )
    create = users.add_parser("create", help="make a user; prints a new API key once")
    create.add_argument("name")
    create.add_argument("--email", help="the user's e-mail (default: the name)")
    create.add_argument(
        "--reviewer", action="store_true", help="may approve or reject contributions"
    )
    arguments = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_requested)
    try:
        settings = load_settings()
        configure_logging(settings)
        if arguments.command == "run":
            run(settings)
        elif arguments.command == "library":
            library_sync(settings, check=arguments.check)
        elif arguments.command == "users":
            create_user(settings, arguments.name, arguments.email, arguments.reviewer)
        else:
            services(settings)
    except (CommandError, SettingsError, ServiceError) as error:
        print(f"spikex: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        log.info("stopped on request")


def run(settings: Settings) -> None:
    listener = _listen(settings)
    with _embedded_services(settings) as (settings, embedded):
        _prepare(settings)
        _serve(settings, embedded, listener)


def services(settings: Settings) -> None:
    with _embedded_services(settings, everything=True) as (settings, _):
        for variable, value in (
            ("DATABASE_URL", settings.database_url),
            ("VALKEY_URL", settings.valkey_url),
            ("OBJECT_STORE_URL", settings.effective_object_store_url),
        ):
            print(f"{variable}={value}", flush=True)
        threading.Event().wait()  # until Ctrl-C or SIGTERM


def _listen(settings: Settings) -> socket.socket:
    """Bind the port first, so a port in use is reported before anything else starts."""
    listener = socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((settings.host, settings.port))
    except OSError as error:
        listener.close()
        reason = (
            "the port is already in use (stop the other program or set SPIKEX_PORT)"
            if error.errno == errno.EADDRINUSE
            else error.strerror
        )
        raise CommandError(f"cannot serve on {settings.host}:{settings.port}: {reason}") from None
    listener.listen(2048)
    return listener


@contextmanager
def _embedded_services(
    settings: Settings, everything: bool = False
) -> Iterator[tuple[Settings, frozenset[str]]]:
    """Start the services whose URL is unset (all of them with ``everything``), keep them
    alive while the block runs and stop them after it. Yields the settings with their URLs.
    """
    wanted: list[EmbeddedService] = []
    if everything or not settings.database_url:
        wanted.append(EmbeddedPostgres(settings.data_dir / "postgres"))
    if everything or not settings.valkey_url:
        wanted.append(EmbeddedValkey(settings.data_dir / "valkey"))
    local_objects = everything or not settings.object_store_url
    if not wanted and not local_objects:
        yield settings, frozenset()
        return
    with _data_dir_lock(settings.data_dir):
        started: list[EmbeddedService] = []
        supervisor: _Supervisor | None = None
        try:
            for service in wanted:
                log.info("starting", service=service.name, data=str(service.data_dir))
                service.start()
                started.append(service)
            urls = {service.name: service.url for service in started}
            settings = msgspec.structs.replace(
                settings,
                database_url=urls.get("postgres", settings.database_url),
                valkey_url=urls.get("valkey", settings.valkey_url),
                object_store_url=settings.effective_object_store_url,
            )
            # Piccolo's configuration module and any worker we spawn read the environment.
            os.environ["DATABASE_URL"] = settings.database_url or ""
            os.environ["VALKEY_URL"] = settings.valkey_url or ""
            os.environ["OBJECT_STORE_URL"] = settings.object_store_url or ""
            _write_state(settings, started)
            supervisor = _Supervisor(
                started,
                settings.service_check_interval_s,
                on_restart=lambda: _write_state(settings, started),
            )
            supervisor.start()
            embedded = {service.name for service in started}
            if local_objects:
                embedded.add("objects")
            yield settings, frozenset(embedded)
        finally:
            if supervisor:
                supervisor.stop()
            for service in reversed(started):
                log.info("stopping", service=service.name)
                service.stop()
            (settings.data_dir / "services.json").unlink(missing_ok=True)


@contextmanager
def _data_dir_lock(data_dir: Path) -> Iterator[None]:
    """One SPIKE-X per data dir: a second one refuses instead of corrupting the data."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock_path = data_dir / "spikex.lock"
    handle = lock_path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise CommandError(
            f"data dir {data_dir} is in use by another SPIKE-X (pid {holder}); stop it, "
            "or set SPIKEX_DATA_DIR to another folder"
        ) from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield
    finally:
        handle.truncate(0)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _write_state(settings: Settings, started: list[EmbeddedService]) -> None:
    """``services.json`` in the data dir: what runs where, for people and for tools."""
    state = {
        "pid": os.getpid(),
        "services": {service.name: {"url": service.url, "pid": service.pid} for service in started},
    }
    (settings.data_dir / "services.json").write_text(json.dumps(state, indent=2))


class _Supervisor(threading.Thread):
    """Restarts an embedded service that died, on the same port and data."""

    def __init__(
        self, services: list[EmbeddedService], interval_s: float, on_restart: Callable[[], None]
    ):
        super().__init__(name="spikex-supervisor", daemon=True)
        self.services = services
        self.interval_s = interval_s
        self.on_restart = on_restart
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self.interval_s):
            for service in self.services:
                if service.alive() or self._stopping.is_set():
                    continue
                code = service.process.returncode if service.process else None
                log.warning("service died; restarting", service=service.name, exit_code=code)
                try:
                    service.start()
                except ServiceError as error:
                    log.error("restart failed; will retry", service=service.name, error=str(error))
                else:
                    log.info("service restarted", service=service.name, pid=service.pid)
                    self.on_restart()

    def stop(self) -> None:
        self._stopping.set()
        self.join()


def _prepare(settings: Settings) -> None:
    """Check every service and apply the migrations before accepting a request."""
    from library.loader import ComponentError
    from server.connections import Connections, StartupError, migrate
    from server.domain.library.sync import sync_with

    async def check() -> None:
        connections = await Connections.open(settings)
        await connections.close()
        assert settings.database_url
        await migrate(settings.database_url)
        if settings.library_sync:
            await sync_with(settings)

    try:
        asyncio.run(check())
    except StartupError as error:
        raise CommandError(str(error)) from None
    except ComponentError as error:
        raise CommandError(f"the component library: {error}") from None


@contextmanager
def _services_for_command(settings: Settings) -> Iterator[Settings]:
    """The services a one-off command uses: a running SPIKE-X's (from its services.json),
    else embedded ones started for the command, with the migrations applied."""
    state = settings.data_dir / "services.json"
    if state.is_file():
        running = json.loads(state.read_text()).get("services", {})
        settings = msgspec.structs.replace(
            settings,
            database_url=settings.database_url or running.get("postgres", {}).get("url"),
            valkey_url=settings.valkey_url or running.get("valkey", {}).get("url"),
            object_store_url=settings.effective_object_store_url,
        )
    if settings.database_url and settings.valkey_url:
        yield settings
        return
    with _embedded_services(settings) as (started, _):
        yield started


def library_sync(settings: Settings, *, check: bool) -> None:
    from library.loader import ComponentError
    from server.connections import StartupError, migrate
    from server.domain.library.sync import sync_with

    with _services_for_command(settings) as settings:
        assert settings.database_url
        try:
            asyncio.run(migrate(settings.database_url))
            report = asyncio.run(sync_with(settings, check=check))
        except StartupError as error:
            raise CommandError(str(error)) from None
        except ComponentError as error:
            raise CommandError(str(error)) from None
    print(json.dumps(msgspec.to_builtins(report), indent=2), flush=True)


def create_user(settings: Settings, name: str, email: str | None, reviewer: bool) -> None:
    from server.auth.service import UserExists
    from server.auth.service import create_user as create
    from server.connections import Connections, StartupError, migrate

    async def make() -> str:
        assert settings.database_url
        await migrate(settings.database_url)
        connections = await Connections.open(settings)
        try:
            _, key = await create(name, email, reviewer)
        finally:
            await connections.close()
        return key

    with _services_for_command(settings) as settings:
        try:
            key = asyncio.run(make())
        except (StartupError, UserExists) as error:
            raise CommandError(str(error)) from None
    role = "reviewer" if reviewer else "user"
    print(f"created {role} {name}; API key (shown once, keep it secret):", file=sys.stderr)
    print(key, flush=True)


def _serve(settings: Settings, embedded: frozenset[str], listener: socket.socket) -> None:
    import uvicorn

    from server.app import create_app

    server = uvicorn.Server(uvicorn_config(create_app(settings, embedded), settings))
    server.run(sockets=[listener])
    if not server.started:
        raise CommandError("the server failed to start; see the log above")


def uvicorn_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """How SPIKE-X's ASGI app is served (``overrides``: a test's port)."""
    import uvicorn

    options: dict[str, Any] = {
        "log_config": None,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
        "proxy_headers": True,
        # websockets' Sans-I/O protocol: a send is one synchronous write (the older one awaits
        # through several layers), and fan-out to every viewer is made of sends; the frames
        # and documents sockets write to it directly (server.websocket_direct).
        "ws": "websockets-sansio",
        # No permessage-deflate: every copy of a broadcast (a Yjs update, a frame of packed
        # arrays) would be compressed again by each peer's own compressor, a cost that grows
        # with the viewers for little gain on binary messages this small.
        "ws_per_message_deflate": False,
        # The document socket's message limit, enforced before a message is buffered.
        "ws_max_size": settings.doc_max_update_bytes,
    }
    return uvicorn.Config(app, **(options | overrides))
