"""Surrogate gradients: a Heaviside step forward, a smooth pseudo-derivative backward.

Each surrogate is a ``torch.autograd.Function`` taking ``x = v - v_th`` and a slope ``alpha``;
the forward is exactly ``x > 0`` (the engine's strict threshold), the backward multiplies the
incoming gradient by ``derivative(x, alpha)``. The same derivatives are written again in
``kernels/lif_triton.py`` (selected there by :attr:`Surrogate.code`); keep the two in step.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor


def fast_sigmoid_grad(x: Tensor, alpha: float) -> Tensor:
    """SuperSpike (Zenke & Ganguli 2018): ``1 / (alpha |x| + 1)^2``."""
    return 1.0 / (alpha * x.abs() + 1.0) ** 2


def arctan_grad(x: Tensor, alpha: float) -> Tensor:
    """Derivative of ``atan(pi/2 alpha x) / pi + 1/2`` (Fang et al. 2021): integrates to one."""
    return (alpha / 2.0) / (1.0 + (math.pi / 2.0 * alpha * x) ** 2)


def sigmoid_grad(x: Tensor, alpha: float) -> Tensor:
    """Derivative of ``sigmoid(alpha x)``: ``alpha s (1 - s)``."""
    s = torch.sigmoid(alpha * x)
    return alpha * s * (1.0 - s)


def triangle_grad(x: Tensor, alpha: float) -> Tensor:
    """Triangle of half-width ``1/alpha`` and unit area: ``alpha max(0, 1 - alpha |x|)``."""
    return alpha * torch.clamp(1.0 - alpha * x.abs(), min=0.0)


class _Heaviside(torch.autograd.Function):
    """Heaviside forward; subclasses name the pseudo-derivative used backward."""

    @staticmethod
    def grad(x: Tensor, alpha: float) -> Tensor:
        raise NotImplementedError

    @staticmethod
    def forward(ctx: Any, x: Tensor, alpha: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x > 0).to(x.dtype)

    @classmethod
    def backward(cls, ctx: Any, grad_out: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad_out * cls.grad(x, ctx.alpha), None


class FastSigmoid(_Heaviside):
    grad = staticmethod(fast_sigmoid_grad)


class ArcTan(_Heaviside):
    grad = staticmethod(arctan_grad)


class Sigmoid(_Heaviside):
    grad = staticmethod(sigmoid_grad)


class Triangle(_Heaviside):
    grad = staticmethod(triangle_grad)


class Surrogate(NamedTuple):
    """A registered surrogate: its autograd function, default slope and kernel code."""

    function: type[_Heaviside]
    alpha: float
    code: int  # the ``SURROGATE`` constexpr of the Triton backward kernel


SURROGATES: dict[str, Surrogate] = {
    "fast_sigmoid": Surrogate(FastSigmoid, 10.0, 0),
    "arctan": Surrogate(ArcTan, 2.0, 1),
    "sigmoid": Surrogate(Sigmoid, 4.0, 2),
    "triangle": Surrogate(Triangle, 1.0, 3),
}


def surrogate(name: str) -> Surrogate:
    """The surrogate registered as ``name``, or a ``ValueError`` listing the known ones."""
    try:
        return SURROGATES[name]
    except KeyError:
        raise ValueError(f"unknown surrogate {name!r}; known: {', '.join(SURROGATES)}") from None


def spike_fn(x: Tensor, name: str = "fast_sigmoid", alpha: float | None = None) -> Tensor:
    """Heaviside ``x > 0`` with the surrogate ``name`` (slope ``alpha``, or its default)."""
    s = surrogate(name)
    return s.function.apply(x, s.alpha if alpha is None else alpha)
