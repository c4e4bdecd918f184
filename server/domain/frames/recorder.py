"""A run's recording in object storage, for replay: its frames, concatenated into chunks of
about ``SPIKEX_FRAMES_RECORD_CHUNK_BYTES``, and an index of the chunks (steps and frames each
holds) to seek without reading the others.

Keys: ``runs/{run_id}/frames/index.json`` and ``runs/{run_id}/frames/{n:06d}.sxf``. The index
is rewritten after each chunk, so a run that dies keeps what was stored before."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator
from uuid import UUID

import msgspec

from server.objects import ObjectNotFound, ObjectStore
from simcore import frames


class Chunk(msgspec.Struct, frozen=True):
    key: str
    first: int
    """Index of its first frame in the run."""
    count: int
    start: int
    """Its first frame's first step."""
    end: int
    """Its last frame's end step."""
    size: int


class Index(msgspec.Struct, frozen=True):
    run: str
    format: int = frames.VERSION
    dt: float = 0.0
    chunks: list[Chunk] = []
    complete: bool = False
    """The run ended and everything it streamed is stored."""

    @property
    def start(self) -> int:
        return self.chunks[0].start if self.chunks else 0

    @property
    def end(self) -> int:
        return self.chunks[-1].end if self.chunks else 0


_encode = msgspec.json.Encoder().encode
_decode_index = msgspec.json.Decoder(Index).decode


def prefix(run_id: UUID | str) -> str:
    return f"runs/{run_id}/frames/"


def index_key(run_id: UUID | str) -> str:
    return f"{prefix(run_id)}index.json"


class Recorder:
    """Stores a run's frames as it streams them (``async with Recorder(...) as r: r.add(...)``).

    ``chunk_bytes`` and ``flush_s`` are ``Settings.frames_record_chunk_bytes`` and
    ``frames_record_flush_s``."""

    def __init__(
        self,
        objects: ObjectStore,
        run_id: UUID | str,
        *,
        chunk_bytes: int,
        flush_s: float,
    ):
        self._objects = objects
        self._run = str(run_id)
        self._chunk_bytes = chunk_bytes
        self._flush_s = flush_s
        self._index = Index(self._run)
        self._buffer = bytearray()
        self._headers: list[frames.Header] = []
        self._since = time.monotonic()
        self._storing: asyncio.Task[None] | None = None
        """The chunk being stored, in the background: the run does not wait for storage
        unless it makes chunks faster than storage takes them (then at most two are held)."""

    async def __aenter__(self) -> Recorder:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._seal()
        if self._storing is not None:
            await self._storing
        self._index = msgspec.structs.replace(self._index, complete=True)
        await self._objects.put(index_key(self._run), _encode(self._index))

    async def add(self, data: bytes) -> None:
        """Records one encoded frame (stored once its chunk is full or old enough)."""
        header, _, end = frames.read_header(data)
        if not self._headers:
            self._since = time.monotonic()
        self._buffer += memoryview(data)[:end]
        self._headers.append(header)
        if (
            len(self._buffer) >= self._chunk_bytes
            or time.monotonic() - self._since >= self._flush_s
        ):
            await self._seal()

    async def _seal(self) -> None:
        """Hand the chunk being filled to storage, once the one before it is stored (so the
        index grows in order, and a storage failure surfaces here, one chunk late)."""
        if not self._headers:
            return
        if self._storing is not None:
            await self._storing
        data, headers = bytes(self._buffer), self._headers
        self._buffer = bytearray()
        self._headers = []
        self._storing = asyncio.create_task(self._store(data, headers))

    async def _store(self, data: bytes, headers: list[frames.Header]) -> None:
        n = len(self._index.chunks)
        key = f"{prefix(self._run)}{n:06d}.sxf"
        first, last = headers[0], headers[-1]
        await self._objects.put(key, data)
        chunk = Chunk(key, first.index, len(headers), first.start, last.end, len(data))
        self._index = msgspec.structs.replace(
            self._index, dt=first.dt, chunks=[*self._index.chunks, chunk]
        )
        await self._objects.put(index_key(self._run), _encode(self._index))


class Recording:
    """A stored run's frames, read chunk by chunk."""

    def __init__(self, objects: ObjectStore, index: Index):
        self._objects = objects
        self.index = index
        self._ends = [chunk.end for chunk in index.chunks]

    @classmethod
    async def open(cls, objects: ObjectStore, run_id: UUID | str) -> Recording | None:
        """The run's recording, or None when it has none."""
        try:
            data = await objects.get(index_key(run_id))
        except ObjectNotFound:
            return None
        return cls(objects, _decode_index(data))

    async def frames_from(self, step: int) -> AsyncIterator[bytes]:
        """The frames from the one that holds ``step`` (or the next) to the end, in order."""
        for chunk in self.index.chunks[bisect.bisect_right(self._ends, step) :]:
            data = memoryview(await self._objects.get(chunk.key))
            at = 0
            while at < len(data):
                header, _, end = frames.read_header(data[at:])
                if header.end > step:
                    yield bytes(data[at : at + end])
                at += end
