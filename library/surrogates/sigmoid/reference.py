"""Sigmoid surrogate.

The pseudo-derivative of the spike function at x = v - v_threshold.
"""

import numpy as np


def grad(x, alpha):
    x = np.asarray(x, dtype=np.float64)
    return alpha * (1.0 / (1.0 + np.exp(-alpha * x))) * (1.0 - 1.0 / (1.0 + np.exp(-alpha * x)))
