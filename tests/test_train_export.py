"""Exports: weights as safetensors, an ANN as ONNX (run again by onnxruntime), an SNN as NIR
and back (round trip, and graphs written the way snnTorch and Norse write them), and the
configuration as JSON and YAML."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import nir
import numpy as np
import onnxruntime
import pytest
import torch

from collab.templates import cnn
from simcore.spec import Layer, ModelSpec, Simulation, Training, Value
from simcore.train import (
    ModelError,
    build_model,
    config_json,
    config_yaml,
    from_nir,
    load_config,
    load_weights,
    rate_encode,
    read_nir,
    save_weights,
    to_nir,
    to_onnx,
    write_nir,
)


def _snn_spec() -> ModelSpec:
    return ModelSpec(
        name="snn",
        kind="snn",
        simulation=Simulation(dt=Value(unit="ms", value=1.0)),
        layers=(
            Layer("c", "conv2d", {"in_channels": 1, "out_channels": 2, "kernel_size": 3}),
            Layer("n0", "cuba_lif", {"tau_mem": 20.0, "tau_syn": 5.0}),
            Layer("p", "avgpool2d", {"kernel_size": 2}),
            Layer("f", "flatten"),
            Layer("h", "linear", {"in_features": 2 * 3 * 3, "out_features": 12}),
            Layer("n1", "lif", {"tau_mem": 10.0, "v_th": 0.8}),
            Layer("d", "dropout", {"p": 0.2}),
            Layer("o", "linear", {"in_features": 12, "out_features": 3, "bias": False}),
            Layer("n2", "li", {"tau_mem": 5.0, "tau_syn": 2.5}),
        ),
        training=Training(time_steps=12, encoding="rate", readout="membrane"),
    )


def test_weights_round_trip_through_safetensors(tmp_path: Path) -> None:
    spec = cnn("digits")
    model = build_model(spec, (1, 8, 8))
    save_weights(model, tmp_path / "w.safetensors", spec)
    other = build_model(spec, (1, 8, 8))
    assert load_weights(other, tmp_path / "w.safetensors") == spec
    for (name, a), (_, b) in zip(
        model.state_dict().items(), other.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name


def test_ann_onnx_runs_in_onnxruntime_with_the_same_scores(tmp_path: Path) -> None:
    spec = cnn("digits")
    model = build_model(spec, (1, 8, 8)).eval()
    to_onnx(model, tmp_path / "m.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    (got,) = session.run(["scores"], {"input": x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    # float32 both sides; the two libraries may sum the convolutions in other orders
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert model.training is False
    with pytest.raises(ValueError, match="to_nir"):
        to_onnx(build_model(_snn_spec(), (1, 8, 8)), tmp_path / "s.onnx")


def _outputs(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(x)


def test_snn_round_trips_through_nir(tmp_path: Path) -> None:
    spec = _snn_spec()
    model = build_model(spec, (1, 8, 8))
    graph = to_nir(model, spec)
    assert [type(graph.nodes[k]).__name__ for k in ("c", "n0", "p", "f", "h", "n1", "o", "n2")] == [
        "Conv2d",
        "CubaLIF",
        "AvgPool2d",
        "Flatten",
        "Affine",
        "LIF",
        "Linear",
        "CubaLI",
    ]
    assert "d" not in graph.nodes  # dropout is the identity at inference
    write_nir(graph, tmp_path / "m.nir")
    back, weights = from_nir(read_nir(tmp_path / "m.nir"), name="snn", dt=1e-3, time_steps=12)
    assert [layer.kind for layer in back.layers] == [
        layer.kind for layer in spec.layers if layer.kind != "dropout"
    ]
    for original in spec.layers:
        if original.kind in ("lif", "cuba_lif", "li"):
            imported = next(layer for layer in back.layers if layer.id == original.id)
            for name, value in original.parameters.items():
                assert imported.parameters[name] == value, (original.id, name)
    rebuilt = build_model(back, (1, 8, 8))
    rebuilt.load_state_dict(weights)
    x = rate_encode(torch.rand(4, 1, 8, 8), 12) * 3
    assert torch.equal(_outputs(rebuilt, x), _outputs(model, x))


def _norse_style(n_in: int, n_hidden: int, n_out: int, rng: np.random.Generator) -> nir.NIRGraph:
    """As Norse's ``to_nir`` writes ``Linear -> LIFCell``: ``nir.Affine`` and ``nir.CubaLIF``
    with time constants from ``1 / tau_*_inv``, ``r = 1`` and scalar parameters broadcast."""
    w1 = rng.normal(0, 0.5, (n_hidden, n_in))
    w2 = rng.normal(0, 0.5, (n_out, n_hidden))

    def cell(n: int) -> nir.CubaLIF:
        ones = np.ones(n)
        return nir.CubaLIF(
            tau_mem=ones / 100.0,  # tau_mem_inv = 100 / s
            tau_syn=ones / 200.0,  # tau_syn_inv = 200 / s
            r=ones,
            v_leak=0 * ones,
            v_threshold=ones,
        )

    return nir.NIRGraph(
        nodes={
            "input": nir.Input({"input": np.array([n_in])}),
            "0": nir.Affine(w1, rng.normal(0, 0.1, n_hidden)),
            "1": cell(n_hidden),
            "2": nir.Affine(w2, np.zeros(n_out)),
            "3": cell(n_out),
            "output": nir.Output({"output": np.array([n_out])}),
        },
        edges=[("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "output")],
    )


def test_loads_a_norse_style_graph() -> None:
    rng = np.random.default_rng(0)
    graph = _norse_style(6, 5, 3, rng)
    spec, weights = from_nir(graph, dt=1e-3)
    assert [(layer.id, layer.kind) for layer in spec.layers] == [
        ("n0", "linear"),
        ("n1", "cuba_lif"),
        ("n2", "linear"),
        ("n3", "cuba_lif"),
    ]
    assert spec.layers[1].parameters == {
        "tau_mem": 10.0,
        "tau_syn": 5.0,
        "v_leak": 0.0,
        "v_th": 1.0,
        "v_reset": 0.0,
    }
    # r = w_in = 1: Norse's input is our current jump, the weights come over unchanged
    assert torch.equal(weights["layers.n0.weight"], torch.tensor(graph.nodes["0"].weight).float())
    model = build_model(spec, (6,))
    model.load_state_dict(weights)
    assert model(torch.ones(4, 2, 6)).shape == (4, 2, 3)


def test_loads_an_snntorch_style_graph() -> None:
    """snnTorch's ``export_to_nir`` writes ``Leaky(beta)`` as ``nir.LIF`` with dt = 1e-4:
    ``tau = dt / (1 - beta)``, ``r = tau / dt``, and ``Synaptic(alpha, beta)`` as
    ``nir.CubaLIF`` with ``tau_syn = dt / (1 - alpha)``, the same ``tau_mem`` and ``r``."""
    dt, beta, alpha = 1e-4, 0.9, 0.8
    rng = np.random.default_rng(1)
    w1, b1 = rng.normal(0, 1, (4, 3)), rng.normal(0, 0.1, 4)
    w2 = rng.normal(0, 1, (2, 4))
    tau_mem, tau_syn = dt / (1 - beta), dt / (1 - alpha)
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input({"input": np.array([3])}),
            "fc1": nir.Affine(w1, b1),
            "lif1": nir.LIF(
                tau=np.full(4, tau_mem),
                r=np.full(4, tau_mem / dt),
                v_leak=np.zeros(4),
                v_threshold=np.ones(4),
            ),
            "fc2": nir.Linear(w2),
            "syn2": nir.CubaLIF(
                tau_syn=np.full(2, tau_syn),
                tau_mem=np.full(2, tau_mem),
                r=np.full(2, tau_mem / dt),
                v_leak=np.zeros(2),
                v_threshold=np.ones(2),
            ),
            "output": nir.Output({"output": np.array([2])}),
        },
        edges=[
            ("input", "fc1"),
            ("fc1", "lif1"),
            ("lif1", "fc2"),
            ("fc2", "syn2"),
            ("syn2", "output"),
        ],
    )
    spec, weights = from_nir(graph, dt=dt)
    kinds = [(layer.id, layer.kind) for layer in spec.layers]
    assert kinds == [("fc1", "linear"), ("lif1", "lif"), ("fc2", "linear"), ("syn2", "cuba_lif")]
    lif = spec.layers[1].parameters
    assert lif["tau_mem"] == pytest.approx(1.0) and lif["v_th"] == 1.0
    # the membrane decays per step as snnTorch's beta does, to first order in 1 - beta
    assert math.exp(-dt / (lif["tau_mem"] * 1e-3)) == pytest.approx(beta, abs=(1 - beta) ** 2)
    # Leaky: r dt / tau = 1, an input of one moves v by one: weights unchanged
    np.testing.assert_allclose(weights["layers.fc1.weight"].numpy(), w1, rtol=1e-6)
    # Synaptic: the current is scaled by r = tau_mem / dt, folded into the weights before it
    np.testing.assert_allclose(weights["layers.fc2.weight"].numpy(), w2 * tau_mem / dt, rtol=1e-6)
    model = build_model(spec, (3,))
    model.load_state_dict(weights)
    assert model(torch.ones(5, 1, 3)).shape == (5, 1, 2)


def test_nir_errors_name_the_node() -> None:
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input({"input": np.array([2])}),
            "t": nir.Threshold(np.ones(2)),
            "output": nir.Output({"output": np.array([2])}),
        },
        edges=[("input", "t"), ("t", "output")],
    )
    with pytest.raises(ModelError, match="Threshold has no layer"):
        from_nir(graph)
    spec = ModelSpec(
        name="m",
        kind="snn",
        simulation=Simulation(dt=Value(unit="ms", value=1.0)),
        layers=(
            Layer("c", "conv2d", {"in_channels": 1, "out_channels": 1, "kernel_size": 2}),
            Layer("p", "maxpool2d", {"kernel_size": 2}),
            Layer("f", "flatten"),
            Layer("n", "lif"),
        ),
        training=Training(time_steps=3),
    )
    with pytest.raises(ModelError, match="no NIR node") as caught:
        to_nir(build_model(spec, (1, 5, 5)), spec)
    assert caught.value.errors[0].path == "layers/p"


def test_configuration_as_json_and_yaml() -> None:
    spec = _snn_spec()
    assert load_config(config_json(spec)) == spec
    assert load_config(config_yaml(spec), "yaml") == spec
    assert b"readout: membrane" in config_yaml(spec)
    assert msgspec.json.decode(config_json(spec))["layers"][1]["kind"] == "cuba_lif"
