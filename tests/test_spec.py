"""ModelSpec, the contract: typed, immutable, units explicit, errors that point at a path."""

from __future__ import annotations

import msgspec
import pytest

from simcore.spec import (
    Component,
    Connector,
    ModelSpec,
    Population,
    Projection,
    Value,
    check,
    to_si,
)


def mv(value: float) -> Value:
    return Value(unit="mV", value=value)


def cuba(**changes: object) -> ModelSpec:
    """Vogels & Abbott (2005) CUBA, as in Brian2's examples/CUBA.py."""
    neuron = Component(
        "lif",
        parameters={
            "tau_m": Value(unit="ms", value=20.0),
            "v_threshold": mv(-50.0),
            "v_reset": mv(-60.0),
            "v_rest": mv(-49.0),
            "refractory": Value(unit="ms", value=5.0),
        },
    )
    spec = ModelSpec(
        name="CUBA",
        kind="snn",
        populations=(
            Population("exc", 3200, neuron, initial={"v": Value(unit="mV", uniform=(-60, -50))}),
            Population("inh", 800, neuron, initial={"v": Value(unit="mV", uniform=(-60, -50))}),
        ),
        projections=tuple(
            Projection(
                f"{pre[0]}{post[0]}",
                pre,
                post,
                Component(
                    "exp_current",
                    parameters={"tau": Value(unit="ms", value=5.0 if pre == "exc" else 10.0)},
                ),
                Connector("fixed_probability", probability=0.02),
                weight=mv(1.62 if pre == "exc" else -9.0),
                delay=Value(unit="ms", value=0.0),
            )
            for pre in ("exc", "inh")
            for post in ("exc", "inh")
        ),
    )
    return msgspec.structs.replace(spec, **changes)


def test_a_sound_spec_has_no_errors_and_round_trips_through_json() -> None:
    spec = cuba()
    assert check(spec) == []
    assert msgspec.json.decode(msgspec.json.encode(spec), type=ModelSpec) == spec


def test_values_convert_to_si_and_refuse_the_wrong_dimension() -> None:
    assert to_si(Value(unit="ms", value=20.0), "time") == pytest.approx(0.02)
    assert to_si(Value(unit="nS", value=(1.0, 2.0)), "conductance") == pytest.approx((1e-9, 2e-9))
    with pytest.raises(ValueError, match="mV is a voltage, but a time is needed"):
        to_si(mv(1.0), "time")
    with pytest.raises(ValueError, match="unknown unit 'furlong'"):
        to_si(Value(unit="furlong", value=1.0), "time")


def test_errors_point_at_the_offending_node() -> None:
    spec = cuba()
    broken = msgspec.structs.replace(
        spec,
        projections=(
            msgspec.structs.replace(spec.projections[0], target="nowhere"),
            msgspec.structs.replace(spec.projections[1], connector=Connector("fixed_indegree")),
            msgspec.structs.replace(spec.projections[2], weight=Value(unit="mV")),
            spec.projections[2],
        ),
    )
    errors = {error.path: error.message for error in check(broken)}
    assert errors == {
        "projections/ee/target": "there is no population called 'nowhere'",
        "projections/ei/connector/count": "the fixed_indegree rule needs a count",
        "projections/ie/weight": "give exactly one of value, uniform or normal",
        "projections/ie": "the id 'ie' is used twice",
    }


def test_decoding_refuses_unknown_fields_and_bad_ids() -> None:
    raw = msgspec.json.encode(cuba())
    with pytest.raises(msgspec.ValidationError, match="colour"):
        msgspec.json.decode(
            raw.replace(b'"kind":"snn"', b'"kind":"snn","colour":1'), type=ModelSpec
        )
    with pytest.raises(msgspec.ValidationError, match="populations"):
        msgspec.json.decode(raw.replace(b'"id":"exc"', b'"id":"9 lives"'), type=ModelSpec)
