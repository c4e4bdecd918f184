"""The model document and its contract: spec -> document -> spec is lossless, and every error
says what is wrong, in plain words, at the document path of the node at fault."""

from __future__ import annotations

import functools
import string
from typing import Any, get_args

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map

from collab.schema import ROOTS, from_spec, roots, to_spec
from collab.templates import TEMPLATES, TemplateName
from simcore.spec import (
    UNITS,
    Component,
    Connector,
    ConnectorRule,
    Layer,
    ModelSpec,
    Monitor,
    Population,
    Projection,
    Simulation,
    SpecError,
    Stimulus,
    Training,
    Value,
    check,
)
from tests.test_spec import cuba

# Whole numbers a document holds exactly (a Yjs number is a double).
SAFE_INT = 2**53
ids = st.builds(
    str.__add__,
    st.sampled_from(string.ascii_letters + "_"),
    st.text(string.ascii_letters + string.digits + "_-", max_size=8),
)
names = st.text(string.ascii_letters + string.digits + "_", min_size=1, max_size=12)
texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)  # no lone surrogates
numbers = st.floats(allow_nan=False, allow_infinity=False)
indices = st.integers(0, SAFE_INT)


@functools.cache  # strategies are costly to build: one per distinct argument
def values(length: int | None = None) -> st.SearchStrategy[Value]:
    """Any ``Value``; a per-element list has ``length`` numbers where the spec counts them."""
    unit = st.sampled_from(sorted(UNITS))
    lists = st.lists(numbers, min_size=length or 0, max_size=length if length else 3)
    pair = st.tuples(numbers, numbers)
    return st.one_of(
        st.builds(Value, unit=unit, value=numbers),
        st.builds(Value, unit=unit, value=lists.map(tuple)),
        st.builds(Value, unit=unit, uniform=pair),
        st.builds(Value, unit=unit, normal=pair),
    )


@functools.cache
def components(length: int | None = None) -> st.SearchStrategy[Component]:
    return st.builds(
        Component,
        name=names,
        version=st.none() | names,
        parameters=st.dictionaries(names, values(length), max_size=2),
    )


@functools.cache
def populations(size: int) -> st.SearchStrategy[Population]:
    """Populations of ``size`` neurons, with the id left for the caller to set."""
    return st.builds(
        Population,
        id=st.just("_"),
        size=st.just(size),
        neuron=components(size),
        initial=st.dictionaries(names, values(size), max_size=2),
        position=st.tuples(numbers, numbers, numbers),
    )


@functools.cache
def neuron_lists(size: int) -> st.SearchStrategy[tuple[int, ...] | None]:
    return st.none() | st.lists(st.integers(0, size - 1), max_size=4).map(tuple)


@functools.cache
@st.composite
def connectors(draw: st.DrawFn, source: int, target: int) -> Connector:
    rule = draw(st.sampled_from(get_args(ConnectorRule)))
    if rule == "fixed_probability":
        return Connector(rule, probability=draw(st.floats(0, 1)))
    if rule == "fixed_indegree":
        return Connector(rule, count=draw(st.integers(1, source)))
    if rule == "fixed_outdegree":
        return Connector(rule, count=draw(st.integers(1, target)))
    if rule == "explicit":
        pair = st.tuples(st.integers(0, source - 1), st.integers(0, target - 1))
        return Connector(rule, pairs=tuple(draw(st.lists(pair, max_size=6))))
    return Connector(rule, allow_self=draw(st.booleans()))


parameters = st.one_of(
    numbers, st.integers(-SAFE_INT, SAFE_INT), st.booleans(), texts, st.lists(indices).map(tuple)
)
trainings = st.none() | st.builds(
    Training,
    dataset=st.none() | names,
    loss=names,
    optimizer=names,
    learning_rate=st.floats(min_value=1e-9, max_value=10),
    batch_size=st.integers(1, 4096),
    epochs=st.integers(1, 1000),
    time_steps=st.none() | st.integers(1, 1000),
    encoding=st.sampled_from([None, "rate", "latency"]),
    readout=st.sampled_from([None, "rate", "first_spike", "membrane"]),
    surrogate=st.none() | names,
)
sizes = st.integers(1, 6)
records = st.sampled_from(["spikes", "state", "rate"])
variables = st.lists(names, max_size=3).map(tuple)
maybe_components = st.none() | components()
maybe_values = st.none() | values()
id_lists = st.lists(ids, max_size=3, unique=True)
simulations = st.builds(
    Simulation, dt=values(), duration=values(), seed=st.integers(-SAFE_INT, SAFE_INT)
)


@st.composite
def specs(draw: st.DrawFn) -> ModelSpec:
    population_ids = draw(id_lists)
    pops = [msgspec.structs.replace(draw(populations(draw(sizes))), id=id) for id in population_ids]
    size = {population.id: population.size for population in pops}
    projections, stimuli, monitors = [], [], []
    if pops:
        ends = st.sampled_from(population_ids)
        for id in draw(id_lists):
            source, target = draw(ends), draw(ends)
            rule = draw(connectors(size[source], size[target]))
            if rule.rule == "one_to_one" and size[source] != size[target]:
                rule = Connector("all_to_all")
            projections.append(
                Projection(
                    id,
                    source,
                    target,
                    draw(components()),
                    rule,
                    weight=draw(values()),
                    delay=draw(values()),
                    plasticity=draw(maybe_components),
                )
            )
        for id in draw(id_lists):
            target = draw(ends)
            chosen = neuron_lists(size[target])
            stimuli.append(
                Stimulus(
                    id,
                    target,
                    draw(components()),
                    neurons=draw(chosen),
                    weight=draw(maybe_values),
                )
            )
            monitors.append(
                Monitor(
                    id,
                    target,
                    draw(records),
                    variables=draw(variables),
                    neurons=draw(chosen),
                    interval=draw(maybe_values),
                )
            )
    layers = [
        Layer(id, draw(names), draw(st.dictionaries(names, parameters, max_size=4)))
        for id in draw(id_lists)
    ]
    return ModelSpec(
        name=draw(texts),
        kind=draw(st.sampled_from(["snn", "ann"])),
        description=draw(texts),
        simulation=draw(simulations),
        populations=tuple(pops),
        projections=tuple(projections),
        stimuli=tuple(stimuli),
        monitors=tuple(monitors),
        layers=tuple(layers),
        training=draw(trainings),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_spec_to_document_to_spec_is_lossless(spec: ModelSpec) -> None:
    # Only sound specs have a spec to come back to; the generator makes nearly all sound.
    problems = check(spec)
    if problems:
        errors = to_spec(from_spec(spec))
        assert isinstance(errors, list)
        assert sorted(errors, key=str) == sorted(problems, key=str)
        return
    assert to_spec(from_spec(spec)) == spec
    # ... and through the wire: another replica built from the document's Yjs update.
    replica = Doc()
    replica.apply_update(from_spec(spec).get_update())
    assert to_spec(replica) == spec


def test_whole_numbers_in_layer_parameters_come_back_as_ints() -> None:
    spec = ModelSpec(
        name="n",
        kind="ann",
        layers=(Layer("c", "conv2d", {"kernel_size": 3, "padding": (1, 1), "dropout": 0.5}),),
    )
    layer = to_spec(from_spec(spec)).layers[0]  # type: ignore[union-attr]
    assert layer.parameters == {"kernel_size": 3, "padding": (1, 1), "dropout": 0.5}
    assert type(layer.parameters["kernel_size"]) is int


def test_the_document_has_every_root_and_paths_mirror_the_spec() -> None:
    doc = from_spec(cuba())
    assert set(roots(doc)) == set(ROOTS)
    root = roots(doc)
    assert root["projections"]["ee"]["weight"].to_py() == {"unit": "mV", "value": 1.62}
    assert root["populations"]["exc"]["neuron"]["parameters"]["tau_m"]["value"] == 20.0
    assert str(root["notes"]) == ""
    assert len(root["comments"]) == 0


def test_an_empty_document_says_what_a_model_needs() -> None:
    assert to_spec(Doc()) == [
        SpecError("meta/name", "a model needs a name"),
        SpecError("meta/kind", "a model needs a kind"),
    ]


def edit(doc: Doc) -> dict[str, Any]:
    return roots(doc)  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            lambda r: r["populations"]["exc"].__setitem__("size", 2.5),
            "populations/exc/size",
            "should be a whole number, not 2.5",
        ),
        (
            lambda r: r["populations"]["exc"].__setitem__("size", 0),
            "populations/exc/size",
            "should be at least 1, not 0",
        ),
        (
            lambda r: r["projections"]["ee"]["connector"].__setitem__("probability", 1.5),
            "projections/ee/connector/probability",
            "should be between 0.0 and 1.0, not 1.5",
        ),
        (
            lambda r: r["projections"]["ee"]["connector"].__setitem__("rule", "sometimes"),
            "projections/ee/connector/rule",
            "should be one of all_to_all, explicit, fixed_indegree, fixed_outdegree, "
            "fixed_probability, one_to_one; not the text 'sometimes'",
        ),
        (
            lambda r: r["projections"]["ee"].__delitem__("delay"),
            "projections/ee/delay",
            "a projection needs a delay",
        ),
        (
            lambda r: r["projections"]["ee"]["weight"].__setitem__("value", "strong"),
            "projections/ee/weight/value",
            "should be a number or a list of numbers, not the text 'strong'",
        ),
        (
            lambda r: r["populations"]["exc"].__setitem__("colour", "red"),
            "populations/exc/colour",
            "a population has no setting 'colour' (it has: size, neuron, initial, position)",
        ),
        (
            lambda r: r["populations"].__setitem__("9 lives", r["populations"]["exc"].to_py()),
            "populations/9 lives",
            "'9 lives' is not a usable id: start with a letter or _, then use letters, digits, "
            "_ or - (64 characters at most)",
        ),
        (
            lambda r: r["meta"].__setitem__("kind", "rnn"),
            "meta/kind",
            "should be one of ann, snn; not the text 'rnn'",
        ),
        (
            lambda r: r["training"].__setitem__("learning_rate", 0),
            "training/learning_rate",
            "should be more than 0, not 0.0",
        ),
        (  # a semantic error, found by simcore.spec.check, at the same kind of path
            lambda r: r["projections"]["ee"].__setitem__("target", "nowhere"),
            "projections/ee/target",
            "there is no population called 'nowhere'",
        ),
        (
            lambda r: r["populations"]["exc"].__setitem__("order", "first"),
            "populations/exc/order",
            "should be a number, not the text 'first'",
        ),
    ],
)
def test_an_error_says_what_is_wrong_where(change: Any, path: str, message: str) -> None:
    spec = cuba(training=Training(dataset="mnist"))
    doc = from_spec(spec)
    change(edit(doc))
    errors = to_spec(doc)
    assert isinstance(errors, list)
    assert SpecError(path, message) in errors, errors


def test_the_order_of_items_is_kept_whatever_the_map_order() -> None:
    spec = cuba()
    spec = ModelSpec(
        name="order",
        kind="snn",
        populations=tuple(reversed(spec.populations)),  # inh before exc
    )
    assert [p.id for p in to_spec(from_spec(spec)).populations] == ["inh", "exc"]  # type: ignore[union-attr]


def test_two_editors_changing_two_parameters_keep_both() -> None:
    first = from_spec(cuba())
    second = Doc()
    second.apply_update(first.get_update())
    roots(first)["populations"]["exc"]["neuron"]["parameters"]["tau_m"]["value"] = 25.0
    roots(second)["populations"]["exc"]["neuron"]["parameters"]["v_reset"]["value"] = -65.0
    first.apply_update(second.get_update(first.get_state()))
    second.apply_update(first.get_update(second.get_state()))
    for doc in (first, second):
        spec = to_spec(doc)
        assert isinstance(spec, ModelSpec)
        parameters = spec.populations[0].neuron.parameters
        assert parameters["tau_m"].value == 25.0
        assert parameters["v_reset"].value == -65.0


@pytest.mark.parametrize("template", get_args(TemplateName))
def test_every_template_is_a_sound_spec_and_its_document_gives_it_back(template: str) -> None:
    spec = TEMPLATES[template]("A model")  # type: ignore[index]
    assert spec.name == "A model"
    assert check(spec) == []
    assert to_spec(from_spec(spec)) == spec


def test_the_cuba_template_has_brian2s_parameters() -> None:
    spec = TEMPLATES["cuba"]("CUBA")
    assert [(p.id, p.size) for p in spec.populations] == [("exc", 3200), ("inh", 800)]
    weights = {p.id: p.weight.value for p in spec.projections}
    assert weights == pytest.approx({"ee": 1.62, "ei": 1.62, "ie": -9.0, "ii": -9.0})
    assert {p.connector for p in spec.projections} == {Connector("fixed_probability", 0.02)}
    assert spec.populations[0].neuron == cuba().populations[0].neuron
    assert spec.simulation.dt == Value(unit="ms", value=0.1)
    assert set(TEMPLATES) == set(get_args(TemplateName))


def test_maps_are_nested_so_edits_merge_per_field() -> None:
    doc = from_spec(TEMPLATES["cuba"]("CUBA"))
    assert isinstance(roots(doc)["projections"]["ee"]["connector"], Map)
    assert isinstance(roots(doc)["populations"]["exc"]["position"], list)
