"""Fast sigmoid (SuperSpike) surrogate.

The pseudo-derivative of the spike function at x = v - v_threshold.
"""

import numpy as np


def grad(x, alpha):
    x = np.asarray(x, dtype=np.float64)
    return 1.0 / (alpha * np.abs(x) + 1.0) ** 2
