"""Models built from a ModelSpec: the templates a learner starts from, the spiking layers,
encodings and read-outs, and the errors a student gets for layers that do not fit."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from collab.templates import cnn, mlp, perceptron
from simcore.spec import Layer, ModelSpec, Simulation, Training, Value
from simcore.train import (
    LIF,
    LIFParams,
    LIFState,
    ModelError,
    build_model,
    latency_encode,
    li_step,
    lif_delta_step,
    rate_encode,
    read_out,
)

MS = Simulation(dt=Value(unit="ms", value=1.0))


def _snn(*layers: Layer, readout: str = "rate") -> ModelSpec:
    return ModelSpec(
        name="s",
        kind="snn",
        simulation=MS,
        layers=layers,
        training=Training(time_steps=8, encoding="rate", readout=readout),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("template", "shape"),
    [(perceptron, (1, 8, 8)), (mlp, (64,)), (cnn, (1, 8, 8))],
)
def test_templates_build_and_score_every_class(template, shape) -> None:
    spec = template("m")
    model = build_model(spec, shape)
    scores = model(torch.rand(3, *shape))
    assert scores.shape == (3, 10)
    assert list(model.layers) == [layer.id for layer in spec.layers]
    assert model.output_shape == (10,)


def test_cnn_with_batchnorm_dropout_and_every_activation() -> None:
    spec = ModelSpec(
        name="c",
        kind="ann",
        layers=(
            Layer("c1", "conv2d", {"in_channels": 1, "out_channels": 4, "kernel_size": 3}),
            Layer("bn", "batchnorm"),
            Layer("a1", "gelu"),
            Layer("p1", "avgpool2d", {"kernel_size": 2}),
            Layer("f", "flatten"),
            Layer("d", "dropout", {"p": 0.25}),
            Layer("l1", "linear", {"in_features": 4 * 3 * 3, "out_features": 8}),
            Layer("bn1", "batchnorm", {"num_features": 8}),
            Layer("a2", "tanh"),
            Layer("a3", "sigmoid"),
            Layer("out", "linear", {"in_features": 8, "out_features": 3, "bias": False}),
        ),
    )
    model = build_model(spec, (1, 8, 8))
    assert isinstance(model.layers["bn"], nn.BatchNorm2d)
    assert isinstance(model.layers["bn1"], nn.BatchNorm1d)
    assert model.layers["out"].bias is None
    assert model(torch.rand(5, 1, 8, 8)).shape == (5, 3)


def test_errors_point_at_every_layer_that_does_not_fit() -> None:
    spec = ModelSpec(
        name="bad",
        kind="ann",
        layers=(
            Layer("c1", "conv2d", {"in_channels": 3, "out_channels": 4, "kernel_size": 3}),
            Layer("h", "linear", {"in_features": 100, "out_features": 8}),
            Layer("x", "softmaxx"),
            Layer("d", "dropout", {"p": 1.5}),
            Layer("l", "lif"),
            Layer("o", "linear", {"in_features": 8, "out_features": "ten"}),
        ),
    )
    with pytest.raises(ModelError) as caught:
        build_model(spec, (1, 28, 28))
    paths = {error.path: error.message for error in caught.value.errors}
    assert "is 3, but the input has shape (1, 28, 28)" in paths["layers/c1/parameters/in_channels"]
    assert "unknown layer kind 'softmaxx'" in paths["layers/x/kind"]
    assert "must be in [0, 1)" in paths["layers/d/parameters/p"]
    assert "make the model an snn" in paths["layers/l/kind"]
    assert "should be a whole number" in paths["layers/o/parameters/out_features"]


def test_a_linear_layer_after_an_image_asks_for_a_flatten() -> None:
    spec = ModelSpec(
        name="m",
        kind="ann",
        layers=(Layer("o", "linear", {"in_features": 784, "out_features": 10, "typo": 1}),),
    )
    with pytest.raises(ModelError, match="has no parameter 'typo'"):
        build_model(spec, (784,))
    spec = ModelSpec(
        name="m",
        kind="ann",
        layers=(Layer("o", "linear", {"in_features": 784, "out_features": 10}),),
    )
    with pytest.raises(ModelError, match="add a flatten layer before it"):
        build_model(spec, (1, 28, 28))
    spec = ModelSpec(
        name="m",
        kind="ann",
        layers=(Layer("c", "conv2d", {"in_channels": 1, "out_channels": 2, "kernel_size": 3}),),
    )
    with pytest.raises(ModelError, match="one score per class"):
        build_model(spec, (1, 5, 5))


def test_snn_layers_dense_and_convolutional() -> None:
    spec = _snn(
        Layer(
            "c1", "conv2d", {"in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 1}
        ),
        Layer("n1", "cuba_lif", {"tau_mem": 20.0, "tau_syn": 5.0}),
        Layer("p1", "maxpool2d", {"kernel_size": 2}),
        Layer("f", "flatten"),
        Layer("h", "linear", {"in_features": 2 * 4 * 4, "out_features": 6}),
        Layer("n2", "lif", {"v_th": 0.5, "surrogate": "arctan"}),
        Layer("o", "linear", {"in_features": 6, "out_features": 3}),
        Layer("n3", "cuba_lif"),
    )
    model = build_model(spec, (1, 8, 8))
    n1, n2 = model.layers["n1"], model.layers["n2"]
    assert isinstance(n1, LIF) and n1.synapse == "current"
    assert n1.params.tau_mem == pytest.approx(20e-3) and n1.dt == pytest.approx(1e-3)
    assert isinstance(n2, LIF) and n2.synapse == "delta" and n2.params.surrogate == "arctan"
    x = rate_encode(torch.rand(4, 1, 8, 8), 8)
    record: dict[str, torch.Tensor] = {}
    out = model(x * 5, record=record)
    assert out.shape == (8, 4, 3)
    assert set(record) == {"n1", "n2", "n3"} and record["n1"].shape == (8, 4, 2, 8, 8)
    assert model.backend == "torch"  # the reference on the CPU, and the model says so
    read_out(out, "rate").sum().backward()
    assert model.layers["c1"].weight.grad is not None  # surrogate gradients reach the first layer


def test_snn_errors_name_the_readout_and_the_activation() -> None:
    with pytest.raises(ModelError) as caught:
        build_model(
            _snn(
                Layer("h", "linear", {"in_features": 4, "out_features": 4}),
                Layer("r", "relu"),
                Layer("n", "cuba_lif", {"v_reset": 2.0}),
                readout="membrane",
            ),
            (4,),
        )
    paths = {error.path: error.message for error in caught.value.errors}
    assert "ANN activation" in paths["layers/r/kind"]
    assert "must be below v_th" in paths["layers/n/parameters/v_reset"]
    with pytest.raises(ModelError, match="needs an li"):
        build_model(
            _snn(
                Layer("h", "linear", {"in_features": 4, "out_features": 2}),
                Layer("n", "lif"),
                readout="membrane",
            ),
            (4,),
        )
    with pytest.raises(ModelError, match="never spikes"):
        build_model(
            _snn(Layer("h", "linear", {"in_features": 4, "out_features": 2}), Layer("n", "li")),
            (4,),
        )


def test_delta_lif_input_lands_after_threshold_and_reset_wipes_it() -> None:
    p = LIFParams(tau_mem=10e-3, v_th=1.0, v_reset=0.0)
    decay = math.exp(-1e-3 / p.tau_mem)
    state = LIFState(torch.zeros(1), torch.zeros(1))
    z, state = lif_delta_step(torch.tensor([0.7]), state, p, 1e-3)
    assert z.item() == 0 and state.v.item() == pytest.approx(0.7)  # input after the update
    z, state = lif_delta_step(torch.tensor([0.5]), state, p, 1e-3)
    assert z.item() == 0 and state.v.item() == pytest.approx(0.7 * decay + 0.5)
    z, state = lif_delta_step(torch.tensor([0.3]), state, p, 1e-3)
    assert z.item() == 1 and state.v.item() == 0.0  # spiked: the step's input is wiped


def test_li_integrates_a_current_jump_as_the_closed_form() -> None:
    p = LIFParams(tau_mem=10e-3, tau_syn=5e-3)
    state = LIFState(torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64))
    _, state = li_step(torch.ones(1, dtype=torch.float64), state, p, 1e-3)
    vs = []
    for _ in range(30):
        v, state = li_step(torch.zeros(1, dtype=torch.float64), state, p, 1e-3)
        vs.append(v.item())
    t = torch.arange(1, 31, dtype=torch.float64) * 1e-3
    exact = (
        p.tau_syn
        / (p.tau_syn - p.tau_mem)
        * (torch.exp(-t / p.tau_syn) - torch.exp(-t / p.tau_mem))
    )
    assert torch.allclose(torch.tensor(vs, dtype=torch.float64), exact, rtol=0, atol=1e-14)


def test_encodings_and_readouts() -> None:
    x = torch.tensor([[0.0, 0.25, 1.0]])
    latency = latency_encode(x, 5)
    assert latency.sum(0).tolist() == [[0.0, 1.0, 1.0]]  # zero never spikes, others once
    assert latency[:, 0, 2].argmax().item() == 0 and latency[:, 0, 1].argmax().item() == 3
    g = torch.Generator().manual_seed(0)
    rate = rate_encode(x.expand(1, 3), 4000, g)
    assert rate[:, 0, 0].sum() == 0 and rate[:, 0, 2].sum() == 4000
    assert abs(rate[:, 0, 1].mean().item() - 0.25) < 0.03
    out = torch.tensor([[[0.0, 1.0]], [[1.0, 0.0]], [[0.0, 1.0]]])  # [T=3, B=1, 2]
    assert read_out(out, "rate").tolist() == [[1.0, 2.0]]
    assert read_out(out, "first_spike").tolist() == [[-1.0, 0.0]]  # earlier spike, higher score
    assert read_out(out, "membrane").tolist() == [[1.0, 1.0]]
    spikes = out.clone().requires_grad_()
    read_out(spikes, "first_spike").sum().backward()
    assert spikes.grad is not None and spikes.grad.abs().sum() > 0
