"""Torch modules of the spiking training path."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

from torch import Tensor, nn

from simcore.train.functional import LIFParams, LIFState, lif_sequence, unroll

Backend = Literal["triton", "torch"]
Synapse = Literal["current", "delta", "integrator"]
SequenceFn = Callable[[Tensor, LIFState | None, LIFParams, float], tuple[Tensor, LIFState]]


def triton_available() -> bool:
    """Whether Triton imports here (it ships with PyPI's torch on Linux, not elsewhere)."""
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def sequence_fn(backend: Backend) -> SequenceFn:
    """The whole-sequence function of a backend; all share ``lif_sequence``'s signature."""
    if backend == "torch":
        return lif_sequence
    if backend == "triton":
        # imported on first use: Triton is optional, and TRITON_INTERPRET is read at import
        from simcore.train.kernels.lif_triton import lif_sequence_triton

        return lif_sequence_triton
    raise ValueError(f"unknown backend {backend!r}; known: 'auto', 'triton', 'torch'")


class LIF(nn.Module):
    """A population of LIF neurons (any shape per step: dense ``[N]`` or a convolution's
    ``[C, H, W]``) unrolled over time.

    Takes inputs ``[T, B, ...]`` (and optionally a :class:`LIFState`) and returns
    ``(outputs[T, B, ...], final_state)``. ``synapse`` picks the neuron: ``"current"``
    (current-based, the default: inputs are jumps of the synaptic current), ``"delta"`` (inputs
    jump the membrane potential) or ``"integrator"`` (never spikes; the outputs are ``v``, for a
    membrane read-out). ``backend="auto"`` runs the fused Triton kernel for the current-based
    neuron on CUDA tensors and the plain-Torch reference otherwise; ``"triton"`` or ``"torch"``
    forces one. After a call, :attr:`backend` says which one ran (None before the first call).
    """

    def __init__(
        self,
        params: LIFParams | None = None,
        dt: float = 1e-3,
        backend: Literal["auto", "triton", "torch"] = "auto",
        synapse: Synapse = "current",
    ) -> None:
        super().__init__()
        if backend not in ("auto", "triton", "torch"):
            raise ValueError(f"unknown backend {backend!r}; known: 'auto', 'triton', 'torch'")
        if synapse not in ("current", "delta", "integrator"):
            raise ValueError(f"unknown synapse {synapse!r}; known: current, delta, integrator")
        if backend == "triton" and synapse != "current":
            raise ValueError(f"the Triton kernel runs the current-based neuron, not {synapse!r}")
        self.params = params if params is not None else LIFParams()
        self.dt = dt
        self.synapse: Synapse = synapse
        self.requested_backend = backend
        self.backend: Backend | None = None

    def choose_backend(self, inputs: Tensor) -> Backend:
        """The backend a call with ``inputs`` runs on."""
        if self.requested_backend != "auto":
            return self.requested_backend
        fused = self.synapse == "current" and inputs.is_cuda and triton_available()
        return "triton" if fused else "torch"

    def forward(self, inputs: Tensor, state: LIFState | None = None) -> tuple[Tensor, LIFState]:
        backend = self.choose_backend(inputs)
        fn = sequence_fn(backend) if self.synapse == "current" else partial(unroll, self.synapse)
        out = fn(inputs, state, self.params, self.dt)
        self.backend = backend
        return out

    def extra_repr(self) -> str:
        return (
            f"{self.params}, dt={self.dt}, synapse={self.synapse!r}, "
            f"backend={self.requested_backend!r}"
        )
