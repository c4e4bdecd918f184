"""``Simulation`` (simcore/_network.py): frames, pause / resume / stop between chunks, parameter
changes at the next chunk, and results independent of the thread count."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest

import simcore
from simcore import Change, Frame
from simcore.spec import (
    Component,
    Connector,
    ModelSpec,
    Monitor,
    Population,
    Projection,
    Simulation,
    Stimulus,
    Value,
)
from tests.simcore_models import cuba, ms, mv, poisson


def relay(duration_ms: float = 100.0) -> ModelSpec:
    """``src`` fires regularly under a current and drives ``dst`` one to one by 25 mV jumps;
    ``noisy`` gets Poisson input (0 Hz to start), ``quiet`` a current of 0 nA to start."""
    lif = Component("lif", parameters={"refractory": ms(0.0)})
    return ModelSpec(
        name="relay",
        kind="snn",
        simulation=Simulation(duration=ms(duration_ms), seed=3),
        populations=(
            Population("src", 3, lif),
            Population("dst", 3, lif),
            Population("noisy", 50, lif),
            Population("quiet", 2, lif),
        ),
        projections=(
            Projection(
                "relay",
                "src",
                "dst",
                Component("delta"),
                Connector("one_to_one"),
                weight=mv(25.0),
                delay=ms(0.0),
            ),
        ),
        stimuli=(
            Stimulus(
                "drive",
                "src",
                Component(
                    "constant_current", parameters={"amplitude": Value(unit="nA", value=0.5)}
                ),
            ),
            poisson("noise", "noisy", 0.0, 25.0),
            Stimulus(
                "dial",
                "quiet",
                Component(
                    "constant_current", parameters={"amplitude": Value(unit="nA", value=0.0)}
                ),
            ),
        ),
        monitors=(
            *(Monitor(p, p, "spikes") for p in ("src", "dst", "noisy", "quiet")),
            Monitor("v", "dst", "state", variables=("v",), neurons=(0, 2), interval=ms(1.0)),
            Monitor("rate", "src", "rate", interval=ms(5.0)),
        ),
    )


def test_frames_cover_the_run_in_chunks_with_arrays_moved_out_of_the_engine() -> None:
    simulation = simcore.build(relay(), threads=1)
    frames = list(simulation.run(0.1, frame_every=Value(unit="ms", value=30.0)))
    assert [(f.start_step, f.end_step) for f in frames] == [
        (0, 300),
        (300, 600),
        (600, 900),
        (900, 1000),
    ]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert simulation.step == 1000 and simulation.time == pytest.approx(0.1)
    frame = frames[1]
    assert frame.t_start == pytest.approx(0.03)
    spikes = frame.spikes["src"]
    assert len(spikes) > 0 and spikes.neurons.dtype == np.uint32
    assert np.all((spikes.steps >= 300) & (spikes.steps < 600))
    np.testing.assert_array_equal(spikes.offsets, spikes.steps - 300)
    # the arrays hold the engine's own buffers (moved, not copied into numpy)
    for array in (spikes.neurons, spikes.steps, frame.states["v"].values["v"]):
        owner = array
        while isinstance(owner, np.ndarray):
            owner = owner.base
        assert type(owner).__name__ == "PySliceContainer"
    assert frame.states["v"].values["v"].shape == (30, 2)
    np.testing.assert_array_equal(frame.states["v"].neurons, [0, 2])
    assert frame.states["v"].steps[0] == 300
    assert frame.rates["rate"].steps.tolist() == [300, 350, 400, 450, 500, 550]
    # the relay: every src spike makes its dst neuron spike one step later
    src = np.concatenate([f.spikes["src"].steps for f in frames])
    dst = np.concatenate([f.spikes["dst"].steps for f in frames])
    np.testing.assert_array_equal(dst, src[src < 999] + 1)
    assert sum(f.synaptic_events for f in frames) == src.size == simulation.synaptic_events
    # a second run goes on where the first stopped
    more = list(simulation.run(0.01))
    assert (more[0].start_step, more[-1].end_step) == (1000, 1100)


def test_run_checks_its_arguments_at_once() -> None:
    simulation = simcore.build(relay(), threads=1)
    with pytest.raises(ValueError, match="duration"):
        simulation.run(-1.0)
    with pytest.raises(ValueError, match="frame_every"):
        simulation.run(0.1, frame_every=Value(unit="mV", value=1.0))


def consume(
    simulation: simcore.Simulation, duration: float, frames: list[Frame]
) -> threading.Thread:
    def work() -> None:
        for frame in simulation.run(duration, frame_every=0.001):
            frames.append(frame)
            time.sleep(0.001)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_pause_resume_and_stop_between_chunks_from_another_thread() -> None:
    simulation = simcore.build(relay(), threads=1)
    frames: list[Frame] = []
    thread = consume(simulation, 10.0, frames)
    wait_for(lambda: len(frames) >= 3)
    simulation.pause()
    assert simulation.paused
    time.sleep(0.2)  # a chunk in progress may still finish
    held = len(frames)
    time.sleep(0.2)
    assert len(frames) == held, "frames arrived while paused"
    simulation.resume()
    wait_for(lambda: len(frames) >= held + 3)
    simulation.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(frames) < 10_000  # stopped long before the end
    assert frames[-1].end_step == simulation.step
    steps = [(f.start_step, f.end_step) for f in frames]
    assert all(a[1] == b[0] for a, b in itertools.pairwise(steps))
    # stop also ends a paused run; the next run starts afresh
    frames.clear()
    thread = consume(simulation, 10.0, frames)
    wait_for(lambda: len(frames) >= 1)
    simulation.pause()
    simulation.stop()
    thread.join(timeout=10)
    assert not thread.is_alive() and not simulation.paused
    assert len(list(simulation.run(0.002, frame_every=0.001))) == 2


def test_pausing_from_the_consuming_thread_is_refused_not_a_hang() -> None:
    simulation = simcore.build(relay(), threads=1)
    frames = simulation.run(0.01, frame_every=0.001)
    next(frames)
    simulation.pause()
    with pytest.raises(RuntimeError, match="resume"):
        next(frames)


def spike_steps(frames: list[Frame], monitor: str) -> np.ndarray:
    return np.concatenate([f.spikes[monitor].steps for f in frames])


def test_parameter_changes_apply_at_the_next_chunk_and_frames_say_from_when() -> None:
    simulation = simcore.build(relay(), threads=1)
    run = simulation.run(0.1, frame_every=0.01)
    first = [next(run), next(run)]
    assert all(f.changes == () for f in first)
    assert spike_steps(first, "noisy").size == 0 and spike_steps(first, "quiet").size == 0
    simulation.set_rate("noise", 400.0)
    simulation.set_current("dial", 1e-9)
    simulation.set_weight_scale("relay", 0.0)
    changed = next(run)
    assert changed.changes == (
        Change("rate", "noise", 400.0, 200),
        Change("current", "dial", 1e-9, 200),
        Change("weight_scale", "relay", 0.0, 200),
    )
    rest = [changed, *run]
    assert all(f.changes == () for f in rest[1:])
    noisy, quiet = spike_steps(rest, "noisy"), spike_steps(rest, "quiet")
    assert noisy.size > 20 and noisy.min() >= 200
    assert quiet.size > 0 and quiet.min() > 200
    # with the relay's weights scaled to 0, dst only answers src spikes from before step 200
    assert spike_steps(rest, "dst").size <= 1
    assert np.all(spike_steps(rest, "dst") <= 200)
    # per-output rates, and the checks made at once
    simulation.set_rate("noise", np.full(50, 10.0))
    with pytest.raises(KeyError, match="there are: noise"):
        simulation.set_rate("drive", 1.0)
    with pytest.raises(ValueError, match="1/dt"):
        simulation.set_rate("noise", 20_000.0)
    with pytest.raises(ValueError, match="50 rates"):
        simulation.set_rate("noise", [1.0, 2.0])
    with pytest.raises(KeyError, match="no projection"):
        simulation.set_weight_scale("nope", 1.0)
    with pytest.raises(KeyError, match=r"there are: drive, dial"):
        simulation.set_current("noise", 1.0)
    frame = next(simulation.run(0.001))
    assert frame.changes == (Change("rate", "noise", tuple([10.0] * 50), 1000),)


def test_same_seed_same_spikes_on_one_and_two_threads() -> None:
    spec = cuba(10_000, indegree=80, seed=5)  # 8,000 excitatory neurons: two blocks in parallel

    def run(threads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        simulation = simcore.build(spec, threads=threads)
        assert simulation.threads == threads
        frames = list(simulation.run(0.2, frame_every=0.05))
        neurons = np.concatenate([f.spikes["exc_spikes"].neurons for f in frames])
        steps = np.concatenate([f.spikes["exc_spikes"].steps for f in frames])
        return neurons, steps, simulation.state("exc", "v"), simulation.synaptic_events

    one, two = run(1), run(2)
    assert one[0].size > 1000
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_array_equal(one[2].view(np.uint64), two[2].view(np.uint64))
    assert one[3] == two[3]
