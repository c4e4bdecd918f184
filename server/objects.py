"""Object storage (snapshots, recordings, weights, datasets) behind one small interface.

``file:///path`` is obstore's local filesystem store (the embedded default);
``s3://bucket/prefix`` is any S3 API (AWS, MinIO, SeaweedFS), configured by the standard
``AWS_*`` environment variables (``AWS_ENDPOINT``, ``AWS_ACCESS_KEY_ID``,
...), which obstore reads itself; plain-HTTP endpoints need ``allow_http``.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import LocalStore, S3Store


class ObjectNotFound(KeyError):
    """No object is stored under that key."""


class ObjectStore:
    """Async put/get/delete/list of whole objects by key."""

    def __init__(self, url: str, *, timeout_s: float, allow_http: bool = False):
        self.url = url
        scheme = urlparse(url).scheme
        if scheme == "file":
            root = Path(urlparse(url).path)
            root.mkdir(parents=True, exist_ok=True)
            self._store: LocalStore | S3Store = LocalStore(prefix=root)
        elif scheme in ("s3", "s3a"):
            # A request that cannot connect fails within the timeout instead of retrying
            # for minutes: callers report the outage, and the next request tries again.
            self._store = S3Store.from_url(
                url,
                client_options={
                    "allow_http": allow_http,
                    "connect_timeout": timedelta(seconds=timeout_s),
                    "timeout": timedelta(seconds=max(timeout_s, 30.0)),
                },
                retry_config={"max_retries": 2, "retry_timeout": timedelta(seconds=timeout_s)},
            )
        else:
            raise ValueError(
                f"OBJECT_STORE_URL={url!r}: use s3://bucket[/prefix] or file:///absolute/path"
            )

    async def put(self, key: str, data: bytes) -> None:
        await obstore.put_async(self._store, key, data)

    async def put_file(self, key: str, path: Path) -> None:
        """Store the file at ``path`` in parts (a multipart upload), never whole in memory."""
        await obstore.put_async(self._store, key, path)

    async def get_file(self, key: str, path: Path) -> None:
        """Write the object to ``path`` as it arrives."""
        try:
            result = await obstore.get_async(self._store, key)
        except (FileNotFoundError, NotFoundError):
            raise ObjectNotFound(key) from None
        with path.open("wb") as file:
            async for chunk in result.stream():
                file.write(chunk)

    async def get(self, key: str) -> bytes:
        try:
            result = await obstore.get_async(self._store, key)
        except (FileNotFoundError, NotFoundError):
            raise ObjectNotFound(key) from None
        return bytes(await result.bytes_async())

    async def exists(self, key: str) -> bool:
        try:
            await obstore.head_async(self._store, key)
        except (FileNotFoundError, NotFoundError):
            return False
        return True

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a key that is not there is not an error."""
        with contextlib.suppress(FileNotFoundError, NotFoundError):
            await obstore.delete_async(self._store, key)

    async def list(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        async for batch in obstore.list(self._store, prefix or None):
            keys.extend(meta["path"] for meta in batch)
        return sorted(keys)
