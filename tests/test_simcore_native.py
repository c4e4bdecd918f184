"""The native module ``simcore._native`` (simcore/bindings): its stub matches the build, engine
errors arrive as the ``simcore.SimulationError`` family, long calls release the GIL and
honour Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import simcore
from simcore import _native

ROOT = Path(__file__).resolve().parents[1]


def test_the_stub_matches_the_native_module(tmp_path: Path) -> None:
    # numpy's own stubs are not what is checked here, and reading them takes most of the time
    config = tmp_path / "mypy.ini"
    config.write_text(
        "[mypy]\n[mypy-numpy.*]\nfollow_imports = skip\nfollow_imports_for_stubs = True\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy.stubtest",
            "simcore._native",
            "--mypy-config-file",
            str(config),
        ],
        cwd=ROOT,
        env={**os.environ, "MYPY_CACHE_DIR": str(tmp_path / "mypy")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_engine_errors_are_simulation_errors_with_the_engines_message() -> None:
    assert issubclass(simcore.SimulationError, ValueError)
    net = _native.Network(1e-4, threads=1)
    with pytest.raises(simcore.InvalidParameterError, match=r"lif\.tau_x: no such parameter"):
        net.add_population("p", "lif", 3, {"tau_x": 1.0})
    with pytest.raises(simcore.InvalidParameterError, match="tau_m"):
        net.add_population("p", "lif", 3, {"tau_m": -1.0})
    with pytest.raises(simcore.LengthMismatchError, match="expected 3"):
        net.add_population("p", "lif", 3, {"tau_m": np.array([0.01, 0.02])})
    pop = net.add_population("p", "lif", 3)
    with pytest.raises(simcore.UnsupportedError, match="lif_cond"):
        net.add_receptor(pop, "g", "exp_conductance", tau=5e-3, e_rev=0.0)
    with pytest.raises(simcore.UnknownVariableError, match="it has: v"):
        net.state(pop, "u")
    with pytest.raises(simcore.UnknownIdError):
        net.state(7, "v")
    with pytest.raises(simcore.IndexOutOfRangeError):
        net.add_spike_monitor(pop, np.array([5], dtype=np.uint32))
    with pytest.raises(simcore.InvalidParameterError, match="threads"):
        _native.Network(1e-4, threads=0)
    with pytest.raises(simcore.InvalidParameterError, match="dt"):
        _native.Network(-1.0)


def test_a_connectivity_connects_once() -> None:
    net = _native.Network(1e-4, threads=1)
    pop = net.add_population("p", "lif", 10)
    receptor = net.add_receptor(pop, "ge", "exp_current", tau=5e-3)
    conn = _native.Connectivity.generate("fixed_indegree", 10, 10, k=3, seed=1)
    assert (conn.n_pre, conn.n_post, conn.n_synapses) == (10, 10, 30)
    pre, post = conn.to_lists()
    assert np.all(pre != post)  # no self-connections unless allowed
    net.connect(pop, pop, receptor, conn, 1e-10, 0)
    with pytest.raises(simcore.UnsupportedError, match="already connected"):
        net.connect(pop, pop, receptor, conn, 1e-10, 0)
    with pytest.raises(simcore.InvalidParameterError, match="needs a probability"):
        _native.Connectivity.generate("fixed_probability", 3, 3)
    explicit = _native.Connectivity.from_lists(
        3, 3, np.array([2, 0], dtype=np.uint32), np.array([1, 1], dtype=np.uint32)
    )
    np.testing.assert_array_equal(explicit.to_lists()[0], [2, 0])  # the order given


def busy_network(n: int = 20_000) -> _native.Network:
    net = _native.Network(1e-4, threads=1)
    pop = net.add_population("p", "lif", n, {"r_m": 1.0, "tau_m": 0.02})
    receptor = net.add_receptor(pop, "ge", "exp_current", tau=5e-3)
    conn = _native.Connectivity.generate("fixed_indegree", n, n, k=20, seed=2)
    net.connect(pop, pop, receptor, conn, 1e-3, 1)
    net.add_current(pop, np.zeros(1, dtype=np.uint64), np.array([0.0151]))
    net.add_spike_monitor(pop)
    return net


def test_runs_release_the_gil() -> None:
    net = busy_network()
    started = time.perf_counter()
    net.run(1000)
    steps = max(1000, int(1000 * 0.4 / (time.perf_counter() - started)))  # ~0.4 s of work
    done = threading.Event()
    ticks = 0

    def run() -> None:
        net.run(steps)  # one native call
        done.set()

    worker = threading.Thread(target=run)
    worker.start()
    while not done.is_set():  # needs the GIL: it would stall if the run held it
        ticks += 1
        time.sleep(0.002)
    worker.join()
    assert ticks >= 10, ticks


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_interrupts_a_long_run() -> None:
    net = busy_network()
    main = threading.get_ident()
    timer = threading.Timer(0.3, lambda: signal.pthread_kill(main, signal.SIGINT))
    started = time.perf_counter()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        net.run(10_000_000)  # hours of work
    assert time.perf_counter() - started < 5.0
    assert 0 < net.step < 10_000_000
