"""The Torch training path: models built from a ``ModelSpec``, surrogate-gradient LIF layers
(Triton kernels under ``kernels/``), the training loop and the exports.

``train(spec, dataset, ...) -> TrainResult`` is the entry point (``trainer.py``);
``build_model`` (``models.py``) the spec's layers as a Torch module; ``export.py`` writes
safetensors, ONNX, NIR and the configuration, and reads NIR back into a spec;
``to_engine.py`` carries a trained SNN over to the engine.

Importing ``simcore`` or ``simcore.spec`` does not import this package (nor torch).
"""

from simcore.train.encoding import encode, latency_encode, rate_encode, read_out
from simcore.train.export import (
    config_json,
    config_yaml,
    from_nir,
    load_config,
    load_weights,
    read_nir,
    save_weights,
    to_nir,
    to_onnx,
    write_nir,
)
from simcore.train.functional import (
    LIFCoefficients,
    LIFParams,
    LIFState,
    initial_state,
    li_step,
    lif_coefficients,
    lif_delta_step,
    lif_sequence,
    lif_step,
    unroll,
)
from simcore.train.layers import LIF, sequence_fn, triton_available
from simcore.train.models import ModelError, SpecModel, build_model
from simcore.train.surrogate import SURROGATES, Surrogate, spike_fn, surrogate
from simcore.train.to_engine import engine_spec, run_in_engine
from simcore.train.trainer import (
    EpochMetrics,
    Progress,
    TrainError,
    TrainMetrics,
    TrainResult,
    train,
)

__all__ = [
    "LIF",
    "SURROGATES",
    "EpochMetrics",
    "LIFCoefficients",
    "LIFParams",
    "LIFState",
    "ModelError",
    "Progress",
    "SpecModel",
    "Surrogate",
    "TrainError",
    "TrainMetrics",
    "TrainResult",
    "build_model",
    "config_json",
    "config_yaml",
    "encode",
    "engine_spec",
    "from_nir",
    "initial_state",
    "latency_encode",
    "li_step",
    "lif_coefficients",
    "lif_delta_step",
    "lif_sequence",
    "lif_step",
    "load_config",
    "load_weights",
    "rate_encode",
    "read_nir",
    "read_out",
    "run_in_engine",
    "save_weights",
    "sequence_fn",
    "spike_fn",
    "surrogate",
    "to_nir",
    "to_onnx",
    "train",
    "triton_available",
    "unroll",
    "write_nir",
]
