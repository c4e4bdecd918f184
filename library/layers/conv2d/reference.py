"""2D convolution layer (NumPy).

``init`` draws its weights, ``forward`` applies it (inference).
"""

import numpy as np


def init(params, rng):
    c_in, c_out = int(params["in_channels"]), int(params["out_channels"])
    k = int(params["kernel_size"])
    bound = 1.0 / np.sqrt(c_in * k * k)
    return {
        "weight": rng.uniform(-bound, bound, (c_out, c_in, k, k)),
        "bias": rng.uniform(-bound, bound, c_out),
    }


def forward(x, params, weights):
    stride, pad = int(params["stride"]), int(params["padding"])
    w, b = weights["weight"], weights["bias"]
    x = np.pad(np.asarray(x), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, _, height, width = x.shape
    c_out, _, k, _ = w.shape
    out_h, out_w = (height - k) // stride + 1, (width - k) // stride + 1
    y = np.empty((n, c_out, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            patch = x[:, :, i * stride : i * stride + k, j * stride : j * stride + k]
            y[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w) + b
    return y
