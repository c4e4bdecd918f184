"""Litestar dependencies that turn ``Authorization: Bearer <key>`` into the request's user."""

from __future__ import annotations

from litestar import Request
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from server.auth.service import AuthUser, resolve


async def authenticated(request: Request) -> AuthUser:
    """The signed-in user; 401 without a key or with one that is not known."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise NotAuthorizedException(
            "sign in: send an API key as 'Authorization: Bearer <key>' "
            "(`spikex users create NAME` makes one)"
        )
    user = await resolve(key.strip())
    if user is None:
        raise NotAuthorizedException("this API key is not valid")
    return user


async def reviewer(request: Request) -> AuthUser:
    """A signed-in reviewer; 403 for anyone else who is signed in."""
    user = await authenticated(request)
    if not user.reviewer:
        raise PermissionDeniedException("only reviewers may do this")
    return user
