"""Leaky integrate-and-fire neuron, stepped exactly (SI units throughout).

Each step: count the refractory period down; if the neuron is free, move v with the exact
solution of the membrane equation for a current held constant over the step; if v is above
the threshold, emit a spike, reset v and start the refractory period.
"""

import math

import numpy as np


def simulate(params, current, dt):
    tau, v_rest, r_m = params["tau_m"], params["v_rest"], params["r_m"]
    v_reset, v_threshold = params["v_reset"], params["v_threshold"]
    refractory_steps = math.floor((params["refractory"] + 1e-3 * dt) / dt)
    decay = math.exp(-dt / tau)
    trace = np.empty(len(current))
    v, counter = v_rest, 0
    for k, amps in enumerate(current):
        trace[k] = v  # sampled at the start of the step
        counter = max(counter - 1, 0)
        if counter == 0:
            v = v_rest + (v - v_rest) * decay + r_m * (1 - decay) * amps
            if v > v_threshold:
                v, counter = v_reset, refractory_steps
    return {"v": trace}
