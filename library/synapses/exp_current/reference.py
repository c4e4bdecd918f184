"""Exponential current synapse: the state after one spike of ``weight`` (SI units).

The current jumps by ``weight`` and decays exactly with ``tau``.
"""

import numpy as np


def kernel(params, weight, dt, steps):
    t = np.arange(steps) * dt
    return {"x": weight * np.exp(-t / params["tau"])}
