"""``/ws/runs/{run_id}/frames`` against a real server and real Valkey: frames a run publishes
reach every viewer in order, a slow viewer gets the newest with a count of what it missed, a
late joiner starts from the run's current state, downsampling bounds what a viewer receives,
and bad input closes with a clear code."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed

from server.connections import Connections
from server.domain.runs import messages
from simcore import frames
from tests.frame_streams import (
    RawViewer,
    Watcher,
    new_model,
    open_raw,
    publish,
    publish_event,
    spike_frame,
    stored_run,
)
from tests.runs import small_model, start_run, wait_state
from tests.servers import ServerProcess


async def closed_with(watcher: Watcher) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(100):
            await watcher.take()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_an_unknown_run_closes_with_4404(server: ServerProcess) -> None:
    for run_id in ("00000000-0000-4000-8000-000000000000", "not-a-uuid"):
        watcher = await Watcher.open(server, run_id)
        code, reason = await closed_with(watcher)
        assert code == 4404
        assert run_id in reason


async def test_frames_reach_every_viewer_in_order(
    server: ServerProcess, connections: Connections
) -> None:
    run = await stored_run(new_model(server))
    viewers = [await Watcher.open(server, run) for _ in range(3)]
    for viewer in viewers:
        hello = await viewer.until_notice("hello")
        assert (hello["run"], hello["mode"], hello["state"]) == (run, "live", "queued")
    count = 40
    for index in range(count):
        await publish(connections.valkey, run, spike_frame(run, index))
        await asyncio.sleep(0.01)
    for viewer in viewers:
        last = await viewer.until_frame(lambda f: f.header.index == count - 1)
        assert last.header.run == run
        indexes = [f.header.index for f in viewer.frames]
        assert indexes == sorted(set(indexes))
        # Whatever a viewer did not get, the next frame it got says so.
        for before, after in zip(viewer.frames, viewer.frames[1:], strict=False):
            assert after.header.index - before.header.index - 1 == after.header.skipped
        await viewer.close()


async def test_a_slow_viewer_gets_the_newest_frame_and_what_it_skipped(
    server: ServerProcess, connections: Connections
) -> None:
    run = await stored_run(new_model(server))
    slow = await Watcher.open(server, run, max_queue=1)
    await slow.until_notice("hello")
    fast = await Watcher.open(server, run)
    await fast.until_notice("hello")
    count = 60
    for index in range(count):
        # 1 MB frames: a viewer that stops reading fills its socket's buffers quickly.
        await publish(connections.valkey, run, spike_frame(run, index, pad=250_000))
        await fast.until_frame(lambda f, i=index: f.header.index == i)
    last = await slow.until_frame(lambda f: f.header.index == count - 1)
    assert len(slow.frames) < count
    assert sum(f.header.skipped for f in slow.frames) == count - len(slow.frames)
    assert last.header.skipped > 0 or any(f.header.skipped for f in slow.frames)
    assert [f.header.index for f in fast.frames] == list(range(count))
    await slow.close()
    await fast.close()


async def test_a_viewer_that_stops_reading_catches_up_without_a_backlog_of_old_frames(
    server: ServerProcess, connections: Connections
) -> None:
    """Small frames, at a pace a lagging reader's socket would otherwise buffer by the
    hundred (megabytes: seconds of a live run): when it reads again, it reaches the newest
    frame after a few dozen, and the skipped counts account for all the others."""
    run = await stored_run(new_model(server))
    viewer = RawViewer(open_raw(server.port, run, deflate=False, rcvbuf=16 * 1024))
    await asyncio.to_thread(viewer.handshake)
    count = 1000
    try:
        for index in range(count):
            await publish(connections.valkey, run, spike_frame(run, index))
            if index % 50 == 0:
                await asyncio.sleep(0.05)  # the server sends meanwhile, into the buffers

        def read_to_the_newest() -> list[frames.Decoded]:
            viewer.sock.settimeout(20)
            got: list[frames.Decoded] = []
            while not got or got[-1].header.index != count - 1:
                viewer.fill()
                got += [frames.decode(m) for first, m in viewer.messages() if first == 0x82]
            return got

        got = await asyncio.to_thread(read_to_the_newest)
    finally:
        viewer.sock.close()
    assert len(got) < count // 10
    assert sum(frame.header.skipped for frame in got) == count - len(got)


async def test_a_late_joiner_first_gets_the_latest_frame_and_recent_metrics(
    server: ServerProcess, connections: Connections
) -> None:
    run = await stored_run(new_model(server))
    for index in range(5):
        await publish(connections.valkey, run, spike_frame(run, index))
        await publish_event(
            connections.valkey,
            run,
            messages.Progress(
                (index + 1) / 10, (index + 1) * 160, {"rate_hz/spikes": 10.0 + index}
            ),
        )
    late = await Watcher.open(server, run)
    first = await late.until_frame(lambda f: True)
    assert first.header.index == 4
    metrics = await late.until_notice("metrics")
    assert [step for step, _ in metrics["recent"]] == [160, 320, 480, 640, 800]
    assert metrics["recent"][-1][1] == {"rate_hz/spikes": 14.0}
    await publish(connections.valkey, run, spike_frame(run, 5))
    assert (await late.until_frame(lambda f: True)).header.index == 5
    await late.close()


async def test_downsampling_bounds_bytes_by_the_viewers_choice_not_the_network(
    server: ServerProcess, connections: Connections
) -> None:
    chosen = [0, 3, 7, 11, 1999, 2500]
    select = {"type": "select", "neurons": {"spikes": chosen}, "rows": 10, "columns": 128}
    received: dict[int, tuple[frames.Decoded, frames.Decoded, int, int]] = {}
    for size in (4_000, 400_000):
        run = await stored_run(new_model(server))
        full = await Watcher.open(server, run)
        thin = await Watcher.open(server, run)
        await thin.until_notice("hello")
        await thin.send(select)
        await full.until_notice("hello")
        # The select goes ahead of the frames, but on another path: publish until it acts.
        for index in range(50):
            await publish(connections.valkey, run, spike_frame(run, index, size=size))
            thinned = await thin.until_frame(lambda f, i=index: f.header.index == i)
            if "raster/spikes" in thinned:
                break
        whole = await full.until_frame(lambda f, i=thinned.header.index: f.header.index == i)
        received[size] = (whole, thinned, full.sizes[-1], thin.sizes[-1])
        await full.close()
        await thin.close()
    for size, (whole, thinned, _, thin_bytes) in received.items():
        neurons = whole["spikes/spikes/neurons"]
        offsets = whole["spikes/spikes/offsets"]
        keep = np.isin(neurons, chosen)
        np.testing.assert_array_equal(thinned["spikes/spikes/neurons"], neurons[keep])
        np.testing.assert_array_equal(thinned["spikes/spikes/offsets"], offsets[keep])
        raster = thinned["raster/spikes"]
        steps, per_column = next(a.bins for a in thinned.header.arrays if a.name == "raster/spikes")
        assert (steps, per_column) == (16, -(-size // 128))
        assert raster.shape == (10, -(-size // per_column))
        assert raster.shape[1] <= 128
        assert int(raster.sum()) == neurons.size
        assert int(raster[:, 0].sum()) == int(np.count_nonzero(neurons < per_column))
        assert thinned["rates/spikes/hz"].shape == (10,)
        # Bounded by the choice: the selected neurons' spikes, the raster, the rates, a header.
        bound = 8 * keep.sum() + 2 * 10 * 128 + 8 * 10 + 4096
        assert thin_bytes <= bound, (size, thin_bytes, bound)
    assert received[400_000][2] > 50 * received[400_000][3]  # what the choice saves at 400k


@pytest.mark.parametrize(
    ("control", "reason"),
    [
        ("not json", "bad control message"),
        ('{"type": "warp"}', "bad control message"),
        ('{"type": "select", "neurons": {"spikes": [-1]}}', "bad control message"),
        ('{"type": "select", "neurons": {"spikes": [1]}, "rows": 1000, "columns": 1000}', "raster"),
        ('{"type": "speed", "speed": 1e9}', "speed"),
    ],
)
async def test_a_malformed_control_message_closes_with_4400(
    server: ServerProcess, connections: Connections, control: str, reason: str
) -> None:
    run = await stored_run(new_model(server))
    viewer = await Watcher.open(server, run)
    await viewer.until_notice("hello")
    await viewer.socket.send(control)
    code, said = await closed_with(viewer)
    assert code == 4400
    assert reason in said


async def test_a_viewer_without_editor_rights_cannot_stop_the_run(
    server: ServerProcess, connections: Connections
) -> None:
    model = new_model(server)
    token = server.post(f"/api/models/{model}/share", json={"role": "viewer"})
    assert token.status_code in (200, 201), token.text
    run = await stored_run(model)
    viewer = await Watcher.open(server, run, token=token.json()["token"])
    assert (await viewer.until_notice("hello"))["role"] == "viewer"
    await viewer.send({"type": "stop"})
    notice = await viewer.until_notice("error")
    assert "viewer cannot" in notice["message"]
    assert server.get(f"/api/runs/{run}").json()["state"] == "queued"
    await viewer.close()


async def test_a_real_run_streams_live_then_replays_from_storage_with_seek(
    server: ServerProcess,
) -> None:
    model = small_model(server)
    run = start_run(server, model, frame_every={"unit": "ms", "value": 10.0}, pace=0.25)[
        "id"
    ]  # 200 ms of biological time in about 0.8 s: 20 frames
    live = await Watcher.open(server, run)
    hello = await live.until_notice("hello")
    assert hello["mode"] == "live"
    last = await live.until_frame(lambda f: f.header.end >= 2000, timeout_s=60)
    assert last.header.run == run and last.header.kinds[0] == "spikes"
    indexes = [f.header.index for f in live.frames]
    assert indexes == sorted(set(indexes))
    await live.close()
    wait_state(server, run, ("completed",))

    replay = await Watcher.open(server, run)
    hello = await replay.until_notice("hello")
    assert (hello["mode"], hello["state"]) == ("replay", "completed")
    status = await replay.until_notice("replay")
    assert (status["start"], status["end"]) == (0, 2000)
    first = await replay.until_frame(lambda f: True)
    assert first.header.index == 0
    await replay.send({"type": "speed", "speed": 0.05})  # slow: a frame every 0.2 s
    await replay.send({"type": "seek", "step": 1234})
    sought = await replay.until_frame(lambda f: f.header.start <= 1234 < f.header.end)
    # What the live viewer saw of that frame is what the replay sends.
    same = [f for f in live.frames if f.header.index == sought.header.index]
    if same:
        assert bytes(same[0].body) == bytes(sought.body)
    await replay.send({"type": "speed", "speed": 100.0})
    await replay.until_frame(lambda f: f.header.end == 2000)
    done = await replay.until_notice_where(lambda n: n.get("type") == "replay" and n["done"])
    assert done["position"] == 2000
    await replay.close()
