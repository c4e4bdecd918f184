"""Queries and rules of the component library: search, pages, the engine's catalog,
contributions and their review. The sync of the repository's folder is in ``sync``."""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import resource
import sys
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import structlog

from library.loader import ComponentError, LoadedComponent, load_archive, load_files
from library.schema import Definition, version_key
from server.auth.service import AuthUser
from server.db.tables import LibraryComponent
from server.domain.library.schemas import (
    ComponentPage,
    ComponentSummary,
    ContributionRead,
    MathBlock,
    Review,
    VersionInfo,
)
from server.objects import ObjectNotFound, ObjectStore
from simcore._components import Catalog

log = structlog.get_logger(__name__)

PREFIX = "library"


class ComponentNotFound(LookupError):
    pass


class ContributionNotFound(LookupError):
    pass


class VersionExists(ValueError):
    """The (kind, name, version) is taken: a new version number is needed."""


class NotPending(ValueError):
    """The contribution was already reviewed."""


class Invalid(ValueError):
    """A contributed component that does not validate: the file and field at fault."""

    def __init__(self, error: ComponentError) -> None:
        super().__init__(str(error))
        self.error = error


# ---------------------------------------------------------------- storing


def object_prefix(component: LoadedComponent) -> str:
    """Content-addressed: a version whose files change gets new keys, the old ones stay."""
    definition = component.definition
    return (
        f"{PREFIX}/{definition.kind}/{definition.name}/{definition.version}/"
        f"{component.content_hash[:16]}"
    )


async def put_files(objects: ObjectStore, component: LoadedComponent) -> str:
    prefix = object_prefix(component)
    await asyncio.gather(
        *(objects.put(f"{prefix}/{name}", data) for name, data in component.files.items())
    )
    return prefix


def row_fields(component: LoadedComponent, prefix: str) -> dict[str, Any]:
    """The columns that describe ``component``'s content."""
    definition = component.definition
    return {
        "kind": definition.kind,
        "name": definition.name,
        "version": definition.version,
        "title": definition.title,
        "summary": definition.summary,
        "tags": list(definition.tags),
        "description": component.text("description.md"),
        "math": component.text("math.tex"),
        "definition": json.dumps(msgspec.to_builtins(definition)),
        "files": json.dumps(sorted(component.files)),
        "content_hash": component.content_hash,
        "object_prefix": prefix,
        "updated_at": datetime.now(UTC),
    }


# ---------------------------------------------------------------- reading


async def search(q: str | None, kind: str | None, tags: list[str]) -> list[ComponentSummary]:
    """Approved, not withdrawn components (each at its newest version) matching the words
    of ``q`` in their names, title, summary, tags or description, best first."""
    query = (q or "").strip()
    rows = await LibraryComponent.raw(
        """
        WITH latest AS (
            SELECT DISTINCT ON (kind, name)
                kind, name, version, title, summary, tags, definition, search
            FROM library_components
            WHERE status = 'approved' AND NOT withdrawn
            ORDER BY kind, name, string_to_array(version, '.')::int[] DESC
        )
        SELECT kind, name, version, title, summary, tags, definition,
            CASE WHEN {} = '' THEN 0
                ELSE ts_rank(search, websearch_to_tsquery('english', {})) END AS rank
        FROM latest
        WHERE ({} = '' OR search @@ websearch_to_tsquery('english', {}))
            AND ({}::text IS NULL OR kind = {})
            AND tags @> {}::varchar[]
        ORDER BY rank DESC, kind, name
        """,
        query,
        query,
        query,
        query,
        kind,
        kind,
        tags,
    )
    return [_summary(row) for row in rows]


def _definition(row: Mapping[str, Any]) -> Definition:
    raw = row["definition"]
    return msgspec.convert(json.loads(raw) if isinstance(raw, str) else raw, Definition)


def _summary(row: Mapping[str, Any]) -> ComponentSummary:
    return ComponentSummary(
        row["kind"],
        row["name"],
        row["version"],
        row["title"],
        row["summary"],
        list(row["tags"]),
        _definition(row).reference_only,
    )


async def page(kind: str, name: str, version: str | None = None) -> ComponentPage:
    """A component's page at ``version`` (None: its newest approved version). Unapproved
    contributions are not shown here."""
    rows = await LibraryComponent.select().where(
        (LibraryComponent.kind == kind)
        & (LibraryComponent.name == name)
        & (LibraryComponent.status == "approved")
    )
    usable = sorted(
        (row for row in rows if not row["withdrawn"]),
        key=lambda row: version_key(row["version"]),
        reverse=True,
    )
    latest = usable[0]["version"] if usable else None
    wanted = version or latest
    row = next((row for row in rows if row["version"] == wanted), None)
    if row is None:
        what = f"{kind} {name!r}" + (f" version {version}" if version else "")
        raise ComponentNotFound(f"the library has no approved {what}")
    files = row["files"]
    return ComponentPage(
        kind=row["kind"],
        name=row["name"],
        version=row["version"],
        title=row["title"],
        summary=row["summary"],
        tags=list(row["tags"]),
        status=row["status"],
        withdrawn=row["withdrawn"],
        reference_only=_definition(row).reference_only,
        description=row["description"],
        math=math_blocks(row["math"]),
        math_source=row["math"],
        definition=msgspec.to_builtins(_definition(row)),
        files=json.loads(files) if isinstance(files, str) else list(files),
        content_hash=row["content_hash"],
        versions=[
            VersionInfo(
                item["version"],
                item["status"],
                item["withdrawn"],
                item["content_hash"],
                item["created_at"],
            )
            for item in usable
        ],
        latest=latest,
    )


def math_blocks(tex: str) -> list[MathBlock]:
    """``math.tex`` split into its equations (blocks separated by blank lines)."""
    blocks = [block.strip() for block in tex.replace("\r\n", "\n").split("\n\n")]
    return [MathBlock(block, f"$$\n{block}\n$$") for block in blocks if block]


async def file(objects: ObjectStore, kind: str, name: str, version: str, filename: str) -> bytes:
    row = (
        await LibraryComponent.select(LibraryComponent.object_prefix, LibraryComponent.files)
        .where(
            (LibraryComponent.kind == kind)
            & (LibraryComponent.name == name)
            & (LibraryComponent.version == version)
            & (LibraryComponent.status == "approved")
        )
        .first()
    )
    files = [] if row is None else row["files"]
    files = json.loads(files) if isinstance(files, str) else files
    if row is None or filename not in files:
        raise ComponentNotFound(f"{kind}/{name} {version} has no file {filename!r}")
    try:
        return await objects.get(f"{row['object_prefix']}/{filename}")
    except ObjectNotFound:
        raise ComponentNotFound(f"{kind}/{name} {version}: {filename} is missing") from None


async def catalog() -> Catalog:
    """The engine's view of the library in the database: every approved version, the
    withdrawn ones marked (a model pinning one is refused with a clear message)."""
    rows = await LibraryComponent.select(
        LibraryComponent.name,
        LibraryComponent.version,
        LibraryComponent.definition,
        LibraryComponent.withdrawn,
    ).where(LibraryComponent.status == "approved")
    return Catalog(
        [_definition(row) for row in rows],
        [(row["name"], row["version"]) for row in rows if row["withdrawn"]],
    )


# ---------------------------------------------------------------- contributions


def read_upload(files: Mapping[str, bytes], max_bytes: int) -> tuple[LoadedComponent, bytes]:
    """The contributed component (a zip of its folder, or its files one by one), checked
    statically, and the zip the full check runs on."""
    if sum(len(data) for data in files.values()) > max_bytes:
        raise Invalid(ComponentError("upload", "", f"is larger than {max_bytes} bytes"))
    try:
        if len(files) == 1 and next(iter(files)).endswith(".zip"):
            data = next(iter(files.values()))
            return load_archive(data, "upload"), data
        component = load_files(files, "upload")
    except ComponentError as error:
        raise Invalid(error) from None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return component, buffer.getvalue()


async def run_checks(archive: bytes, timeout_s: float) -> None:
    """Runs the reference implementation (and the engine comparison) of an uploaded
    component in a separate Python process, so contributed code never runs in the server's
    (and a hang or crash only ends that process), without the server's environment (no
    credentials) and with a CPU-time limit. It is not a sandbox: the process can read what
    the server's user can. Raises ``Invalid``."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if key in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")
    }
    cpu_s = max(1, math.ceil(timeout_s))

    def limits() -> None:  # in the child, before it runs anything
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "library.checks",
        "upload",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environ,
        preexec_fn=limits,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(archive), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise Invalid(
            ComponentError("upload", "check", f"the checks did not finish within {timeout_s:g} s")
        ) from None
    try:
        result = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        log.warning("library check crashed", stderr=err.decode(errors="replace")[-2000:])
        raise Invalid(ComponentError("upload", "check", "the checks crashed")) from None
    if not result["ok"]:
        raise Invalid(ComponentError(result["file"], result["field"], result["message"]))


async def submit(
    objects: ObjectStore,
    user: AuthUser,
    files: Mapping[str, bytes],
    *,
    max_bytes: int,
    timeout_s: float,
) -> ContributionRead:
    """A new component, or a new version of one, awaiting review."""
    component, archive = read_upload(files, max_bytes)
    definition = component.definition
    taken = await LibraryComponent.exists().where(
        (LibraryComponent.kind == definition.kind)
        & (LibraryComponent.name == definition.name)
        & (LibraryComponent.version == definition.version)
        & (LibraryComponent.status != "rejected")
    )
    if taken:
        raise VersionExists(
            f"{definition.kind} {definition.name} {definition.version} exists; "
            "give the contribution a new version"
        )
    await run_checks(archive, timeout_s)
    prefix = await put_files(objects, component)
    row = LibraryComponent(
        **row_fields(component, prefix),
        status="pending",
        withdrawn=False,
        source="contribution",
        submitted_by=user.id,
    )
    try:
        await row.save()
    except Exception:
        # Another submission of the same version won the race: leave no files behind.
        await asyncio.gather(*(objects.delete(f"{prefix}/{name}") for name in component.files))
        raise VersionExists(
            f"{definition.kind} {definition.name} {definition.version} exists"
        ) from None
    log.info(
        "library contribution",
        kind=definition.kind,
        name=definition.name,
        version=definition.version,
        user=str(user.id),
    )
    return await contribution(row.id)


async def contribution(contribution_id: UUID) -> ContributionRead:
    row = (
        await LibraryComponent.select()
        .where(
            (LibraryComponent.id == contribution_id) & (LibraryComponent.source == "contribution")
        )
        .first()
    )
    if row is None:
        raise ContributionNotFound(f"no contribution with id {contribution_id}")
    return _contribution(row)


def _contribution(row: Mapping[str, Any]) -> ContributionRead:
    return ContributionRead(
        row["id"],
        row["kind"],
        row["name"],
        row["version"],
        row["title"],
        row["status"],
        row["review_comment"],
        row["submitted_by"],
        row["reviewed_by"],
        row["content_hash"],
        row["created_at"],
    )


async def contributions(user: AuthUser, status: str | None) -> list[ContributionRead]:
    """A reviewer sees every contribution; anyone else their own."""
    query = LibraryComponent.select().where(LibraryComponent.source == "contribution")
    if not user.reviewer:
        query = query.where(LibraryComponent.submitted_by == user.id)
    if status:
        query = query.where(LibraryComponent.status == status)
    rows = await query.order_by(LibraryComponent.created_at, ascending=False)
    return [_contribution(row) for row in rows]


async def review(contribution_id: UUID, reviewer: AuthUser, data: Review) -> ContributionRead:
    current = await contribution(contribution_id)
    if current.status != "pending":
        raise NotPending(f"this contribution was already {current.status}")
    if data.decision == "reject" and not data.comment.strip():
        raise ValueError("say why the contribution is rejected (comment)")
    status = "approved" if data.decision == "approve" else "rejected"
    updated = (
        await LibraryComponent.update(
            {
                LibraryComponent.status: status,
                LibraryComponent.reviewed_by: reviewer.id,
                LibraryComponent.review_comment: data.comment.strip(),
                LibraryComponent.updated_at: datetime.now(UTC),
            }
        )
        .where((LibraryComponent.id == contribution_id) & (LibraryComponent.status == "pending"))
        .returning(LibraryComponent.id)
    )
    if not updated:
        raise NotPending("this contribution was reviewed meanwhile")
    log.info(
        "library review",
        kind=current.kind,
        name=current.name,
        version=current.version,
        decision=status,
        reviewer=str(reviewer.id),
    )
    return await contribution(contribution_id)
