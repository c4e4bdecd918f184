"""The binary frame format (``simcore.frames``): round trips, a real simulation's frames, the
errors a reader gives, and the committed fixture the web decoder's test reads."""

from __future__ import annotations

import numpy as np
import pytest

import simcore
from simcore import frames
from simcore.spec import Monitor
from tests import frames_fixture
from tests.simcore_models import cuba, ms


def test_round_trip_keeps_every_array_aligned_and_equal() -> None:
    data = frames_fixture.frame()
    decoded = frames.decode(data)
    assert decoded.header.version == frames.VERSION
    assert decoded.header.skipped == 2
    assert decoded.header.changes == (frames.Change("rate", "drive", 12.0, 480),)
    body_start = len(data) - decoded.body.nbytes
    assert body_start % frames.ALIGN == 0
    for name, expected in frames_fixture.arrays().items():
        got = decoded[name]
        assert got.dtype == expected.dtype.newbyteorder("<")
        np.testing.assert_array_equal(got, expected)
    for info in decoded.header.arrays:
        assert info.offset % frames.ALIGN == 0
    assert decoded.header.arrays[-2].bins == (80, 1067)


def test_with_header_reuses_the_body() -> None:
    decoded = frames.decode(frames_fixture.frame())
    again = frames.decode(frames.with_header(decoded, skipped=9, run="other"))
    assert (again.header.skipped, again.header.run) == (9, "other")
    assert bytes(again.body) == bytes(decoded.body)


def test_a_simulation_frame_carries_its_spikes_states_rates_and_changes() -> None:
    spec = cuba(
        400,
        monitors=(
            Monitor("exc_spikes", "exc", "spikes"),
            Monitor("v", "exc", "state", variables=("v",), neurons=(0, 5), interval=ms(1.0)),
            Monitor("rate", "inh", "rate", interval=ms(1.0)),
        ),
    )
    sim = simcore.build(spec)
    sizes = frames.monitor_sizes(spec)
    run = sim.run(ms(40.0), frame_every=ms(20.0))
    first = next(run)
    sim.set_weight_scale("ee", 0.5)
    second = next(run)
    for frame in (first, second):
        decoded = frames.decode(
            frames.from_simulation("r", frame, sizes=sizes, state_dtype="float16")
        )
        h = decoded.header
        assert (h.index, h.start, h.end, h.dt) == (
            frame.index,
            frame.start_step,
            frame.end_step,
            frame.dt,
        )
        assert h.kinds == ("spikes", "states", "rates")
        assert h.sizes == {"exc_spikes": 320, "v": 320, "rate": 80}
        spikes = frame.spikes["exc_spikes"]
        np.testing.assert_array_equal(decoded["spikes/exc_spikes/neurons"], spikes.neurons)
        np.testing.assert_array_equal(
            decoded["spikes/exc_spikes/offsets"].astype(np.uint64) + np.uint64(h.start),
            spikes.steps,
        )
        np.testing.assert_allclose(
            decoded["states/v/v"], frame.states["v"].values["v"], rtol=1e-3, atol=1e-6
        )
        assert decoded["states/v/v"].dtype == np.float16
        np.testing.assert_allclose(decoded["rates/rate/hz"], frame.rates["rate"].hz, rtol=1e-6)
    assert frames.decode(frames.from_simulation("r", first)).header.applies_from is None
    steered = frames.decode(frames.from_simulation("r", second)).header
    assert steered.applies_from == second.start_step
    assert steered.changes == (frames.Change("weight_scale", "ee", 0.5, second.start_step),)


def test_training_metrics_frame() -> None:
    decoded = frames.decode(frames.from_metrics("r", 4, 4, 5, {"loss": [0.5, 0.25], "acc": 0.9}))
    assert decoded.header.kinds == ("metrics",)
    np.testing.assert_allclose(decoded["metrics/loss"], [0.5, 0.25])
    np.testing.assert_allclose(decoded["metrics/acc"], [0.9])


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b[:10], "truncated frame: 10 bytes"),
        (lambda b: b[:-1], "truncated frame"),
        (lambda b: b"GIF8" + b[4:], "not a SPIKE-X frame"),
        (lambda b: b[:4] + (frames.VERSION + 1).to_bytes(2, "little") + b[6:], "is newer"),
        (lambda b: b[:16] + b"[" + b[17:], "bad frame header"),
    ],
)
def test_bad_bytes_get_a_clear_error(mangle, message: str) -> None:
    with pytest.raises(frames.FrameError, match=message):
        frames.decode(mangle(frames_fixture.frame()))


def test_an_unsupported_dtype_is_refused() -> None:
    header = frames.Header(run="r", index=0, start=0, end=1, dt=1e-4)
    with pytest.raises(frames.FrameError, match="int64"):
        frames.encode(header, {"x": np.zeros(2, dtype=np.int64)})


def test_the_web_fixture_is_what_the_encoder_makes_now() -> None:
    assert frames_fixture.FIXTURE.read_text() == frames_fixture.source(), (
        "web/src/api/frames.fixture.ts is stale: run `python -m tests.frames_fixture`"
    )


def test_unknown_header_fields_are_ignored() -> None:
    data = frames_fixture.frame()
    header, start, _ = frames.read_header(data)
    text = data[16 : 16 + int.from_bytes(data[8:12], "little")]
    longer = text[:-1] + b',"future_field":[1,2]}'
    pad = (-(16 + len(longer))) % 8
    body = data[start:]
    prefix = data[:8] + len(longer).to_bytes(4, "little") + data[12:16]
    decoded = frames.decode(prefix + longer + b"\0" * pad + body)
    assert decoded.header == header
