"""Perceptron (threshold unit) unit: the activation applied to the weighted sum z (elementwise)."""

import numpy as np


def forward(x, params):
    z = np.asarray(x, dtype=np.float64)
    return (z > params["threshold"]).astype(np.float64)
