"""Live steering: which edits of a model's document reach its running simulation.

Whitelisted, and only as fixed values: a Poisson input's ``rate``, a constant current's
``amplitude``, and a projection's ``weight`` (sent as a scale of the weights the run started
with). Anything else edited during a run waits for the next run.
"""

from __future__ import annotations

from server.domain.runs.messages import Steer, SteerKind
from simcore.spec import UNITS, ModelSpec, Value, to_si

_STIMULUS_PARAMETERS: dict[str, tuple[SteerKind, str, str]] = {
    "poisson": ("rate", "rate", "frequency"),
    "constant_current": ("current", "amplitude", "current"),
}
"""Generator -> (steering kind, its parameter, the parameter's dimension)."""


def steering(frozen: ModelSpec, before: ModelSpec, after: ModelSpec) -> list[Steer]:
    """The commands that bring a run of ``frozen``, steered up to ``before``, to ``after``."""
    commands: list[Steer] = []
    started = {stimulus.id: stimulus for stimulus in frozen.stimuli}
    was = {stimulus.id: stimulus for stimulus in before.stimuli}
    for stimulus in after.stimuli:
        first, previous = started.get(stimulus.id), was.get(stimulus.id)
        name = stimulus.generator.name
        if first is None or previous is None or first.generator.name != name:
            continue
        if name not in _STIMULUS_PARAMETERS:
            continue
        kind, parameter, dimension = _STIMULUS_PARAMETERS[name]
        value = stimulus.generator.parameters.get(parameter)
        if value is None or value == previous.generator.parameters.get(parameter):
            continue
        si = _fixed(value, dimension)
        if si is None or (kind == "current" and isinstance(si, tuple)):
            continue  # a distribution, or (a current) more than one amplitude
        commands.append(Steer(kind, stimulus.id, si))
    started_projections = {projection.id: projection for projection in frozen.projections}
    was_projections = {projection.id: projection for projection in before.projections}
    for projection in after.projections:
        initial = started_projections.get(projection.id)
        last = was_projections.get(projection.id)
        if initial is None or last is None or projection.weight == last.weight:
            continue
        scale = _ratio(projection.weight, initial.weight)
        if scale is not None:
            commands.append(Steer("weight_scale", projection.id, scale))
    return commands


def _fixed(value: Value, dimension: str) -> float | tuple[float, ...] | None:
    """``value`` in SI units when it is a fixed value of ``dimension``."""
    try:
        return to_si(value, dimension)
    except ValueError:
        return None


def _ratio(new: Value, old: Value) -> float | None:
    """``new / old`` for two fixed scalar values of one dimension (old not zero)."""
    known_new, known_old = UNITS.get(new.unit), UNITS.get(old.unit)
    if known_new is None or known_old is None or known_new[0] != known_old[0]:
        return None
    if not isinstance(new.value, int | float) or not isinstance(old.value, int | float):
        return None
    if old.value == 0:
        return None
    return (new.value * known_new[1]) / (old.value * known_old[1])
