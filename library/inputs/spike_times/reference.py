"""Spike times: the raster of the listed spikes (SI units)."""

import math

import numpy as np


def generate(params, n, dt, steps, rng):
    raster = np.zeros((steps, n), dtype=bool)
    times = params["times"]
    indices = params.get("indices")
    for k, t in enumerate(times):
        step = math.floor(t / dt + 0.5)
        if indices is None:
            raster[step, :] = True
        else:
            raster[step, int(indices[k])] = True
    return raster
