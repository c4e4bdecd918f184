"""A run's recording in real object storage (S3): stored in chunks with an index, read back
from any step, and replayed at a chosen speed with seek and pause."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from server.domain.frames.recorder import Recorder, Recording, index_key
from server.domain.frames.replay import Replay
from server.domain.frames.viewer import Viewer
from server.embedded import EmbeddedS3
from server.objects import ObjectStore
from simcore import frames
from tests.conftest import s3_environment
from tests.frame_streams import eventually, spike_frame

STEPS = 160  # per frame (spike_frame's default)


@pytest.fixture
def objects(s3: EmbeddedS3, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    for variable, value in s3_environment(s3).items():
        monkeypatch.setenv(variable, value)  # obstore reads the AWS_* variables itself
    return ObjectStore(f"{s3.url}/{uuid.uuid4().hex}", timeout_s=5, allow_http=True)


async def record(objects: ObjectStore, run: str, count: int) -> list[bytes]:
    made = [spike_frame(run, index) for index in range(count)]
    # Chunks cut by size only: every 4 frames (the recorder's time limit is never reached).
    chunking = {"chunk_bytes": 4 * len(made[0]), "flush_s": 3600.0}
    async with Recorder(objects, run, **chunking) as recorder:
        for data in made:
            await recorder.add(data)
    return made


async def test_a_recording_is_stored_in_chunks_and_read_back_from_any_step(
    objects: ObjectStore,
) -> None:
    run = str(uuid.uuid4())
    made = await record(objects, run, 30)
    recording = await Recording.open(objects, run)
    assert recording is not None
    index = recording.index
    assert index.complete and len(index.chunks) > 3
    assert (index.start, index.end) == (0, 30 * STEPS)
    assert sum(chunk.count for chunk in index.chunks) == 30
    assert [frame async for frame in recording.frames_from(0)] == made
    # From the frame that holds the step, to the end.
    step = 17 * STEPS + 5
    tail = [frames.decode(f).header.index async for f in recording.frames_from(step)]
    assert tail == list(range(17, 30))
    assert [f async for f in recording.frames_from(30 * STEPS)] == []
    assert await Recording.open(objects, str(uuid.uuid4())) is None
    assert await objects.exists(index_key(run))


class Collector:
    def __init__(self) -> None:
        self.frames: list[frames.Header] = []
        self.notices: list[str] = []

    async def send(self, message: bytes | str) -> None:
        if isinstance(message, bytes):
            self.frames.append(frames.decode(message).header)
        else:
            self.notices.append(message)


async def test_a_replay_plays_at_its_speed_seeks_and_pauses(objects: ObjectStore) -> None:
    run = str(uuid.uuid4())
    await record(objects, run, 30)
    recording = await Recording.open(objects, run)
    assert recording is not None
    sink = Collector()
    viewer = Viewer(sink.send)
    # 16 ms of biological time per frame, at 8x: 2 ms per frame, the whole run in 60 ms.
    replay = Replay(recording, viewer, speed=8.0)
    writer = asyncio.create_task(viewer.write())
    player = asyncio.create_task(replay.run())
    try:
        assert await eventually(lambda: any('"done":true' in n for n in sink.notices), 20)
        played = [h.index for h in sink.frames]
        assert played[-1] == 29
        assert played == sorted(set(played))
        replay.pause()
        await asyncio.sleep(0.05)
        replay.seek(12 * STEPS + 1)
        replay.set_speed(1000.0)
        before = len(sink.frames)
        await asyncio.sleep(0.2)
        assert len(sink.frames) == before  # paused: nothing plays, even after a seek
        replay.resume()
        replayed = lambda: len(sink.frames) > before and sink.frames[-1].index == 29  # noqa: E731
        assert await eventually(replayed, 20)
        assert sink.frames[before].index == 12  # from the frame holding the step
    finally:
        for task in (writer, player):
            task.cancel()
        await asyncio.gather(writer, player, return_exceptions=True)
