"""Poisson spike trains: a Bernoulli draw per output and step (SI units)."""


def generate(params, n, dt, steps, rng):
    return rng.random((steps, n)) < params["rate"] * dt
