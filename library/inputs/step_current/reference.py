"""Step current: the amperes of each step, holding each amplitude from its time on."""

import math

import numpy as np


def current(params, dt, steps):
    amps = np.zeros(steps)
    for t, amplitude in zip(params["times"], params["amplitudes"], strict=True):
        amps[math.floor(t / dt + 0.5) :] = amplitude
    return amps
