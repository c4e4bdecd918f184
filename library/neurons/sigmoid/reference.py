"""Logistic sigmoid unit: the activation applied to the weighted sum z (elementwise)."""

import numpy as np


def forward(x, params):
    z = np.asarray(x, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-z))
