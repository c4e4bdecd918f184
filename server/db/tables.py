"""The relational tables (piccolo). Model *content* is a CRDT document, never a row here."""

from __future__ import annotations

from piccolo.columns import UUID, BigSerial, Bytea, ForeignKey, OnDelete, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class User(Table, tablename="users"):
    """Someone who owns models; accounts and sign-in build on this row."""

    id = UUID(primary_key=True)
    email = Varchar(length=320, unique=True)
    display_name = Varchar(length=200)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


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
