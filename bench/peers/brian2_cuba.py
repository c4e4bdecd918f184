"""Brian2's CUBA network (its examples/CUBA.py, Vogels & Abbott 2005), the peer of simcore.

Runs in Brian2's own environment (made by ``bench/cuba.py`` in the cache dir), never in the
project's: Brian2 2.9 needs NumPy < 2.4. Prints one JSON object with its figures; ``--save`` also
writes the connectivity, initial state and spike trains (the stored reference that
``tests/test_simcore_cuba.py`` checks simcore against).

    BRIAN2_PYTHON bench/peers/brian2_cuba.py --n 4000 --mode runtime \
        --save tests/data/brian2_cuba.npz
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument(
        "--indegree",
        type=int,
        default=None,
        help="fixed in-degree (p = indegree / n); default p = 0.02",
    )
    parser.add_argument("--duration-ms", type=float, default=1000.0)
    parser.add_argument("--dt-ms", type=float, default=0.1)
    parser.add_argument("--mode", choices=["runtime", "standalone"], default="runtime")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--precision",
        choices=["float64", "float32"],
        default="float64",
        help="Brian2's default_float_dtype (float64 is Brian2's default)",
    )
    parser.add_argument("--save", default=None)
    arguments = parser.parse_args()

    import brian2 as b

    started = time.perf_counter()
    if arguments.mode == "standalone":
        build_dir = tempfile.mkdtemp(prefix="brian2-cuba-")
        b.set_device("cpp_standalone", directory=build_dir, build_on_run=False)
        b.prefs.devices.cpp_standalone.openmp_threads = arguments.threads
    else:
        b.prefs.codegen.target = "numpy"
    b.prefs.core.default_float_dtype = getattr(np, arguments.precision)
    b.seed(arguments.seed)
    b.defaultclock.dt = arguments.dt_ms * b.ms

    n = arguments.n
    n_exc = int(n * 0.8)
    taum, taue, taui = 20 * b.ms, 5 * b.ms, 10 * b.ms
    vt, vr, el = -50 * b.mV, -60 * b.mV, -49 * b.mV
    eqs = """
    dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
    dge/dt = -ge/taue : volt
    dgi/dt = -gi/taui : volt
    """
    namespace = {"taum": taum, "taue": taue, "taui": taui, "Vt": vt, "Vr": vr, "El": el}
    group = b.NeuronGroup(
        n,
        eqs,
        threshold="v>Vt",
        reset="v = Vr",
        refractory=5 * b.ms,
        method="exact",
        namespace=namespace,
    )
    group.v = "Vr + rand() * (Vt - Vr)"
    group.ge = 0 * b.mV
    group.gi = 0 * b.mV
    we = (60 * 0.27 / 10) * b.mV
    wi = (-20 * 4.5 / 10) * b.mV
    excitatory = b.Synapses(group, group, on_pre="ge += we", namespace={"we": we})
    inhibitory = b.Synapses(group, group, on_pre="gi += wi", namespace={"wi": wi})
    p = 0.02 if arguments.indegree is None else arguments.indegree / n
    excitatory.connect(f"i<{n_exc}", p=p)
    inhibitory.connect(f"i>={n_exc}", p=p)
    spikes = b.SpikeMonitor(group)
    initial_v = None
    if arguments.save and arguments.mode == "runtime":
        initial_v = np.asarray(group.v[:] / b.volt)

    network = b.Network(b.collect())
    run_started = time.perf_counter()
    network.run(arguments.duration_ms * b.ms)
    run_s = time.perf_counter() - run_started
    if arguments.mode == "standalone":
        # Code generation and compilation are set-up; the simulation time is what
        # Brian2 measures itself around the main loop.
        b.device.build(directory=build_dir, compile=True, run=True, debug=False)
        simulation_s = float(b.device._last_run_time)
        setup_s = time.perf_counter() - started - simulation_s
    else:  # runtime mode generates its code inside run(); it is counted as simulation
        simulation_s = run_s
        setup_s = time.perf_counter() - started - simulation_s

    spike_i = np.asarray(spikes.i[:])
    spike_t = np.asarray(spikes.t[:] / b.second)
    count = int(spike_i.size)
    rate_hz = count / n / (arguments.duration_ms / 1000.0)
    if arguments.save:
        steps = np.rint(spike_t / (arguments.dt_ms / 1000.0)).astype(np.int32)
        np.savez_compressed(
            arguments.save,
            n=n,
            n_exc=n_exc,
            dt=arguments.dt_ms / 1000.0,
            duration=arguments.duration_ms / 1000.0,
            exc_i=np.asarray(excitatory.i[:], dtype=np.int32),
            exc_j=np.asarray(excitatory.j[:], dtype=np.int32),
            inh_i=np.asarray(inhibitory.i[:], dtype=np.int32),
            inh_j=np.asarray(inhibitory.j[:], dtype=np.int32),
            v0=initial_v if initial_v is not None else np.array([]),
            spike_i=spike_i.astype(np.int32),
            spike_step=steps,
            brian2_version=b.__version__,
        )
    print(
        json.dumps(
            {
                "peer": "brian2",
                "version": b.__version__,
                "mode": arguments.mode,
                "precision": arguments.precision,
                "n": n,
                "synapses": int(len(excitatory) + len(inhibitory)),
                "simulation_s": simulation_s,
                "setup_s": setup_s,
                "spikes": count,
                "rate_hz": rate_hz,
                "cv_isi": cv_isi(spike_i, spike_t),
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            }
        )
    )


def cv_isi(neuron: np.ndarray, time_s: np.ndarray) -> float:
    """Mean over neurons with at least 3 spikes of the coefficient of variation of ISIs."""
    order = np.lexsort((time_s, neuron))
    neuron, time_s = neuron[order], time_s[order]
    cvs = []
    # one pass over the sorted spikes (a mask per neuron would be quadratic at 400,000 neurons)
    for train in np.split(time_s, np.flatnonzero(np.diff(neuron)) + 1):
        isi = np.diff(train)
        if isi.size >= 2 and isi.mean() > 0:
            cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else float("nan")


if __name__ == "__main__":
    main()
