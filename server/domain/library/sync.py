"""Sync of the repository's ``library/`` folder: metadata to PostgreSQL, files to object
storage, versioned; unchanged versions are not rewritten and components that left the folder
are marked withdrawn (never deleted). Run at start-up and by ``spikex library sync``.

What to do is decided by ``library.sync.plan``; this module carries it out, files first, so a
row never points at files that are not there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import structlog

from library.checks import EngineRunner, validate
from library.loader import load_library
from library.sync import Stored, SyncPlan, key, plan
from server.config import Settings
from server.connections import Connections
from server.db.tables import LibraryComponent
from server.domain.library.schemas import SyncReport
from server.domain.library.service import put_files, row_fields
from server.objects import ObjectStore

log = structlog.get_logger(__name__)

SYNC_LOCK = 0x5350_4C49_4253
"""Advisory lock id: any constant, the same in every SPIKE-X process."""


def _label(kind: str, name: str, version: str) -> str:
    return f"{kind}/{name} {version}"


async def stored() -> list[Stored]:
    rows = await LibraryComponent.select(
        LibraryComponent.kind,
        LibraryComponent.name,
        LibraryComponent.version,
        LibraryComponent.content_hash,
        LibraryComponent.withdrawn,
        LibraryComponent.source,
    ).where(LibraryComponent.status != "rejected")
    return [Stored(**row) for row in rows]


async def sync_library(
    objects: ObjectStore, root: Path, *, engine: EngineRunner | None = None, check: bool = False
) -> SyncReport:
    """Brings the database and object storage in line with the folder ``root``.

    Every component is loaded and checked statically (a broken one stops the sync before
    anything is written); with ``check``, each reference implementation also runs and is
    compared with ``engine``. Progress is logged per component written."""
    components = load_library(root)
    log.info("library sync: loaded", components=len(components), folder=str(root))
    if check:
        for component in components:
            validate(component, engine)
        log.info("library sync: checked", components=len(components))
    # One sync at a time across server processes; rows change in one transaction.
    async with LibraryComponent._meta.db.transaction():
        await LibraryComponent.raw("SELECT pg_advisory_xact_lock({})", SYNC_LOCK)
        todo = plan(components, await stored())
        await _apply(objects, todo)
    return _report(todo)


async def _apply(objects: ObjectStore, todo: SyncPlan) -> None:
    total = len(todo.writes)
    for done, component in enumerate(todo.writes, start=1):
        prefix = await put_files(objects, component)
        fields = row_fields(component, prefix)
        kind, name, version = key(component)
        where = (
            (LibraryComponent.kind == kind)
            & (LibraryComponent.name == name)
            & (LibraryComponent.version == version)
            & (LibraryComponent.source == "repository")
        )
        if component in todo.create:
            await LibraryComponent(
                **fields, status="approved", withdrawn=False, source="repository"
            ).save()
        else:
            columns = {getattr(LibraryComponent, column): value for column, value in fields.items()}
            await LibraryComponent.update({**columns, LibraryComponent.withdrawn: False}).where(
                where
            )
        if component in todo.changed:
            log.warning(
                "library sync: content changed without a new version (bump the version)",
                component=_label(kind, name, version),
            )
        log.info("library sync: wrote", component=_label(kind, name, version), done=done, of=total)
    for row in todo.withdraw:
        await LibraryComponent.update(
            {LibraryComponent.withdrawn: True, LibraryComponent.updated_at: datetime.now(UTC)}
        ).where(
            (LibraryComponent.kind == row.kind)
            & (LibraryComponent.name == row.name)
            & (LibraryComponent.version == row.version)
            & (LibraryComponent.source == "repository")
        )
        log.info("library sync: withdrawn", component=_label(row.kind, row.name, row.version))
    for component in todo.conflicts:
        log.warning(
            "library sync: a contribution holds this version; skipped",
            component=_label(*key(component)),
        )


def _report(todo: SyncPlan) -> SyncReport:
    report = SyncReport(
        created=[_label(*key(component)) for component in todo.create],
        changed=[_label(*key(component)) for component in todo.changed],
        restored=[_label(*key(component)) for component in todo.restore],
        unchanged=len(todo.unchanged),
        withdrawn=[_label(row.kind, row.name, row.version) for row in todo.withdraw],
        conflicts=[_label(*key(component)) for component in todo.conflicts],
    )
    log.info(
        "library sync: done",
        created=len(report.created),
        changed=len(report.changed),
        restored=len(report.restored),
        unchanged=report.unchanged,
        withdrawn=len(report.withdrawn),
    )
    return report


async def sync_with(settings: Settings, *, check: bool = False) -> SyncReport:
    """Opens the connections, syncs ``settings.library_dir``, closes them."""
    connections = await Connections.open(settings)
    try:
        engine: EngineRunner | None = None
        if check:
            from simcore.agreement import run as engine
        return await sync_library(
            connections.objects, settings.library_dir, engine=engine, check=check
        )
    finally:
        await connections.close()
