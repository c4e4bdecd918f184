"""The Torch training path: surrogate-gradient LIF layers (Triton kernels under ``kernels/``).

Importing ``simcore`` or ``simcore.spec`` does not import this package (nor torch).
"""

from simcore.train.functional import (
    LIFCoefficients,
    LIFParams,
    LIFState,
    initial_state,
    lif_coefficients,
    lif_sequence,
    lif_step,
)
from simcore.train.layers import LIF, sequence_fn, triton_available
from simcore.train.surrogate import SURROGATES, Surrogate, spike_fn, surrogate

__all__ = [
    "LIF",
    "SURROGATES",
    "LIFCoefficients",
    "LIFParams",
    "LIFState",
    "Surrogate",
    "initial_state",
    "lif_coefficients",
    "lif_sequence",
    "lif_step",
    "sequence_fn",
    "spike_fn",
    "surrogate",
    "triton_available",
]
