"""Hodgkin-Huxley membrane patch, forward Euler (SI in and out; the rate functions use the
customary mV and 1/ms inside)."""

import math

import numpy as np


def _ratio(x, y):
    """x / (1 - exp(-x / y)), continuous at x = 0."""
    if abs(x) < 1e-7:
        return y
    return x / (1.0 - math.exp(-x / y))


def rates(v_mv):
    alpha_m = 0.1 * _ratio(v_mv + 40.0, 10.0)
    beta_m = 4.0 * math.exp(-(v_mv + 65.0) / 18.0)
    alpha_h = 0.07 * math.exp(-(v_mv + 65.0) / 20.0)
    beta_h = 1.0 / (1.0 + math.exp(-(v_mv + 35.0) / 10.0))
    alpha_n = 0.01 * _ratio(v_mv + 55.0, 10.0)
    beta_n = 0.125 * math.exp(-(v_mv + 65.0) / 80.0)
    return alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n


def simulate(params, current, dt):
    p = params
    v = -65e-3
    a_m, b_m, a_h, b_h, a_n, b_n = rates(v * 1e3)
    m, h, n = a_m / (a_m + b_m), a_h / (a_h + b_h), a_n / (a_n + b_n)
    dt_ms = dt * 1e3
    trace = np.empty(len(current))
    for k, amps in enumerate(current):
        trace[k] = v
        i_ion = (
            p["g_na"] * m**3 * h * (v - p["e_na"])
            + p["g_k"] * n**4 * (v - p["e_k"])
            + p["g_leak"] * (v - p["e_leak"])
        )
        a_m, b_m, a_h, b_h, a_n, b_n = rates(v * 1e3)
        v = v + dt * (amps - i_ion) / p["c_m"]
        m = m + dt_ms * (a_m * (1 - m) - b_m * m)
        h = h + dt_ms * (a_h * (1 - h) - b_h * h)
        n = n + dt_ms * (a_n * (1 - n) - b_n * n)
    return {"v": trace}
