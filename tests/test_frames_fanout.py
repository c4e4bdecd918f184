"""The fan-out of a live run inside one server process, against real Valkey: viewers that
never read do not hold up the reader of the run's stream (so they cannot slow the run), and
the others keep getting frames; a replay of a recording in object storage seeks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import valkey.asyncio as valkey_asyncio

from server.config import Settings, load_settings
from server.domain.frames.hub import FrameHub
from server.domain.frames.viewer import Viewer
from server.embedded import EmbeddedService
from simcore import frames
from tests.frame_streams import eventually, publish, spike_frame


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"SPIKEX_DATA_DIR": str(tmp_path)})


@pytest.fixture
async def client(valkey: EmbeddedService) -> AsyncIterator[valkey_asyncio.Valkey]:
    opened = valkey_asyncio.from_url(valkey.url)
    try:
        yield opened
    finally:
        await opened.aclose()


class Collector:
    """A viewer's socket: keeps what it is sent, or never returns from a send (stuck)."""

    def __init__(self, stuck: bool = False):
        self.stuck = stuck
        self.frames: list[frames.Header] = []
        self.sends = 0

    async def send(self, message: bytes | str) -> None:
        self.sends += 1
        if self.stuck:
            await asyncio.Event().wait()
        if isinstance(message, bytes):
            self.frames.append(frames.decode(message).header)


async def test_viewers_that_never_read_do_not_hold_up_the_others(
    settings: Settings, client: valkey_asyncio.Valkey
) -> None:
    hub = FrameHub(settings, client)
    run = str(uuid.uuid4())
    sinks = [Collector(stuck=k < 10) for k in range(200)]
    viewers = [Viewer(sink.send) for sink in sinks]
    writers = [asyncio.create_task(viewer.write()) for viewer in viewers]
    feed = None
    for viewer in viewers:
        feed = await hub.join(uuid.UUID(run), viewer)
    assert feed is not None
    count = 100
    for index in range(count):
        await publish(client, run, spike_frame(run, index))
    # The reader takes every frame off the stream and offers it, whatever the stuck ones do.
    assert await eventually(lambda: feed.frames_read == count, 30)
    readers = sinks[10:]
    await eventually(lambda: all(s.frames and s.frames[-1].index == count - 1 for s in readers), 30)
    for sink in readers:
        assert sink.frames[-1].index == count - 1
        got = [h.index for h in sink.frames]
        assert got == sorted(set(got))
    for sink, viewer in zip(sinks[:10], viewers[:10], strict=True):
        assert sink.sends == 1  # the one frame it is stuck on, nothing queued behind it
        assert viewer.skipped_total >= count - 2
    for task in writers:
        task.cancel()
    await asyncio.gather(*writers, return_exceptions=True)
    await hub.close()
