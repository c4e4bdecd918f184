"""CUBA (Vogels & Abbott 2005, Brian2's examples/CUBA.py): simcore against Brian2's C++
standalone mode and NEST, side by side, at N = 4,000 / 40,000 / 400,000 neurons.

N = 4,000 connects with Brian2's p = 0.02; larger networks keep 80 inputs per neuron (simcore
and NEST: a fixed in-degree of 64 excitatory + 16 inhibitory; Brian2: p = 80/N), weights
unchanged. NEST runs its ``iaf_psc_exp`` neuron (``bench/peers/nest_cuba.py`` says how it maps
onto Brian2's equations). All run 1 s of biological time at dt = 0.1 ms, the peers on the
fastest of the thread counts tried, recording every spike (NEST counts every spike and
records those of 4,000 neurons: its spike recorder costs about 30 kB per neuron). simcore runs
in float32 unless ``--precision float64`` (its spike statistics match either way; float64 is
what exact parity with Brian2 needs); Brian2 runs in float64, its default, unless
``--brian2-precision float32``. The table's header and the JSON say which.
Simulation time and set-up time are reported apart (simcore: ``simcore.build``;
Brian2: code generation, compilation and its own network construction; NEST: creating and
connecting the network and ``nest.Prepare``). Each simulator runs in a child process of its
own, so peak memory (max RSS) is its own. The memory-bound runs here vary by up to 2x from run
to run on a shared host, so simcore and Brian2 are each timed ``--repeat`` times (3; Brian2 at
each thread count), taking turns so that a slow spell falls on both, and their fastest run is
kept, as ``timeit`` does; the JSON lists all of simcore's. NEST runs once (minutes at 400,000
neurons).

Brian2 runs in its own environment (``$SPIKEX_CACHE_DIR/brian2-env``, made here if missing):
Brian2 2.9 needs NumPy < 2.4, which the project does not pin. NEST too (``nest-env``, with
``nest-simulator`` from PyPI); a peer that cannot be installed or fails is left out (null
fields, the reason printed). ``--no-brian2`` and ``--no-nest`` leave them out.

    just bench cuba                                   # the full table (the peers take minutes)
    just bench cuba --sizes 4000,40000 --duration 0.2 # a quick look

The last line printed is one JSON object: {"bench": "cuba", "results": [...]}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from peer_env import peer_python

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT / "bench" / "peers"


def simcore_child(n: int, duration: float, threads: int, precision: str) -> dict[str, float]:
    """Runs in a child process: build and run CUBA in simcore, report figures as JSON."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import simcore
    from tests.simcore_models import cuba, rate_and_cv

    wiring = {"probability": 0.02} if n <= 4000 else {"indegree": 80}
    spec = cuba(n, seed=1, precision=precision, **wiring)
    started = time.perf_counter()
    simulation = simcore.build(spec, threads=threads)
    setup = time.perf_counter() - started
    neurons, steps = [], []
    started = time.perf_counter()
    for frame in simulation.run(duration, frame_every=0.1):
        neurons.append(frame.spikes["exc_spikes"].neurons)
        neurons.append(frame.spikes["inh_spikes"].neurons + np.uint32(n * 4 // 5))
        steps.append(frame.spikes["exc_spikes"].steps)
        steps.append(frame.spikes["inh_spikes"].steps)
    run = time.perf_counter() - started
    all_neurons, all_steps = np.concatenate(neurons), np.concatenate(steps)
    rate, cv = rate_and_cv(n, duration, all_neurons, all_steps)
    synapses = sum(simulation.n_synapses(p.id) for p in spec.projections)
    used = {simulation.population_precision(p.id) for p in spec.populations}
    return {
        "precision": "/".join(sorted(used)),
        "setup_s": setup,
        "run_s": run,
        "spikes": int(all_neurons.size),
        "rate_hz": rate,
        "cv_isi": cv,
        "synapses": synapses,
        "events": simulation.synaptic_events,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def last_json(output: str) -> dict:
    for line in reversed(output.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON in the output:\n{output[-2000:]}")


def run_simcore(n: int, duration: float, threads: int, precision: str, timeout: float) -> dict:
    command = [sys.executable, __file__, "--child", str(n), "--duration", str(duration)]
    command += ["--threads", str(threads), "--precision", precision]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=True, cwd=ROOT
    )
    return last_json(done.stdout)


def run_peer(label: str, n: int, command: list[str], threads: int, timeout: float) -> dict | None:
    """One run of a peer's script; None (with the reason printed) if it fails or times out."""
    # idle OpenMP threads sleep rather than spin, so a busy machine does not punish them
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=True, cwd=ROOT, env=env
        )
    except subprocess.TimeoutExpired:
        print(f"{label} at N = {n} took over {timeout:.0f} s; left out", file=sys.stderr)
        return None
    except subprocess.CalledProcessError as error:
        print(f"{label} at N = {n} failed:\n{error.stderr[-3000:]}", file=sys.stderr)
        return None
    figures = last_json(done.stdout)
    figures["threads"] = threads
    return figures


def fastest(
    label: str, n: int, command: list[str], threads: list[int], timeout: float
) -> dict | None:
    """The fastest run of a peer over the thread counts (one run each; None if all failed)."""
    runs = [run_peer(label, n, [*command, "--threads", str(t)], t, timeout) for t in threads]
    return min(filter(None, runs), key=lambda run: run["simulation_s"], default=None)


def peer_command(
    label: str, folder: str, probe: str, required: list[str], script: str, n: int
) -> list[str] | None:
    """The command line that runs ``script`` in the peer's environment (fixed in-degree 80
    above N = 4,000, as simcore); None (with the reason printed) if it cannot be set up."""
    try:
        python = peer_python(folder, label, probe, required)
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"{label} could not be installed ({error}); left out", file=sys.stderr)
        return None
    command = [str(python), str(PEERS / script), "--n", str(n)]
    return command + (["--indegree", "80"] if n > 4000 else [])


def brian2_command(n: int, duration: float, precision: str) -> list[str] | None:
    """The command line of one Brian2 C++ standalone run (its thread count left to add);
    None (with the reason printed) if Brian2 cannot be set up."""
    command = peer_command(
        "Brian2", "brian2-env", "import brian2", ["brian2", "numpy<2.4"], "brian2_cuba.py", n
    )
    if command is None:
        return None
    command += ["--mode", "standalone", "--duration-ms", str(duration * 1000)]
    return [*command, "--precision", precision]


def best_nest(n: int, duration: float, threads: list[int], timeout: float) -> dict | None:
    """NEST (``iaf_psc_exp``) at its fastest over the thread counts tried."""
    command = peer_command("NEST", "nest-env", "import nest", ["nest-simulator"], "nest_cuba.py", n)
    if command is None:
        return None
    command += ["--duration-ms", str(duration * 1000)]
    return fastest("NEST", n, command, threads, timeout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default="4000,40000,400000", help="comma-separated N")
    parser.add_argument("--duration", type=float, default=1.0, help="biological seconds")
    parser.add_argument(
        "--threads", type=int, default=2, help="simcore threads (the peers also try this many)"
    )
    parser.add_argument(
        "--brian2-threads",
        default=None,
        help="comma-separated thread counts to try for Brian2, the fastest is kept "
        "(default: 1 and --threads)",
    )
    parser.add_argument(
        "--precision",
        choices=["float32", "float64"],
        default="float32",
        help="simcore's state type (default float32)",
    )
    parser.add_argument(
        "--brian2-precision",
        choices=["float64", "float32"],
        default="float64",
        help="Brian2's default_float_dtype (default float64, Brian2's own default)",
    )
    parser.add_argument(
        "--nest-threads",
        default=None,
        help="comma-separated thread counts to try for NEST, the fastest is kept "
        "(default: --threads)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of simcore and of Brian2 (per thread count) at each size; the fastest is kept",
    )
    parser.add_argument("--no-brian2", action="store_true", help="leave Brian2 out")
    parser.add_argument("--no-nest", action="store_true", help="leave NEST out")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child is not None:
        figures = simcore_child(
            arguments.child, arguments.duration, arguments.threads, arguments.precision
        )
        print(json.dumps(figures))
        return

    duration, threads = arguments.duration, arguments.threads
    sizes = [int(size) for size in arguments.sizes.split(",") if size.strip()]

    def thread_counts(option: str) -> list[int]:
        return sorted({int(t) for t in option.split(",") if t.strip()})

    brian2_threads = thread_counts(arguments.brian2_threads or f"1,{threads}")
    # One try: NEST takes minutes per simulated second at 400,000 neurons.
    nest_threads = thread_counts(arguments.nest_threads or f"{threads}")
    results = []
    header = (
        f"{'N':>8} {'simcore s/s':>11} {'Brian2 s/s':>10} {'ratio':>6} {'rate Hz':>8} "
        f"{'B2 rate':>8} {'spikes':>9} {'B2 spikes':>9} {'setup s':>8} {'B2 setup':>8} "
        f"{'MB':>6} {'B2 MB':>6} {'events/s':>10} {'B2 threads':>10} | {'NEST s/s':>8} "
        f"{'ratio':>6} {'rate Hz':>8} {'spikes':>9} {'setup s':>8} {'MB':>6} {'threads':>7}"
    )
    repeat = max(1, arguments.repeat)
    print(
        f"CUBA, {duration:g} s biological, dt = 0.1 ms; simcore on {threads} threads, Brian2 "
        f"C++ standalone on the fastest of {brian2_threads} threads, NEST (iaf_psc_exp) on the "
        f"fastest of {nest_threads}; simcore and Brian2 each the fastest of "
        f"{repeat} runs; simcore in {arguments.precision}, Brian2 in "
        f"{arguments.brian2_precision}, NEST in float64; s/s: seconds per simulated second; "
        "ratio: the peer's s/s over simcore's",
        flush=True,
    )
    print(header, flush=True)
    for n in sizes:
        command = (
            None if arguments.no_brian2 else brian2_command(n, duration, arguments.brian2_precision)
        )
        # simcore and Brian2 take turns, so that a slow spell of a shared host falls on both;
        # Brian2 at its fastest over the thread counts tried (its OpenMP build can be slower
        # than its serial one on few, shared cores; 1: no OpenMP)
        runs, peer_runs = [], []
        for _ in range(repeat):
            runs.append(run_simcore(n, duration, threads, arguments.precision, arguments.timeout))
            if command is not None:
                peer_runs.append(fastest("Brian2", n, command, brian2_threads, arguments.timeout))
        ours = min(runs, key=lambda run: run["run_s"])
        peer = min(filter(None, peer_runs), key=lambda run: run["simulation_s"], default=None)
        nest = (
            None if arguments.no_nest else best_nest(n, duration, nest_threads, arguments.timeout)
        )
        simcore_s = ours["run_s"] / duration
        brian2_s = peer["simulation_s"] / duration if peer else None
        nest_s = nest["simulation_s"] / duration if nest else None
        result = {
            "n": n,
            "simcore_s": round(simcore_s, 4),
            "simcore_runs_s": [round(run["run_s"] / duration, 4) for run in runs],
            "brian2_s": round(brian2_s, 4) if brian2_s is not None else None,
            "ratio": round(brian2_s / simcore_s, 2) if brian2_s is not None else None,
            "rate_hz": round(ours["rate_hz"], 3),
            "brian2_rate_hz": round(peer["rate_hz"], 3) if peer else None,
            "simcore_peak_mb": round(ours["peak_mb"], 1),
            "brian2_peak_mb": round(peer["peak_mb"], 1) if peer else None,
            "simcore_setup_s": round(ours["setup_s"], 3),
            "brian2_setup_s": round(peer["setup_s"], 3) if peer else None,
            "syn_events_per_s": round(ours["events"] / ours["run_s"]),
            "precision": ours["precision"],
            "brian2_precision": peer["precision"] if peer else None,
            "nest_s": round(nest_s, 4) if nest_s is not None else None,
            "nest_ratio": round(nest_s / simcore_s, 2) if nest_s is not None else None,
            "nest_rate_hz": round(nest["rate_hz"], 3) if nest else None,
            "nest_setup_s": round(nest["setup_s"], 3) if nest else None,
            "nest_peak_mb": round(nest["peak_mb"], 1) if nest else None,
        }
        results.append(result)

        def cell(value: object, width: int, spec: str) -> str:
            return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"

        print(
            f"{n:>8} {simcore_s:>11.3f} {cell(brian2_s, 10, '.3f')} "
            f"{cell(result['ratio'], 6, '.1f')} {ours['rate_hz']:>8.2f} "
            f"{cell(result['brian2_rate_hz'], 8, '.2f')} {ours['spikes']:>9} "
            f"{cell(peer['spikes'] if peer else None, 9, '')} {ours['setup_s']:>8.2f} "
            f"{cell(result['brian2_setup_s'], 8, '.2f')} {ours['peak_mb']:>6.0f} "
            f"{cell(result['brian2_peak_mb'], 6, '.0f')} {result['syn_events_per_s']:>10.3g} "
            f"{cell(peer['threads'] if peer else None, 10, '')} | {cell(nest_s, 8, '.3f')} "
            f"{cell(result['nest_ratio'], 6, '.1f')} {cell(result['nest_rate_hz'], 8, '.2f')} "
            f"{cell(nest['spikes'] if nest else None, 9, '')} "
            f"{cell(result['nest_setup_s'], 8, '.2f')} {cell(result['nest_peak_mb'], 6, '.0f')} "
            f"{cell(nest['threads'] if nest else None, 7, '')}",
            flush=True,
        )
    print(json.dumps({"bench": "cuba", "results": results}))


if __name__ == "__main__":
    main()
