"""The relational tables (piccolo). Model *content* is a CRDT document, never a row here."""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    UUID,
    Array,
    BigInt,
    BigSerial,
    Boolean,
    Bytea,
    DoublePrecision,
    ForeignKey,
    Integer,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class User(Table, tablename="users"):
    """Someone who owns models; accounts and sign-in build on this row."""

    id = UUID(primary_key=True)
    email = Varchar(length=320, unique=True)
    display_name = Varchar(length=200)
    reviewer = Boolean(default=False)
    """May approve or reject contributions to the component library."""
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class ApiKey(Table, tablename="api_keys"):
    """A key a script (or a person) signs in with; only its SHA-256 is kept."""

    id = UUID(primary_key=True)
    user = ForeignKey(User, null=False, on_delete=OnDelete.cascade, index=True)
    key_hash = Varchar(length=64, unique=True)
    prefix = Varchar(length=16)
    """The key's first characters, to tell keys apart in a list."""
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)


class Model(Table, tablename="models"):
    """A neural network model; its content lives in its collaborative document."""

    id = UUID(primary_key=True)
    name = Varchar(length=200)
    kind = Varchar(length=8)
    # Null until accounts exist: models made on a local, single-user install have no owner.
    owner = ForeignKey(User, null=True, on_delete=OnDelete.set_null, index=True)
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    updated_at = Timestamptz(default=TimestamptzNow())


class DocumentUpdate(Table, tablename="document_updates"):
    """One Yjs update of a model's document, exactly as Yjs encoded it: the log that follows
    the document's snapshot, appended before the update is sent to anyone."""

    id = BigSerial(primary_key=True)
    model = ForeignKey(Model, null=False, on_delete=OnDelete.cascade, index=True)
    data = Bytea()
    created_at = Timestamptz(default=TimestamptzNow())


class DocumentSnapshot(Table, tablename="document_snapshots"):
    """Where a model's compacted document state is (an object in object storage)."""

    id = UUID(primary_key=True)
    model = ForeignKey(Model, null=False, on_delete=OnDelete.cascade, unique=True)
    object_key = Varchar(length=300)
    created_at = Timestamptz(default=TimestamptzNow())


class DocumentVersion(Table, tablename="document_versions"):
    """A named version of a model's document: its state (Yjs binary) kept in object storage,
    apart from the snapshots compaction replaces."""

    id = UUID(primary_key=True)
    model = ForeignKey(Model, null=False, on_delete=OnDelete.cascade, index=True)
    name = Varchar(length=200)
    object_key = Varchar(length=300)
    size = Integer()
    created_at = Timestamptz(default=TimestamptzNow(), index=True)


class Run(Table, tablename="runs"):
    """A simulation or a training of a model, with the spec it was frozen with."""

    id = UUID(primary_key=True)
    model = ForeignKey(Model, null=False, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=16)
    state = Varchar(length=16, index=True)
    spec = JSONB()
    """The ``ModelSpec`` the run runs, frozen when it was asked for."""
    options = JSONB()
    """What was asked for besides the spec (``runs.schemas.RunOptions``)."""
    error = Text(null=True, default=None)
    worker = Varchar(length=300, null=True, default=None)
    """Where it runs: host and process id."""
    claimed_by = Varchar(length=300, null=True, default=None)
    """The server process that dispatched it (while queued), then its worker."""
    lease_until = Timestamptz(null=True, default=None)
    """Until when the claim holds unless renewed: a queued run whose lease ran out is
    dispatched again by any server; a running one whose lease and heartbeat both ran out is
    failed."""
    progress = DoublePrecision(default=0.0)
    step = BigInt(default=0)
    """Steps (simulation) or epochs (training) done."""
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    started_at = Timestamptz(null=True, default=None)
    ended_at = Timestamptz(null=True, default=None)


class RunMetric(Table, tablename="run_metrics"):
    """One value of one metric of a run at one step (or epoch)."""

    id = BigSerial(primary_key=True)
    run = ForeignKey(Run, null=False, on_delete=OnDelete.cascade, index=True)
    step = BigInt()
    name = Varchar(length=200)
    value = DoublePrecision()
    created_at = Timestamptz(default=TimestamptzNow())


class RunLog(Table, tablename="run_logs"):
    """One line of a run's log."""

    id = BigSerial(primary_key=True)
    run = ForeignKey(Run, null=False, on_delete=OnDelete.cascade, index=True)
    level = Varchar(length=16)
    message = Text()
    created_at = Timestamptz(default=TimestamptzNow())


class LibraryComponent(Table, tablename="library_components"):
    """One version of a library component: its metadata here, its files in object storage
    (under ``object_prefix``). Rows are never deleted: a component that leaves the library
    is marked withdrawn, so models that pin it get a clear refusal instead of a dangling
    reference. ``search`` (a tsvector kept by a trigger) is not declared: only SQL reads it."""

    id = UUID(primary_key=True)
    kind = Varchar(length=16, index=True)
    name = Varchar(length=64, index=True)
    version = Varchar(length=32)
    title = Varchar(length=200)
    summary = Text()
    tags = Array(Varchar(length=64))
    description = Text()
    """description.md, Markdown."""
    math = Text()
    """math.tex, TeX."""
    definition = JSONB()
    """component.toml, as JSON."""
    files = JSONB()
    """The names of the component's files (each at ``object_prefix/<name>``)."""
    content_hash = Varchar(length=64)
    object_prefix = Varchar(length=300)
    status = Varchar(length=16, index=True)
    """pending (a contribution awaiting review), approved or rejected."""
    withdrawn = Boolean(default=False)
    source = Varchar(length=16)
    """repository (synced from library/) or contribution."""
    submitted_by = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    reviewed_by = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    review_comment = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Dataset(Table, tablename="datasets"):
    """An uploaded dataset: what it holds here, its file(s) in object storage under
    ``object_key`` (a prefix; see ``server.domain.datasets.service``). Built-in datasets have
    no row."""

    id = UUID(primary_key=True)
    name = Varchar(length=200)
    format = Varchar(length=16)
    classes = Array(Text())
    shape = Array(Integer())
    """One sample's, as training reads it."""
    samples = BigInt()
    class_counts = Array(BigInt())
    size = BigInt()
    """The uploaded file(s), in bytes."""
    object_key = Varchar(length=300)
    preview = JSONB()
    """A few samples, small (``DatasetPreview``), made when it was uploaded."""
    # Null until accounts exist, as for models.
    owner = ForeignKey(User, null=True, on_delete=OnDelete.set_null, index=True)
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
