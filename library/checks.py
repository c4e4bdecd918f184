"""Runs a component's reference implementation on its short test input and, where the engine
implements the component, compares the two.

Each ``check.protocol`` fixes the test input and the functions a reference module defines
(every number in SI units; ``params`` maps each parameter name to its SI value):

=================  ========================================================================
step_current       ``simulate(params, current, dt) -> {"v": v}``: one neuron under a current
                   step (``current[k]`` amperes during step ``k``); ``v[k]`` is the membrane
                   potential at the start of step ``k``.
synapse_kernel     ``kernel(params, weight, dt, steps) -> {"x": x}``: the synaptic state after
                   one spike of ``weight`` arrives; ``x[k]`` at the start of the ``k``-th step
                   after the arrival step (for ``delta``: the summed voltage jump).
stdp_pairs         ``weight_after(params, w, pre, post) -> w``: one synapse's weight after
                   pre-synaptic arrivals at times ``pre`` and post spikes at ``post``.
connector          ``connect(n_pre, n_post, params, rng) -> (pre, post)``: the synapses.
spike_generator    ``generate(params, n, dt, steps, rng) -> spikes``: a boolean
                   ``(steps, n)`` raster.
current_generator  ``current(params, dt, steps) -> amps``: the current during each step.
surrogate          ``grad(x, alpha) -> g``: the pseudo-derivative of the spike function.
ann_unit           ``forward(x, params) -> y``.
layer              ``init(params, rng) -> weights`` and ``forward(x, params, weights) -> y``.
=================  ========================================================================

The engine side is a callable ``engine(definition, params, inputs)`` returning the same
arrays; ``simcore.agreement.run`` is the one for SPIKE-X's engines (library never imports
the engine). Running this module (``python -m library.checks``) validates the zip on stdin
and prints one JSON object: how the server checks a contribution in a separate process.
"""

from __future__ import annotations

import json
import math
import sys
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from library.loader import (
    ROOT,
    ComponentError,
    LoadedComponent,
    load_archive,
    load_component,
    si,
)
from library.schema import Definition

Params = dict[str, Any]
Inputs = dict[str, Any]
EngineRunner = Callable[[Definition, Params, Inputs], dict[str, Any]]

SEED = 20050601
"""Seeds every random draw of a check, so a check gives one answer."""
STDP_OFFSETS_MS = (-40.0, -10.0, -2.0, 3.0, 10.0, 40.0)
"""post - pre of the spike pairs ``stdp_pairs`` tries."""


def validate(component: LoadedComponent, engine: EngineRunner | None = None) -> None:
    """Runs the reference (and the engine, when given and it implements the component);
    raises ``ComponentError`` naming the file and what disagreed."""
    definition = component.definition
    reference_file = f"{component.origin}/{definition.implementation.reference}"
    module = load_reference(component)
    params = check_parameters(definition)
    inputs = _inputs(definition)
    try:
        ours = _run_reference(module, definition, params, inputs)
    except ComponentError:
        raise
    except (Exception, SystemExit) as error:
        raise ComponentError(
            reference_file,
            _entry(definition),
            f"fails on the check input: {type(error).__name__}: {error}",
        ) from None
    for key, value in ours.items():
        array = np.asarray(value, dtype=np.float64)
        if not np.all(np.isfinite(array)):
            raise ComponentError(reference_file, _entry(definition), f"{key} is not finite")
    if engine is None or definition.reference_only:
        return
    try:
        theirs = engine(definition, params, inputs)
    except Exception as error:
        raise ComponentError(
            f"{component.origin}/component.toml",
            "implementation.engine",
            f"the engine cannot run {definition.name!r} ({type(error).__name__}: {error}); "
            'a component the engine does not implement is engine = "none" (reference only)',
        ) from None
    _compare(component, ours, theirs, inputs)


def validate_library(root: Path = ROOT, engine: EngineRunner | None = None) -> int:
    """Validates every component under ``root``; returns how many."""
    from library.loader import load_library

    components = load_library(root)
    for component in components:
        validate(component, engine)
    return len(components)


def load_reference(component: LoadedComponent) -> types.ModuleType:
    definition = component.definition
    file = definition.implementation.reference
    origin = f"{component.origin}/{file}"
    module = types.ModuleType(f"library_reference_{definition.kind}_{definition.name}")
    module.__file__ = origin
    try:
        code = compile(component.files[file], origin, "exec")
        exec(code, module.__dict__)
    except (Exception, SystemExit) as error:
        raise ComponentError(origin, "", f"does not run: {type(error).__name__}: {error}") from None
    entry = _entry(definition)
    for name in entry.split(", "):
        if not callable(getattr(module, name, None)):
            raise ComponentError(
                origin, name, f"is missing: a {definition.check.protocol} reference defines {entry}"
            )
    return module


def check_parameters(definition: Definition) -> Params:
    """Every parameter in SI: the check's values where it gives them, the defaults otherwise."""
    params: Params = {}
    for parameter in definition.parameters:
        value = definition.check.parameters.get(parameter.name, parameter.default)
        if value is None:
            continue
        if isinstance(value, list):
            params[parameter.name] = [si(float(item), parameter.unit) for item in value]
        elif isinstance(value, bool):
            params[parameter.name] = value
        else:
            params[parameter.name] = si(float(value), parameter.unit)
    return params


_ENTRIES = {
    "step_current": "simulate",
    "synapse_kernel": "kernel",
    "stdp_pairs": "weight_after",
    "connector": "connect",
    "spike_generator": "generate",
    "current_generator": "current",
    "surrogate": "grad",
    "ann_unit": "forward",
    "layer": "init, forward",
}


def _entry(definition: Definition) -> str:
    return _ENTRIES[definition.check.protocol]


def _inputs(definition: Definition) -> Inputs:
    check = definition.check
    dt = check.dt * 1e-3
    steps = math.floor(check.duration / check.dt + 0.5)
    inputs: Inputs = {"dt": dt, "steps": steps}
    protocol = check.protocol
    if protocol == "step_current":
        current = np.zeros(steps)
        on = math.floor(check.onset / check.dt + 0.5)
        off = math.floor(check.offset / check.dt + 0.5)
        current[on:off] = check.amplitude * 1e-9
        inputs.update(current=current, onset=check.onset * 1e-3, offset=check.offset * 1e-3)
    elif protocol == "synapse_kernel":
        inputs["weight"] = si(check.weight, check.weight_unit)
        inputs["weight_unit"] = check.weight_unit
    elif protocol == "stdp_pairs":
        inputs["weight"] = si(check.weight, check.weight_unit)
        inputs["weight_unit"] = check.weight_unit
        inputs["pairs"] = [
            (check.onset * 1e-3, (check.onset + offset) * 1e-3) for offset in STDP_OFFSETS_MS
        ]
    elif protocol in ("connector", "spike_generator"):
        inputs["n"] = check.shape[0] if check.shape else 10
        inputs["n_pre"] = inputs["n"]
        inputs["n_post"] = check.shape[1] if len(check.shape) > 1 else inputs["n"]
    elif protocol in ("surrogate", "ann_unit"):
        inputs["x"] = np.linspace(-3.0, 3.0, 61).reshape(check.shape or [61])
    elif protocol == "layer":
        rng = np.random.default_rng(SEED)
        inputs["x"] = rng.normal(size=check.shape)
    return inputs


def _run_reference(
    module: types.ModuleType, definition: Definition, params: Params, inputs: Inputs
) -> dict[str, Any]:
    protocol = definition.check.protocol
    rng = np.random.default_rng(SEED)
    dt, steps = inputs["dt"], inputs["steps"]
    if protocol == "step_current":
        return dict(module.simulate(params, inputs["current"], dt))
    if protocol == "synapse_kernel":
        return dict(module.kernel(params, inputs["weight"], dt, steps))
    if protocol == "stdp_pairs":
        after = [
            module.weight_after(params, inputs["weight"], [pre], [post])
            for pre, post in inputs["pairs"]
        ]
        return {"w": np.asarray(after, dtype=np.float64)}
    if protocol == "connector":
        pre, post = (
            np.asarray(side)
            for side in module.connect(inputs["n_pre"], inputs["n_post"], params, rng)
        )
        if pre.shape != post.shape:
            raise ValueError(f"{pre.size} sources for {post.size} targets")
        return {"pre": pre, "post": post}
    if protocol == "spike_generator":
        spikes = module.generate(params, inputs["n"], dt, steps, rng)
        return {"spikes": np.asarray(spikes, dtype=bool)}
    if protocol == "current_generator":
        return {"amps": np.asarray(module.current(params, dt, steps), dtype=np.float64)}
    if protocol == "surrogate":
        return {"y": module.grad(inputs["x"], params["alpha"])}
    if protocol == "ann_unit":
        return {"y": module.forward(inputs["x"], params)}
    weights = module.init(params, rng)
    inputs["weights"] = {key: np.asarray(value) for key, value in weights.items()}
    return {"y": module.forward(inputs["x"], params, inputs["weights"])}


def _compare(
    component: LoadedComponent,
    ours: Mapping[str, Any],
    theirs: Mapping[str, Any],
    inputs: Inputs,
) -> None:
    definition = component.definition
    check = definition.check
    file = f"{component.origin}/component.toml"
    where = definition.implementation.path or definition.implementation.symbol
    protocol = check.protocol

    def fail(message: str) -> None:
        raise ComponentError(
            file,
            "check",
            f"the engine ({where}) and {definition.implementation.reference} disagree: {message}",
        )

    if protocol == "connector":
        _compare_connections(definition, ours, theirs, inputs, fail)
        return
    if protocol == "spike_generator":
        mine, engine = np.asarray(ours["spikes"]), np.asarray(theirs["spikes"])
        if check.tolerance == 0:
            if mine.shape != engine.shape or not np.array_equal(mine, engine):
                fail(f"{int(mine.sum())} reference spikes vs {int(engine.sum())} engine spikes")
        elif abs(int(engine.sum()) - int(mine.sum())) > check.tolerance * max(int(mine.sum()), 1):
            fail(f"{int(mine.sum())} reference spikes vs {int(engine.sum())} engine spikes")
        return
    if protocol == "current_generator":
        ours = {"v": integrate(ours["amps"], inputs["dt"])}
    for key, value in ours.items():
        if key not in theirs:
            fail(f"the engine gave no {key}")
        mine = np.asarray(value, dtype=np.float64)
        engine = np.asarray(theirs[key], dtype=np.float64)
        if not np.all(np.isfinite(engine)):
            fail(f"the engine's {key} is not finite")
        if mine.shape != engine.shape:
            fail(f"{key} has shape {mine.shape} vs {engine.shape}")
        gap = np.abs(mine - engine)
        if gap.size and float(gap.max()) > check.tolerance:
            at = np.unravel_index(int(gap.argmax()), gap.shape)
            fail(
                f"{key}{list(at)} is {mine[at]:.9g} vs {engine[at]:.9g} "
                f"(tolerance {check.tolerance:g})"
            )


INTEGRATOR_TAU_S = 10e-3
INTEGRATOR_R_OHM = 1e6
"""The leaky integrator (E_L = 0) a current generator is watched through, on both sides."""


def integrate(amps: npt.ArrayLike, dt: float) -> npt.NDArray[np.float64]:
    """``v`` of the integrator above under ``amps`` (exact per step, as the engine does)."""
    decay = math.exp(-dt / INTEGRATOR_TAU_S)
    v = np.zeros(len(np.asarray(amps)))
    for k, amp in enumerate(np.asarray(amps, dtype=np.float64)[:-1]):
        v[k + 1] = v[k] * decay + INTEGRATOR_R_OHM * (1 - decay) * amp
    return v


def _compare_connections(
    definition: Definition,
    ours: Mapping[str, Any],
    theirs: Mapping[str, Any],
    inputs: Inputs,
    fail: Callable[[str], None],
) -> None:
    """Random rules draw differently on each side: they agree on what the rule fixes."""
    n_pre, n_post = inputs["n_pre"], inputs["n_post"]
    sides = {"reference": ours, "engine": theirs}
    pairs = {
        side: sorted(
            zip(np.asarray(s["pre"]).tolist(), np.asarray(s["post"]).tolist(), strict=True)
        )
        for side, s in sides.items()
    }
    rule = definition.name
    if rule in ("all_to_all", "one_to_one", "explicit"):
        if pairs["reference"] != pairs["engine"]:
            fail(f"{len(pairs['reference'])} vs {len(pairs['engine'])} synapses, or other pairs")
        return
    for side, found in pairs.items():
        if len(set(found)) != len(found):
            fail(f"the {side} connects a pair twice")
    if rule == "fixed_indegree":
        for side, s in sides.items():
            counts = np.bincount(np.asarray(s["post"], dtype=np.int64), minlength=n_post)
            if not np.all(counts == counts[0]):
                fail(f"the {side} gives in-degrees {sorted(set(counts.tolist()))}")
    elif rule == "fixed_outdegree":
        for side, s in sides.items():
            counts = np.bincount(np.asarray(s["pre"], dtype=np.int64), minlength=n_pre)
            if not np.all(counts == counts[0]):
                fail(f"the {side} gives out-degrees {sorted(set(counts.tolist()))}")
    n_ref, n_engine = len(pairs["reference"]), len(pairs["engine"])
    if abs(n_ref - n_engine) > definition.check.tolerance * max(n_ref, 1):
        fail(f"{n_ref} reference synapses vs {n_engine} engine synapses")


def main() -> None:
    """Validates the zip on stdin (a contribution); prints ``{"ok": ..., ...}``."""
    data = sys.stdin.buffer.read()
    try:
        component = load_archive(data, sys.argv[1] if len(sys.argv) > 1 else "upload")
        validate(component, _engine())
    except ComponentError as error:
        result = {"ok": False, "file": error.file, "field": error.field, "message": error.message}
    else:
        result = {"ok": True}
    print(json.dumps(result))


def _engine() -> EngineRunner | None:
    try:
        from simcore.agreement import run
    except ImportError:  # the engine is not installed here: the reference alone is checked
        return None
    return run


def check_folder(folder: Path, engine: EngineRunner | None = None) -> LoadedComponent:
    component = load_component(folder)
    validate(component, engine)
    return component


if __name__ == "__main__":
    main()
