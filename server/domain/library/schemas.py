"""Wire types of the component library API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

Status = Literal["pending", "approved", "rejected"]


class ComponentSummary(msgspec.Struct, frozen=True):
    """One search hit: a component at its newest approved version."""

    kind: str
    name: str
    version: str
    title: str
    summary: str
    tags: list[str]
    reference_only: bool


class VersionInfo(msgspec.Struct, frozen=True):
    version: str
    status: Status
    withdrawn: bool
    content_hash: str
    created_at: datetime


class MathBlock(msgspec.Struct, frozen=True):
    """One equation of ``math.tex``: the TeX source, and the same delimited for KaTeX's
    auto-render (``$$ ... $$``: display mode)."""

    tex: str
    delimited: str


class ComponentPage(msgspec.Struct, frozen=True):
    """What the component page shows: one version, with the versions that exist."""

    kind: str
    name: str
    version: str
    title: str
    summary: str
    tags: list[str]
    status: Status
    withdrawn: bool
    reference_only: bool
    description: str
    """description.md, Markdown for learners."""
    math: list[MathBlock]
    math_source: str
    """math.tex as it is."""
    definition: dict[str, Any]
    """component.toml: parameters (unit, default, range, description), states, references,
    implementation (the engine's source file or Torch symbol)."""
    files: list[str]
    """The component's files, each at ``.../versions/{version}/files/{name}``."""
    content_hash: str
    versions: list[VersionInfo]
    """Approved versions that are not withdrawn, newest first."""
    latest: str | None
    """The newest approved version (what a model without a pinned version uses)."""


class ContributionRead(msgspec.Struct, frozen=True):
    id: UUID
    kind: str
    name: str
    version: str
    title: str
    status: Status
    review_comment: str
    submitted_by: UUID | None
    reviewed_by: UUID | None
    content_hash: str
    created_at: datetime


class Review(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    decision: Literal["approve", "reject"]
    comment: Annotated[str, msgspec.Meta(max_length=10_000)] = ""
    """Why; required to reject."""


class ValidationProblem(msgspec.Struct, frozen=True):
    """Why a contribution was refused: the file and the field at fault."""

    file: str
    field: str
    message: str


class SyncReport(msgspec.Struct, frozen=True):
    created: list[str]
    changed: list[str]
    restored: list[str]
    unchanged: int
    withdrawn: list[str]
    conflicts: list[str]
