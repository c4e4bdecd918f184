"""Wire types of the documents API (the change operations are ``collab.changes``'s)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from server.config import DocumentRole
from simcore.spec import ModelSpec, SpecError


class DocumentRead(msgspec.Struct, frozen=True):
    """A document as it is now: its spec, or (spec null) what is wrong with it."""

    spec: ModelSpec | None
    errors: list[SpecError]


class VersionCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class VersionRead(msgspec.Struct, frozen=True):
    id: UUID
    model: UUID
    name: str
    size: int
    """The version's state, in bytes."""
    created_at: datetime


class ShareCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    role: DocumentRole
    expires_in_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    """How long the token lasts; none: ``SPIKEX_DOC_SHARE_EXPIRY_S``."""


class ShareRead(msgspec.Struct, frozen=True):
    token: str
    """For ``/ws/docs/{model_id}?token=...``."""
    model: UUID
    role: DocumentRole
    expires_at: datetime
