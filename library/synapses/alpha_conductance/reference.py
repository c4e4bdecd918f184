"""Alpha conductance synapse: the state after one spike of ``weight`` (SI units).

The conductance peaks at ``weight`` one ``tau`` after the arrival.
"""

import numpy as np


def kernel(params, weight, dt, steps):
    t = np.arange(steps) * dt
    return {"x": weight * (t / params["tau"]) * np.exp(1 - t / params["tau"])}
