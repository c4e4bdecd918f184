"""Delta synapse: the state after one spike of ``weight`` (SI units).

The membrane moves by ``weight`` once and keeps it (seen through a perfect integrator).
"""

import numpy as np


def kernel(params, weight, dt, steps):
    return {"x": np.full(steps, weight)}
