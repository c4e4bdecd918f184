"""Users and their API keys: create, resolve. Shared by the CLI and the request guards."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from uuid import UUID

import msgspec

from server.db.tables import ApiKey, User

KEY_PREFIX = "spx_"


class UserExists(ValueError):
    pass


class AuthUser(msgspec.Struct, frozen=True):
    """The signed-in user of a request."""

    id: UUID
    display_name: str
    email: str
    reviewer: bool


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_user(
    name: str, email: str | None = None, reviewer: bool = False
) -> tuple[AuthUser, str]:
    """A new user with one new API key; the key is returned here and never again."""
    email = email or name
    if await User.exists().where(User.email == email):
        raise UserExists(f"a user with the e-mail or name {email!r} exists")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    async with User._meta.db.transaction():
        user = User(email=email, display_name=name, reviewer=reviewer)
        await user.save()
        await ApiKey(user=user.id, key_hash=hash_key(key), prefix=key[:12]).save()
    return AuthUser(user.id, name, email, reviewer), key


async def resolve(key: str) -> AuthUser | None:
    """The user whose key this is, or None."""
    row = await (
        ApiKey.select(
            ApiKey.id,
            ApiKey.user.id,
            ApiKey.user.display_name,
            ApiKey.user.email,
            ApiKey.user.reviewer,
        )
        .where(ApiKey.key_hash == hash_key(key))
        .first()
    )
    if row is None:
        return None
    await ApiKey.update({ApiKey.last_used_at: datetime.now(UTC)}).where(ApiKey.id == row["id"])
    return AuthUser(
        row["user.id"], row["user.display_name"], row["user.email"], row["user.reviewer"]
    )
