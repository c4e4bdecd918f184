"""The engine takes its components from the library: units, defaults and ranges written once;
models pin versions, and a withdrawn or unknown component is refused with its path."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import numpy as np
import pytest

import simcore
from library.loader import ROOT, load_component, load_library
from simcore._components import Catalog
from simcore.spec import (
    Component,
    ModelSpec,
    Monitor,
    Population,
    Simulation,
    Stimulus,
    Value,
)


def neuron_spec(neuron: Component) -> ModelSpec:
    return ModelSpec(
        name="one neuron",
        kind="snn",
        simulation=Simulation(dt=Value("ms", 0.1), duration=Value("ms", 30.0)),
        populations=(Population(id="n", size=1, neuron=neuron),),
        stimuli=(
            Stimulus(
                id="drive",
                target="n",
                generator=Component("constant_current", parameters={"amplitude": Value("nA", 0.1)}),
            ),
        ),
        monitors=(Monitor(id="v", target="n", record="state", variables=("v",)),),
    )


def trace(spec: ModelSpec, catalog: Catalog | None = None) -> np.ndarray:
    sim = simcore.build(spec, threads=1, catalog=catalog)
    return np.concatenate([frame.states["v"].values["v"][:, 0] for frame in sim.run()])


def errors(spec: ModelSpec, catalog: Catalog | None = None) -> dict[str, str]:
    with pytest.raises(simcore.BuildError) as caught:
        simcore.build(spec, threads=1, catalog=catalog)
    return {error.path: error.message for error in caught.value.errors}


def test_the_engine_table_is_the_library() -> None:
    lif = load_component(ROOT / "neurons" / "lif").definition
    for parameter in lif.parameters:
        engine = simcore.COMPONENTS["lif"].parameters[parameter.name]
        assert engine.unit == parameter.unit
        assert engine.default == parameter.default
        assert (engine.low, engine.high) == (parameter.min, parameter.max)
    engine_components = {
        c.name
        for c in load_library()
        if c.definition.implementation.engine == "rust" and c.kind != "connector"
    }
    assert set(simcore.COMPONENTS) == engine_components
    table = simcore.describe()
    for name in engine_components:
        assert f"| {name} |" in table
    assert "| lif | tau_m | ms | 10 | [0.001, 1e+06] |" in table


def test_values_outside_the_library_range_are_refused_with_their_path() -> None:
    spec = neuron_spec(Component("lif", parameters={"tau_m": Value("ms", -5.0)}))
    found = errors(spec)
    message = found["populations/n/neuron/parameters/tau_m"]
    assert "outside the allowed range" in message and "ms" in message
    # per-neuron values are checked one by one; other units of the dimension are converted
    spec = neuron_spec(Component("lif", parameters={"v_threshold": Value("V", (0.5,))}))
    assert "v_threshold = 500 mV" in errors(spec)["populations/n/neuron/parameters/v_threshold"]


def newer_lif(tmp_path: Path) -> Catalog:
    """The repository's library plus lif 1.1.0, whose membrane is twice as slow."""
    folder = tmp_path / "neurons" / "lif"
    shutil.copytree(ROOT / "neurons" / "lif", folder)
    toml = folder / "component.toml"
    text = toml.read_text()
    toml.write_text(
        text.replace('version = "1.0.0"', 'version = "1.1.0"').replace(
            "default = 10.0", "default = 20.0", 1
        )
    )
    newer = load_component(folder).definition
    assert newer.version == "1.1.0"
    return Catalog([*(c.definition for c in load_library()), newer])


def test_a_pinned_model_keeps_working_when_a_newer_version_is_published(tmp_path: Path) -> None:
    old = trace(neuron_spec(Component("lif", version="1.0.0")))
    catalog = newer_lif(tmp_path)
    pinned = trace(neuron_spec(Component("lif", version="1.0.0")), catalog)
    latest = trace(neuron_spec(Component("lif")), catalog)
    explicit = trace(neuron_spec(Component("lif", version="1.1.0")), catalog)
    np.testing.assert_array_equal(pinned, old)
    np.testing.assert_array_equal(latest, explicit)
    assert not np.allclose(latest, old)  # the newer defaults are used without a pin


def test_a_withdrawn_or_unknown_component_is_refused_with_its_path(tmp_path: Path) -> None:
    catalog = newer_lif(tmp_path)
    withdrawn = Catalog(
        [*(c.definition for c in load_library())],
        withdrawn=[("lif", "1.0.0"), ("delta", "1.0.0")],
    )
    found = errors(neuron_spec(Component("lif", version="1.0.0")), withdrawn)
    assert "lif 1.0.0 was withdrawn from the library" in found["populations/n/neuron/version"]
    found = errors(neuron_spec(Component("lif")), withdrawn)
    assert "lif was withdrawn" in found["populations/n/neuron/name"]
    found = errors(neuron_spec(Component("lif", version="3.0.0")), catalog)
    message = found["populations/n/neuron/version"]
    assert "no version 3.0.0" in message and "1.0.0, 1.1.0" in message
    found = errors(neuron_spec(Component("lif_typo")))
    assert "unknown neuron 'lif_typo'" in found["populations/n/neuron/name"]
    found = errors(neuron_spec(Component("hodgkin_huxley")))
    assert "reference-only" in found["populations/n/neuron/name"]
    # a withdrawn version whose component has a newer one says which to use
    newer = load_component(tmp_path / "neurons" / "lif").definition
    both = Catalog([*(c.definition for c in load_library()), newer], withdrawn=[("lif", "1.0.0")])
    found = errors(neuron_spec(Component("lif", version="1.0.0")), both)
    assert "use 1.1.0" in found["populations/n/neuron/version"]
    assert trace(neuron_spec(Component("lif")), both).size


def test_a_model_document_carries_the_pinned_version() -> None:
    from collab.schema import from_spec, to_spec

    spec = neuron_spec(Component("lif", version="1.0.0"))
    back = to_spec(from_spec(spec))
    assert isinstance(back, ModelSpec)
    assert back.populations[0].neuron.version == "1.0.0"
    assert msgspec.json.decode(msgspec.json.encode(spec), type=ModelSpec) == spec
