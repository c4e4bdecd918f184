"""NEST's CUBA network (Vogels & Abbott 2005, as in Brian2's examples/CUBA.py), the third
column of ``bench/cuba.py``, built with NEST's own ``iaf_psc_exp`` neuron.

How Brian2's CUBA (``brian2_cuba.py``) maps onto ``iaf_psc_exp``:

- ``dv/dt = (ge + gi - (v - El)) / taum`` is ``dV/dt = -(V - E_L) / tau_m + I_syn / C_m``
  with ``I_syn = (ge + gi) * C_m / taum``: ``ge`` and ``gi`` are in volts, NEST's synaptic
  currents in pA, so a weight of ``w`` mV becomes ``w * C_m / tau_m`` pA (NEST's default
  ``C_m`` of 250 pF, 12.5 pA per mV): we = 1.62 mV -> 20.25 pA, wi = -9 mV -> -112.5 pA.
  NEST sends negative weights to its inhibitory current.
- tau_m 20 ms, tau_syn_ex 5 ms (taue), tau_syn_in 10 ms (taui), E_L -49 mV, V_th -50 mV,
  V_reset -60 mV, t_ref 5 ms (V clamped at V_reset while refractory, the currents go on
  decaying and summing inputs: Brian2's ``(unless refractory)``), no external current.
  Both integrate the linear system exactly (NEST's propagators, Brian2's ``method="exact"``).
- V_m starts uniform in [V_reset, V_th) and the currents at 0, as in the Brian2 peer.
- Connectivity follows simcore's side of ``bench/cuba.py``: by default each pair is connected
  with p = 0.02 (``pairwise_bernoulli``, Brian2's rule); with ``--indegree`` each neuron
  receives 80 % of that many inputs from the excitatory and 20 % from the inhibitory neurons
  (``fixed_indegree``, self-connections allowed, no pair twice).

What differs: with ``--indegree``, Brian2 connects each pair with p = indegree / N, so its
in-degrees vary (binomially) around the mean that NEST and simcore fix, and it fires a little
faster (about 5.6 Hz against 5.2 Hz in NEST and simcore; with p = 0.02 the three agree at
5.3-6 Hz); Brian2's threshold is ``v > Vt``, NEST's ``V_m >= V_th``; Brian2 delivers a spike
within the step it is emitted (delay 0, felt by v from the next step), NEST's smallest delay is
one step (0.1 ms), so its spikes arrive one step later; the random streams differ, so only the
statistics (rate, CV of ISIs) can agree. NEST exchanges spikes once per minimum delay, here
every step, its slowest regime: with 1 ms delays (another network) it runs about 3.5 times
faster at N = 40,000.

Set-up time is the creation and connection of the network plus ``nest.Prepare()``, where
NEST sorts the connections and builds its spike-delivery tables (``nest.Simulate`` is
``Prepare``, ``Run``, ``Cleanup``; ``prepare_s`` reports that part alone); the simulation time
is ``nest.Run`` alone. Runs in NEST's own environment (made by ``bench/cuba.py`` in the
cache dir) and prints one JSON object with its figures.

    NEST_PYTHON bench/peers/nest_cuba.py --n 40000 --indegree 80 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np
from brian2_cuba import cv_isi

# Brian2's CUBA parameters (mV, ms)
TAU_M, TAU_E, TAU_I = 20.0, 5.0, 10.0
V_T, V_R, E_L = -50.0, -60.0, -49.0
REFRACTORY = 5.0
W_E, W_I = 60 * 0.27 / 10, -20 * 4.5 / 10
C_M = 250.0  # pF; any value works with the weights scaled by C_M / TAU_M
# A spike recorder costs NEST about 30 kB per neuron connected to it (each source gets its own
# device connector, allocated a block at a time): 12 GB for all 400,000 neurons. So it records a
# sample, for the CV of ISIs, and the spike count is NEST's own counter over every neuron.
RECORDED = 4000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument(
        "--indegree",
        type=int,
        default=None,
        help="fixed in-degree, inputs per neuron from E and I together; default: each pair "
        "connected with p = 0.02",
    )
    parser.add_argument("--duration-ms", type=float, default=1000.0)
    parser.add_argument("--dt-ms", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=1, help="NEST's local_num_threads")
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()

    os.environ.setdefault("PYNEST_QUIET", "1")  # no banner on stdout
    import nest

    nest.verbosity = nest.VerbosityLevel.WARNING
    nest.ResetKernel()
    nest.SetKernelStatus(
        {
            "resolution": arguments.dt_ms,
            "local_num_threads": arguments.threads,
            "rng_seed": arguments.seed,
        }
    )
    n = arguments.n
    n_exc = n * 4 // 5
    started = time.perf_counter()
    neurons = nest.Create(
        "iaf_psc_exp",
        n,
        params={
            "C_m": C_M,
            "tau_m": TAU_M,
            "tau_syn_ex": TAU_E,
            "tau_syn_in": TAU_I,
            "E_L": E_L,
            "V_th": V_T,
            "V_reset": V_R,
            "t_ref": REFRACTORY,
            "I_e": 0.0,
            "V_m": nest.random.uniform(V_R, V_T),
        },
    )
    recorder = nest.Create("spike_recorder")
    recorded = neurons[: min(n, RECORDED)]
    pa_per_mv = C_M / TAU_M
    for sources, share, weight in ((neurons[:n_exc], 4, W_E), (neurons[n_exc:], 1, W_I)):
        if arguments.indegree is None:
            rule = {"rule": "pairwise_bernoulli", "p": 0.02, "allow_autapses": True}
        else:
            rule = {
                "rule": "fixed_indegree",
                "indegree": arguments.indegree * share // 5,
                "allow_autapses": True,
                "allow_multapses": False,
            }
        synapse = {"synapse_model": "static_synapse", "weight": weight * pa_per_mv}
        nest.Connect(sources, neurons, rule, {**synapse, "delay": arguments.dt_ms})
    nest.Connect(recorded, recorder)
    prepare_started = time.perf_counter()
    nest.Prepare()
    prepared = time.perf_counter()
    nest.Run(arguments.duration_ms)
    simulation_s = time.perf_counter() - prepared
    nest.Cleanup()

    events = recorder.get("events")
    spike_i = np.asarray(events["senders"]) - neurons[0].global_id
    spike_t = np.asarray(events["times"]) / 1000.0
    count = int(nest.GetKernelStatus("local_spike_counter"))
    print(
        json.dumps(
            {
                "peer": "nest",
                "version": nest.__version__,
                "model": "iaf_psc_exp",
                "threads": nest.GetKernelStatus("local_num_threads"),
                "n": n,
                "synapses": nest.GetKernelStatus("num_connections") - len(recorded),
                "simulation_s": simulation_s,
                "setup_s": prepared - started,
                "prepare_s": prepared - prepare_started,
                "spikes": count,
                "rate_hz": count / n / (arguments.duration_ms / 1000.0),
                "recorded": len(recorded),
                "recorded_spikes": int(spike_i.size),
                "cv_isi": cv_isi(spike_i, spike_t),
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
