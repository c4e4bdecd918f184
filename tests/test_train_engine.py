"""A trained SNN runs in the engine (``simcore.build``) with its weights carried over, and each
neuron fires as often as in Torch on the same input spikes.

Tolerance: none; the counts must be equal. The Torch reference does the engine's arithmetic
(the same propagator constants, computed by the same expressions; the same step order; the
same strict threshold and reset), run here in float64 as the engine is. What can still differ
is the order in which one step's synaptic inputs are summed (a matrix product in Torch, one
synapse at a time in the engine): a few units in the last place of the current. Each test
checks that no membrane potential came within 1e-9 of the threshold, far beyond that
rounding, so an equal count is what the two must give.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import simcore
from simcore.spec import Layer, ModelSpec, Simulation, Training, Value
from simcore.train import (
    LIF,
    build_model,
    engine_spec,
    latency_encode,
    rate_encode,
    run_in_engine,
    train,
)

STEPS = 40


def _spec(*layers: Layer, readout: str = "rate") -> ModelSpec:
    return ModelSpec(
        name="trained",
        kind="snn",
        simulation=Simulation(dt=Value(unit="ms", value=1.0)),
        layers=layers,
        training=Training(
            time_steps=STEPS,
            encoding="rate",
            readout=readout,  # type: ignore[arg-type]
            batch_size=16,
            epochs=2,
            learning_rate=2e-2,
        ),
    )


def _torch_counts(model: torch.nn.Module, spikes: torch.Tensor) -> tuple[dict, float]:
    """Spike counts per layer of one sample in float64, and the closest any membrane came to
    its threshold before the spike decision (from the reference's own step)."""
    model = model.double().eval()
    margins: list[float] = []
    hooks = []
    for module in model.modules():
        if isinstance(module, LIF) and module.synapse != "integrator":
            th = module.params.v_th

            def watch(mod: LIF, args: tuple, out: tuple, th: float = th) -> None:
                # rerun the layer keeping v before threshold: v_dec = v_th + x at each step
                from simcore.train.functional import lif_coefficients

                k = lif_coefficients(mod.params, mod.dt)
                x = args[0]
                v = torch.full_like(x[0], mod.params.v_leak)
                i = torch.zeros_like(x[0])
                for t in range(x.shape[0]):
                    if mod.synapse == "current":
                        v_dec = k.c0 + (k.k_syn * i + k.decay_mem * v)
                        i = k.decay_syn * i + x[t]
                        v = torch.where(v_dec > th, k.v_reset, v_dec)
                    else:
                        v_dec = k.c0 + k.decay_mem * v
                        v = torch.where(v_dec > th, k.v_reset, v_dec + x[t])
                    margins.append((v_dec - th).abs().min().item())

            hooks.append(module.register_forward_hook(watch))
    record: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        model(spikes[:, None].double(), record=record)
    for hook in hooks:
        hook.remove()
    counts = {k: v[:, 0].sum(0).reshape(-1).long().numpy() for k, v in record.items()}
    return counts, min(margins)


def _assert_same_counts(model: torch.nn.Module, spec: ModelSpec, spikes: torch.Tensor) -> dict:
    engine = run_in_engine(model, spec, spikes)
    reference, margin = _torch_counts(model, spikes)
    assert margin > 1e-9, "a potential came too close to threshold for an exact comparison"
    assert set(engine) == {
        k for k, m in model.layers.items() if getattr(m, "synapse", "") in ("current", "delta")
    }
    for layer, counts in engine.items():
        assert counts.sum() > 0, f"{layer} is silent: the comparison would say nothing"
        np.testing.assert_array_equal(counts, reference[layer], err_msg=layer)
    return engine


def _blobs(n: int, features: int, classes: int) -> torch.utils.data.TensorDataset:
    g = torch.Generator().manual_seed(0)
    prototypes = torch.rand(classes, features, generator=g)
    labels = torch.arange(n) % classes
    x = (prototypes[labels] + 0.1 * torch.randn(n, features, generator=g)).clamp(0, 1)
    return torch.utils.data.TensorDataset(x, labels)


def test_a_trained_dense_snn_fires_the_same_in_the_engine() -> None:
    spec = _spec(
        Layer("h", "linear", {"in_features": 12, "out_features": 16}),
        Layer("n1", "lif", {"tau_mem": 10.0}),
        Layer("o", "linear", {"in_features": 16, "out_features": 3}),
        Layer("n2", "cuba_lif", {"tau_mem": 10.0, "tau_syn": 5.0}),
    )
    result = train(spec, _blobs(96, 12, 3), seed=1, device="cpu")
    model = result.model
    assert model.layers["h"].bias is not None  # biases travel as an always-on input channel
    x = _blobs(3, 12, 3)[0][0]
    spikes = rate_encode(x[None], STEPS, torch.Generator().manual_seed(5))[:, 0]
    counts = _assert_same_counts(model, spec, spikes)
    assert set(counts) == {"n1", "n2"}


def test_a_conv_avgpool_stack_fires_the_same_in_the_engine() -> None:
    spec = _spec(
        Layer("c", "conv2d", {"in_channels": 1, "out_channels": 2, "kernel_size": 3}),
        Layer("n0", "cuba_lif", {"tau_mem": 20.0, "tau_syn": 5.0, "v_th": 0.5}),
        Layer("p", "avgpool2d", {"kernel_size": 2}),
        Layer("f", "flatten"),
        Layer("o", "linear", {"in_features": 2 * 2 * 2, "out_features": 3}),
        Layer("n1", "lif", {"tau_mem": 15.0, "v_th": 0.3, "v_reset": -0.1, "v_leak": 0.05}),
        readout="rate",
    )
    torch.manual_seed(3)
    model = build_model(spec, (1, 6, 6))
    with torch.no_grad():
        model.layers["c"].weight.mul_(4)
        model.layers["o"].weight.abs_().mul_(3)
    spikes = (
        latency_encode(torch.rand(1, 1, 6, 6), STEPS)[:, 0]
        + rate_encode(torch.full((1, 1, 6, 6), 0.3), STEPS, torch.Generator().manual_seed(2))[:, 0]
    )
    _assert_same_counts(model, spec, spikes.clamp(max=1))


def test_engine_spec_is_a_plain_model_spec() -> None:
    spec = _spec(
        Layer("h", "linear", {"in_features": 4, "out_features": 3, "bias": False}),
        Layer("n", "cuba_lif"),
        Layer("o", "linear", {"in_features": 3, "out_features": 2, "bias": False}),
        Layer("r", "li"),
        readout="membrane",
    )
    model = build_model(spec, (4,))
    network = engine_spec(model, spec, torch.eye(4).repeat(2, 1))  # 8 steps
    assert [p.id for p in network.populations] == ["input", "n", "r"]
    assert network.populations[0].size == 8  # two relays per input channel, no bias channel
    projection = network.projections[0]
    assert projection.connector.rule == "explicit"
    assert len(projection.connector.pairs) == len(projection.weight.value)  # type: ignore[arg-type]
    assert [m.id for m in network.monitors] == ["n_spikes"]  # the integrator never spikes
    simulation = simcore.build(network)
    assert simulation.dt == pytest.approx(1e-3)
    with pytest.raises(Exception, match="max pooling is not affine"):
        pooled = _spec(
            Layer("c", "conv2d", {"in_channels": 1, "out_channels": 1, "kernel_size": 2}),
            Layer("p", "maxpool2d", {"kernel_size": 2}),
            Layer("f", "flatten"),
            Layer("n", "lif"),
        )
        engine_spec(build_model(pooled, (1, 5, 5)), pooled, torch.zeros(3, 1, 5, 5))
