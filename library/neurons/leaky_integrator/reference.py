"""Leaky integrator, stepped exactly (SI units); it never spikes."""

import math

import numpy as np


def simulate(params, current, dt):
    tau, v_rest, r_m = params["tau_m"], params["v_rest"], params["r_m"]
    decay = math.exp(-dt / tau)
    trace = np.empty(len(current))
    v = v_rest
    for k, amps in enumerate(current):
        trace[k] = v
        v = v_rest + (v - v_rest) * decay + r_m * (1 - decay) * amps
    return {"v": trace}
