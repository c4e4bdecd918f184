"""Share tokens: who a document connection is, until accounts exist.

A token is ``<payload>.<signature>``, both base64url: the payload a ``ShareGrant`` (msgpack),
the signature its HMAC-SHA256 under the server's secret. The role it grants is resolved once,
when the websocket connects.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import msgspec

from collab.protocol import Close, Refused
from collab.room import EDIT, Access
from server.config import DocumentRole, Settings

ACCESS: dict[DocumentRole, Access] = {
    "editor": EDIT,
    "viewer": Access(write=False, awareness=True),
    "embed": Access(write=False, awareness=False),
}

_SECRET_FILE = "secret_key"


class ShareGrant(msgspec.Struct, frozen=True, array_like=True):
    model: UUID
    role: DocumentRole
    expires: int
    """Unix time, in seconds."""


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(ShareGrant).decode


class Sharing:
    def __init__(self, secret: bytes, default_role: DocumentRole, expiry_s: float):
        self._secret = secret
        self.default_role = default_role
        self.expiry_s = expiry_s

    @classmethod
    def from_settings(cls, settings: Settings) -> Sharing:
        secret = settings.secret_key or _kept_secret(settings.data_dir)
        return cls(secret.encode(), settings.doc_default_role, settings.doc_share_expiry_s)

    def mint(self, model: UUID, role: DocumentRole, expires_in_s: float | None) -> tuple[str, int]:
        """A token granting ``role`` on ``model``, and when it expires (Unix seconds)."""
        expires = int(time.time() + (expires_in_s or self.expiry_s))
        payload = _b64(_encode(ShareGrant(model, role, expires)))
        return f"{payload}.{_b64(self._sign(payload))}", expires

    def role(self, model: UUID, token: str | None) -> DocumentRole:
        """The role a connection to ``model`` has; raises ``Refused`` for a bad token."""
        if token is None:
            return self.default_role
        payload, dot, signature = token.partition(".")
        try:
            signed = _unb64(signature)
            grant = _decode(_unb64(payload))
        except (ValueError, binascii.Error, msgspec.DecodeError):
            raise Refused(Close.BAD_TOKEN, "the share token is malformed") from None
        if not dot or not signed:
            raise Refused(Close.BAD_TOKEN, "the share token is malformed")
        if not hmac.compare_digest(signed, self._sign(payload)):
            raise Refused(Close.BAD_TOKEN, "the share token is not signed by this server")
        if grant.expires <= time.time():
            when = datetime.fromtimestamp(grant.expires, UTC).isoformat(timespec="seconds")
            raise Refused(Close.BAD_TOKEN, f"the share token expired at {when}")
        if grant.model != model:
            raise Refused(Close.FORBIDDEN, "the share token is for another model")
        return grant.role

    def _sign(self, payload: str) -> bytes:
        return hmac.digest(self._secret, payload.encode(), hashlib.sha256)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _kept_secret(data_dir: Path) -> str:
    """Without ``SPIKEX_SECRET_KEY``: a random secret kept in the data dir, so tokens
    outlive a restart (processes that share documents need the same secret: set it)."""
    path = data_dir / _SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32))
    return path.read_text().strip()
