"""One contract for object storage, run on the local filesystem store and on real S3."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.embedded import EmbeddedS3
from server.objects import ObjectNotFound, ObjectStore
from tests.conftest import s3_environment

TIMEOUT_S = 5.0


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "local":
        yield ObjectStore((tmp_path / "objects").as_uri(), timeout_s=TIMEOUT_S)
        return
    s3: EmbeddedS3 = request.getfixturevalue("s3")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    for variable, value in s3_environment(s3).items():
        monkeypatch.setenv(variable, value)
    yield ObjectStore(f"{s3.url}/{uuid.uuid4().hex}", timeout_s=TIMEOUT_S, allow_http=True)


async def test_put_then_get_returns_the_same_bytes(store: ObjectStore) -> None:
    payload = os.urandom(1024 * 1024 + 7)
    await store.put("snapshots/model-1/0001.bin", payload)
    assert await store.get("snapshots/model-1/0001.bin") == payload


async def test_put_replaces_an_object(store: ObjectStore) -> None:
    await store.put("a", b"first")
    await store.put("a", b"second")
    assert await store.get("a") == b"second"


async def test_a_missing_key_is_reported_as_not_found(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound):
        await store.get("never/written")
    assert not await store.exists("never/written")


async def test_delete_removes_and_tolerates_a_missing_key(store: ObjectStore) -> None:
    await store.put("gone", b"x")
    assert await store.exists("gone")
    await store.delete("gone")
    assert not await store.exists("gone")
    await store.delete("gone")


async def test_list_by_prefix_is_sorted_and_scoped(store: ObjectStore) -> None:
    for key in ("runs/2/b", "runs/1/a", "runs/1/c", "models/1"):
        await store.put(key, b"")
    assert await store.list("runs/1/") == ["runs/1/a", "runs/1/c"]
    assert await store.list("runs/") == ["runs/1/a", "runs/1/c", "runs/2/b"]
    assert await store.list("nothing/") == []


def test_an_unsupported_url_is_refused_with_the_forms_that_work() -> None:
    with pytest.raises(ValueError, match=r"s3://bucket"):
        ObjectStore("ftp://example/objects", timeout_s=TIMEOUT_S)
