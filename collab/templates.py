"""The models a new document can start from, each written as the ``ModelSpec`` it holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from simcore.spec import (
    Component,
    Connector,
    Layer,
    ModelSpec,
    Monitor,
    Population,
    Projection,
    Simulation,
    Training,
    Value,
)

TemplateName = Literal["empty_snn", "cuba", "perceptron", "mlp", "cnn"]


def empty(name: str, kind: Literal["snn", "ann"]) -> ModelSpec:
    """Nothing in it yet: what a model created without a template starts as."""
    return ModelSpec(name=name, kind=kind)


def cuba(name: str) -> ModelSpec:
    """Vogels & Abbott (2005) current-based network, with the parameters of Brian2's
    ``examples/CUBA.py``: 3200 excitatory and 800 inhibitory LIF neurons, 2 % random
    connectivity, exponential currents, membrane potentials started uniformly between
    reset and threshold, one second at 0.1 ms."""
    neuron = Component(
        "lif",
        parameters={
            "tau_m": Value(unit="ms", value=20.0),
            "v_threshold": Value(unit="mV", value=-50.0),
            "v_reset": Value(unit="mV", value=-60.0),
            "v_rest": Value(unit="mV", value=-49.0),
            "refractory": Value(unit="ms", value=5.0),
        },
    )
    start = {"v": Value(unit="mV", uniform=(-60.0, -50.0))}
    tau = {"exc": 5.0, "inh": 10.0}  # taue, taui
    weight = {"exc": 60 * 0.27 / 10, "inh": -20 * 4.5 / 10}  # we, wi (mV)
    return ModelSpec(
        name=name,
        kind="snn",
        description="Vogels & Abbott (2005) CUBA network, as in Brian2's examples/CUBA.py.",
        simulation=Simulation(
            dt=Value(unit="ms", value=0.1), duration=Value(unit="ms", value=1000.0)
        ),
        populations=(
            Population("exc", 3200, neuron, initial=start, position=(-1.0, 0.0, 0.0)),
            Population("inh", 800, neuron, initial=start, position=(1.0, 0.0, 0.0)),
        ),
        projections=tuple(
            Projection(
                f"{source[0]}{target[0]}",
                source,
                target,
                Component("exp_current", parameters={"tau": Value(unit="ms", value=tau[source])}),
                Connector("fixed_probability", probability=0.02),
                weight=Value(unit="mV", value=weight[source]),
                delay=Value(unit="ms", value=0.0),
            )
            for source in ("exc", "inh")
            for target in ("exc", "inh")
        ),
        monitors=(
            Monitor("exc_spikes", "exc", "spikes"),
            Monitor("inh_spikes", "inh", "spikes"),
        ),
    )


def perceptron(name: str) -> ModelSpec:
    """One linear layer from the 64 pixels of a digit (the built-in ``digits`` set, 8x8) to its
    10 classes."""
    return ModelSpec(
        name=name,
        kind="ann",
        description="A single-layer perceptron on the 8x8 digits.",
        layers=(
            Layer("flatten", "flatten"),
            Layer("output", "linear", {"in_features": 64, "out_features": 10}),
        ),
        training=Training(dataset="digits", optimizer="sgd", learning_rate=0.1, epochs=20),
    )


def mlp(name: str) -> ModelSpec:
    """Two hidden ReLU layers (128 and 64 units) on the 8x8 digits."""
    return ModelSpec(
        name=name,
        kind="ann",
        description="A multi-layer perceptron on the 8x8 digits: 64-128-64-10 with ReLU.",
        layers=(
            Layer("flatten", "flatten"),
            Layer("hidden1", "linear", {"in_features": 64, "out_features": 128}),
            Layer("relu1", "relu"),
            Layer("hidden2", "linear", {"in_features": 128, "out_features": 64}),
            Layer("relu2", "relu"),
            Layer("output", "linear", {"in_features": 64, "out_features": 10}),
        ),
        training=Training(dataset="digits"),
    )


def cnn(name: str) -> ModelSpec:
    """Two 3x3 convolution blocks (8 and 16 channels, each halved by max pooling) and a
    linear read-out, on the 8x8 digits."""
    return ModelSpec(
        name=name,
        kind="ann",
        description="A small convolutional network on the 8x8 digits.",
        layers=(
            Layer(
                "conv1",
                "conv2d",
                {"in_channels": 1, "out_channels": 8, "kernel_size": 3, "padding": 1},
            ),
            Layer("relu1", "relu"),
            Layer("pool1", "maxpool2d", {"kernel_size": 2}),
            Layer(
                "conv2",
                "conv2d",
                {"in_channels": 8, "out_channels": 16, "kernel_size": 3, "padding": 1},
            ),
            Layer("relu2", "relu"),
            Layer("pool2", "maxpool2d", {"kernel_size": 2}),
            Layer("flatten", "flatten"),
            Layer("output", "linear", {"in_features": 16 * 2 * 2, "out_features": 10}),
        ),
        training=Training(dataset="digits"),
    )


TEMPLATES: dict[TemplateName, Callable[[str], ModelSpec]] = {
    "empty_snn": lambda name: empty(name, "snn"),
    "cuba": cuba,
    "perceptron": perceptron,
    "mlp": mlp,
    "cnn": cnn,
}
"""Each template's builder: the spec of a new model called ``name``."""
