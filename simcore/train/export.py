"""Exports of a trained model: weights (safetensors), an ANN as ONNX, an SNN as NIR (and a NIR
graph back into a ``ModelSpec``), and the full configuration as JSON or YAML.

NIR conventions (``nir`` package, continuous-time parameters in seconds):

* ``cuba_lif`` <-> ``nir.CubaLIF`` with ``r = w_in = 1``: the layer's input is a jump of the
  synaptic current, in the units of ``v``; ``lif`` <-> ``nir.LIF`` with ``r = tau / dt``, so
  that an input of one moves ``v`` by one (snnTorch writes its ``Leaky`` the same way);
  ``li`` <-> ``nir.CubaLI``; ``linear`` <-> ``nir.Affine`` (``nir.Linear`` without bias);
  ``conv2d`` <-> ``nir.Conv2d``, ``avgpool2d`` <-> ``nir.AvgPool2d``, ``flatten`` <->
  ``nir.Flatten``.
* On import, a neuron's input scale that is not one (``r * w_in`` for the current-based
  neurons, as snnTorch's ``Synaptic`` and Norse's ``LIFCell`` are written; ``r * dt / tau``
  for ``nir.LIF``) is folded into the weights of the layer before it, one factor per output.
  The time step is not part of NIR: ``from_nir`` takes it (default: the spec's default).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import msgspec
import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from simcore.spec import Layer, ModelSpec, Simulation, SpecError, Training, Value
from simcore.train.models import ModelError, SpecModel, time_step


def save_weights(model: nn.Module, path: str | os.PathLike[str], spec: ModelSpec) -> None:
    """The model's tensors as safetensors (``layers.<id>.weight``...), with the spec as JSON
    in the file's metadata."""
    from safetensors.torch import save_file

    tensors = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    save_file(tensors, os.fspath(path), metadata={"spec": msgspec.json.encode(spec).decode()})


def load_weights(model: nn.Module, path: str | os.PathLike[str]) -> ModelSpec:
    """Loads weights written by :func:`save_weights` into ``model``; returns their spec."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    model.load_state_dict(load_file(os.fspath(path)))
    with safe_open(os.fspath(path), "pt") as handle:
        metadata = handle.metadata() or {}
    return msgspec.json.decode(metadata["spec"], type=ModelSpec)


def to_onnx(model: SpecModel, path: str | os.PathLike[str]) -> None:
    """An ANN as an ONNX graph with input ``input`` ``[batch, ...]`` and output ``scores``
    (the batch dimension is dynamic)."""
    if model.kind != "ann":
        raise ValueError("ONNX export is for ANNs; export an SNN with to_nir")
    was_training = model.training
    model.eval()
    example = torch.zeros(2, *model.input_shape)
    try:
        torch.onnx.export(
            model,
            (example,),
            os.fspath(path),
            input_names=["input"],
            output_names=["scores"],
            dynamic_axes={"input": {0: "batch"}, "scores": {0: "batch"}},
            # the TorchScript exporter: for these feed-forward stacks it writes the same graph
            # as the torch.export-based one in a tenth of the time (no tracing compiler)
            dynamo=False,
        )
    finally:
        model.train(was_training)


def config_json(spec: ModelSpec) -> bytes:
    return msgspec.json.format(msgspec.json.encode(spec), indent=2)


def config_yaml(spec: ModelSpec) -> bytes:
    return msgspec.yaml.encode(spec)


def load_config(data: bytes | str, format: Literal["json", "yaml"] = "json") -> ModelSpec:
    if format == "yaml":
        return msgspec.yaml.decode(data, type=ModelSpec)
    return msgspec.json.decode(data, type=ModelSpec)


# ------------------------------------------------------------------------------ NIR


def _np(tensor: torch.Tensor) -> npt.NDArray[np.float64]:
    return tensor.detach().cpu().double().numpy()


def to_nir(model: SpecModel, spec: ModelSpec) -> Any:
    """The SNN as a ``nir.NIRGraph``: ``input -> <layer ids in order> -> output``."""
    import nir

    if model.kind != "snn":
        raise ValueError("NIR export is for SNNs; export an ANN with to_onnx")
    dt = time_step(spec)
    nodes: dict[str, Any] = {"input": nir.Input({"input": np.array(model.input_shape)})}
    shape = np.array(model.input_shape)
    by_id = {layer.id: layer for layer in spec.layers}
    for name, module in model.layers.items():
        if isinstance(module, nn.Dropout):
            continue  # the identity at inference
        node = _nir_node(nir, by_id[name], module, shape, dt)
        nodes[name] = node
        shape = np.array(next(iter(node.output_type.values())))
    nodes["output"] = nir.Output({"output": shape})
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(nodes)))


def _nir_node(nir: Any, layer: Layer, module: nn.Module, shape: Any, dt: float) -> Any:
    path = f"layers/{layer.id}"
    if isinstance(module, nn.Linear):
        if module.bias is None:
            return nir.Linear(_np(module.weight))
        return nir.Affine(_np(module.weight), _np(module.bias))
    if isinstance(module, nn.Conv2d):
        bias = np.zeros(module.out_channels) if module.bias is None else _np(module.bias)
        return nir.Conv2d(
            input_shape=tuple(int(s) for s in shape[1:]),
            weight=_np(module.weight),
            stride=module.stride,
            padding=module.padding,
            dilation=module.dilation,
            groups=module.groups,
            bias=bias,
        )
    if isinstance(module, nn.AvgPool2d):
        pair = lambda v: np.array(v if isinstance(v, tuple) else (v, v))  # noqa: E731
        node = nir.AvgPool2d(pair(module.kernel_size), pair(module.stride), np.array([0, 0]))
        node.input_type = {"input": shape}
        kernel, stride = pair(module.kernel_size), pair(module.stride)
        node.output_type = {"output": np.array([shape[0], *((shape[1:] - kernel) // stride + 1)])}
        return node
    if isinstance(module, nn.Flatten):
        return nir.Flatten({"input": shape}, start_dim=0)
    from simcore.train.layers import LIF

    if isinstance(module, LIF):
        p = module.params
        full = lambda value: np.full(tuple(shape), float(value))  # noqa: E731
        if module.synapse == "current":
            return nir.CubaLIF(
                tau_syn=full(p.tau_syn),
                tau_mem=full(p.tau_mem),
                r=full(1.0),
                v_leak=full(p.v_leak),
                v_threshold=full(p.v_th),
                v_reset=full(p.v_reset),
                w_in=full(1.0),
            )
        if module.synapse == "delta":
            return nir.LIF(
                tau=full(p.tau_mem),
                r=full(p.tau_mem / dt),
                v_leak=full(p.v_leak),
                v_threshold=full(p.v_th),
                v_reset=full(p.v_reset),
            )
        return nir.CubaLI(
            tau_syn=full(p.tau_syn),
            tau_mem=full(p.tau_mem),
            r=full(1.0),
            v_leak=full(p.v_leak),
            w_in=full(1.0),
        )
    raise ModelError(
        [SpecError(path, f"{layer.kind} has no NIR node (NIR knows no max pooling or batch norm)")]
    )


def from_nir(
    graph: Any, *, name: str = "imported", dt: float = 1e-4, time_steps: int = 100
) -> tuple[ModelSpec, dict[str, torch.Tensor]]:
    """A NIR graph (a chain from its input to its output) as an SNN ``ModelSpec`` and the
    weights of its layers (``layers.<id>.<tensor>``, ready for ``SpecModel.load_state_dict``).

    ``dt``: the step the graph's time constants are read with (seconds). Graphs with branches
    or recurrent edges raise ``ModelError``."""
    chain = list(_chain(graph))
    layers: list[Layer] = []
    weights: dict[str, torch.Tensor] = {}
    for node_id, node in chain:
        layer_id = _layer_id(node_id, {layer.id for layer in layers})
        kind = type(node).__name__
        if kind in ("Affine", "Linear"):
            weight = np.asarray(node.weight, dtype=np.float64)
            bias = np.asarray(node.bias, dtype=np.float64) if kind == "Affine" else None
            layers.append(
                Layer(
                    layer_id,
                    "linear",
                    {
                        "in_features": int(weight.shape[1]),
                        "out_features": int(weight.shape[0]),
                        "bias": bias is not None,
                    },
                )
            )
            weights[f"layers.{layer_id}.weight"] = torch.tensor(weight, dtype=torch.float32)
            if bias is not None:
                weights[f"layers.{layer_id}.bias"] = torch.tensor(bias, dtype=torch.float32)
        elif kind == "Conv2d":
            weight = np.asarray(node.weight, dtype=np.float64)
            if node.groups != 1 or _tuple(node.dilation) != (1, 1):
                raise ModelError([SpecError(f"nir/{node_id}", "grouped or dilated convolution")])
            if isinstance(node.padding, str):
                raise ModelError([SpecError(f"nir/{node_id}", "padding must be numbers")])
            layers.append(
                Layer(
                    layer_id,
                    "conv2d",
                    {
                        "in_channels": int(weight.shape[1]),
                        "out_channels": int(weight.shape[0]),
                        "kernel_size": tuple(int(k) for k in weight.shape[2:]),
                        "stride": _tuple(node.stride),
                        "padding": _tuple(node.padding),
                    },
                )
            )
            weights[f"layers.{layer_id}.weight"] = torch.tensor(weight, dtype=torch.float32)
            weights[f"layers.{layer_id}.bias"] = torch.tensor(
                np.asarray(node.bias, dtype=np.float64), dtype=torch.float32
            )
        elif kind in ("AvgPool2d", "SumPool2d"):
            if kind == "SumPool2d":
                raise ModelError([SpecError(f"nir/{node_id}", "sum pooling is not supported")])
            layers.append(
                Layer(
                    layer_id,
                    "avgpool2d",
                    {"kernel_size": _tuple(node.kernel_size), "stride": _tuple(node.stride)},
                )
            )
        elif kind == "Flatten":
            layers.append(Layer(layer_id, "flatten"))
        elif kind in ("CubaLIF", "LIF", "CubaLI"):
            layer, scale = _neuron_layer(layer_id, node, kind, dt)
            _fold_scale(layers, weights, scale, node_id)
            layers.append(layer)
        else:
            raise ModelError(
                [SpecError(f"nir/{node_id}", f"NIR node {kind} has no layer in SPIKE-X")]
            )
    readout = "membrane" if layers and layers[-1].kind == "li" else "rate"
    spec = ModelSpec(
        name=name,
        kind="snn",
        description="Imported from a NIR graph.",
        simulation=Simulation(dt=Value(unit="s", value=dt)),
        layers=tuple(layers),
        training=Training(time_steps=time_steps, encoding="rate", readout=readout),
    )
    return spec, weights


def _tuple(value: Any) -> tuple[int, ...]:
    array = np.atleast_1d(np.asarray(value)).astype(int)
    return tuple(int(v) for v in (array if array.size == 2 else np.repeat(array, 2)))


def _layer_id(node_id: str, taken: set[str]) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in str(node_id))[:60]
    if not cleaned or not (cleaned[0].isalpha() or cleaned[0] == "_"):
        cleaned = f"n{cleaned}"
    candidate, suffix = cleaned, 1
    while candidate in taken:
        candidate, suffix = f"{cleaned}_{suffix}", suffix + 1
    return candidate


def _chain(graph: Any) -> Iterator[tuple[str, Any]]:
    """The nodes between input and output, in order; only a single chain is accepted."""
    successors: dict[str, list[str]] = {}
    for source, target in graph.edges:
        successors.setdefault(source, []).append(target)
    inputs = [k for k, node in graph.nodes.items() if type(node).__name__ == "Input"]
    if len(inputs) != 1:
        raise ModelError([SpecError("nir", f"expected one input node, found {len(inputs)}")])
    current, seen = inputs[0], {inputs[0]}
    while True:
        following = successors.get(current, [])
        if len(following) != 1:
            raise ModelError(
                [SpecError(f"nir/{current}", "only a chain of layers can be imported")]
            )
        current = following[0]
        if current in seen:
            raise ModelError([SpecError(f"nir/{current}", "recurrent edges are not supported")])
        seen.add(current)
        node = graph.nodes[current]
        if type(node).__name__ == "Output":
            return
        yield current, node


def _ms(seconds: float) -> float:
    """Seconds as milliseconds, without the last-digit noise of the conversion."""
    return float(f"{seconds * 1e3:.12g}")


def _uniform(node_id: str, name: str, value: Any) -> float:
    array = np.asarray(value, dtype=np.float64)
    if array.size == 0 or not np.allclose(array, array.flat[0], rtol=1e-6, atol=0.0):
        raise ModelError(
            [SpecError(f"nir/{node_id}/{name}", "must be the same for every neuron of a layer")]
        )
    return float(array.flat[0])


def _neuron_layer(
    layer_id: str, node: Any, kind: str, dt: float
) -> tuple[Layer, npt.NDArray[np.float64]]:
    """The layer for a NIR neuron and the factor each neuron's input is scaled by."""
    r = np.asarray(node.r, dtype=np.float64)
    if kind == "LIF":
        tau_mem = _uniform(layer_id, "tau", node.tau)
        scale = r * dt / np.asarray(node.tau, dtype=np.float64)
        parameters: dict[str, Any] = {"tau_mem": _ms(tau_mem)}
        new_kind = "lif"
    else:
        tau_mem = _uniform(layer_id, "tau_mem", node.tau_mem)
        parameters = {
            "tau_mem": _ms(tau_mem),
            "tau_syn": _ms(_uniform(layer_id, "tau_syn", node.tau_syn)),
        }
        scale = r * np.asarray(node.w_in, dtype=np.float64)
        new_kind = "cuba_lif" if kind == "CubaLIF" else "li"
    parameters["v_leak"] = _uniform(layer_id, "v_leak", node.v_leak)
    if kind != "CubaLI":
        parameters["v_th"] = _uniform(layer_id, "v_threshold", node.v_threshold)
        reset = node.v_reset if node.v_reset is not None else 0.0
        parameters["v_reset"] = _uniform(layer_id, "v_reset", reset)
    return Layer(layer_id, new_kind, parameters), np.broadcast_to(scale, r.shape).reshape(-1)


def _fold_scale(
    layers: list[Layer],
    weights: dict[str, torch.Tensor],
    scale: npt.NDArray[np.float64],
    node_id: str,
) -> None:
    if np.allclose(scale, 1.0, rtol=1e-9, atol=0.0):
        return
    before = layers[-1] if layers else None
    if before is None or before.kind != "linear":
        raise ModelError(
            [
                SpecError(
                    f"nir/{node_id}",
                    "an input scale other than one needs a linear layer before the neuron",
                )
            ]
        )
    factor = torch.tensor(scale, dtype=torch.float64)
    for tensor in ("weight", "bias"):
        key = f"layers.{before.id}.{tensor}"
        if key in weights:
            shaped = factor.view(-1, 1) if tensor == "weight" else factor
            weights[key] = (weights[key].double() * shaped).float()


def write_nir(graph: Any, path: str | os.PathLike[str]) -> None:
    import nir

    nir.write(Path(path), graph)


def read_nir(path: str | os.PathLike[str]) -> Any:
    import nir

    return nir.read(Path(path))
