"""Torch modules of the spiking training path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from torch import Tensor, nn

from simcore.train.functional import LIFParams, LIFState, lif_sequence

Backend = Literal["triton", "torch"]
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
    """A dense population of current-based LIF neurons unrolled over time.

    Takes input currents ``[T, B, N]`` (and optionally a :class:`LIFState`) and returns
    ``(spikes[T, B, N], final_state)``. ``backend="auto"`` runs the fused Triton kernel on CUDA
    tensors and the plain-Torch reference elsewhere; ``"triton"`` or ``"torch"`` forces one.
    After a call, :attr:`backend` says which one ran (None before the first call).
    """

    def __init__(
        self,
        params: LIFParams | None = None,
        dt: float = 1e-3,
        backend: Literal["auto", "triton", "torch"] = "auto",
    ) -> None:
        super().__init__()
        if backend not in ("auto", "triton", "torch"):
            raise ValueError(f"unknown backend {backend!r}; known: 'auto', 'triton', 'torch'")
        self.params = params if params is not None else LIFParams()
        self.dt = dt
        self.requested_backend = backend
        self.backend: Backend | None = None

    def choose_backend(self, inputs: Tensor) -> Backend:
        """The backend a call with ``inputs`` runs on."""
        if self.requested_backend != "auto":
            return self.requested_backend
        return "triton" if inputs.is_cuda and triton_available() else "torch"

    def forward(self, inputs: Tensor, state: LIFState | None = None) -> tuple[Tensor, LIFState]:
        backend = self.choose_backend(inputs)
        out = sequence_fn(backend)(inputs, state, self.params, self.dt)
        self.backend = backend
        return out

    def extra_repr(self) -> str:
        return f"{self.params}, dt={self.dt}, backend={self.requested_backend!r}"
