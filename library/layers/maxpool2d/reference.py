"""Max pooling layer (NumPy).

``init`` draws its weights, ``forward`` applies it (inference).
"""

import numpy as np


def init(params, rng):
    return {}


def forward(x, params, weights):
    k = int(params["kernel_size"])
    stride = int(params.get("stride", k))
    x = np.asarray(x)
    n, c, height, width = x.shape
    out_h, out_w = (height - k) // stride + 1, (width - k) // stride + 1
    y = np.empty((n, c, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, :, i * stride : i * stride + k, j * stride : j * stride + k]
            y[:, :, i, j] = window.max(axis=(2, 3))
    return y
