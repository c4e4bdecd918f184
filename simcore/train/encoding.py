"""Input encodings (values in [0, 1] -> spike trains) and read-outs (outputs -> class scores)
of the spiking path, as pure functions."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Encoding = Literal["rate", "latency"]
Readout = Literal["rate", "first_spike", "membrane"]


def rate_encode(x: Tensor, steps: int, generator: torch.Generator | None = None) -> Tensor:
    """Bernoulli spikes ``[T, B, ...]``: each step, input ``j`` spikes with probability
    ``x_j`` (clamped to [0, 1])."""
    p = x.clamp(0.0, 1.0)
    draws = torch.rand((steps, *x.shape), generator=generator, device=x.device, dtype=p.dtype)
    return (draws < p).to(p.dtype)


def latency_encode(x: Tensor, steps: int) -> Tensor:
    """One spike per input ``[T, B, ...]``, earlier for larger values: ``x = 1`` at step 0,
    ``x -> 0`` at the last step; ``x <= 0`` never spikes."""
    p = x.clamp(0.0, 1.0)
    when = torch.round((1.0 - p) * (steps - 1)).long()
    time = torch.arange(steps, device=x.device).view(steps, *([1] * x.dim()))
    return ((time == when) & (p > 0)).to(p.dtype)


def encode(
    x: Tensor, encoding: Encoding, steps: int, generator: torch.Generator | None = None
) -> Tensor:
    if encoding == "rate":
        return rate_encode(x, steps, generator)
    if encoding == "latency":
        return latency_encode(x, steps)
    raise ValueError(f"unknown encoding {encoding!r}; known: rate, latency")


def read_out(outputs: Tensor, readout: Readout) -> Tensor:
    """Class scores ``[B, classes]`` from the last layer's outputs ``[T, B, classes]``.

    ``rate``: the spike count. ``first_spike``: minus the number of steps before the first
    spike (``T`` when there is none), written as a sum of running products of ``1 - z`` so that
    the surrogate gradient reaches it. ``membrane``: the highest ``v`` over time.
    """
    if readout == "rate":
        return outputs.sum(0)
    if readout == "first_spike":
        silent = torch.cumprod(1.0 - outputs, dim=0)  # 1 until the first spike, then 0
        return -silent.sum(0)
    if readout == "membrane":
        return outputs.amax(0)
    raise ValueError(f"unknown readout {readout!r}; known: rate, first_spike, membrane")
