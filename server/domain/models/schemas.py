"""Wire types of the models API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from collab.templates import TemplateName

ModelKind = Literal["snn", "ann"]
ModelName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ModelCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: ModelName
    kind: ModelKind | msgspec.UnsetType = msgspec.UNSET
    """The template's kind when there is a template, ``snn`` otherwise."""
    template: TemplateName | None = None
    """What the model's document starts as; none: an empty model of its kind."""


class ModelRead(msgspec.Struct, frozen=True):
    id: UUID
    name: str
    kind: ModelKind
    owner: UUID | None
    created_at: datetime
    updated_at: datetime
