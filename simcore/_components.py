"""The components ``simcore.build`` knows, their parameters, units and defaults: one table.

A spec names a component (``Component("lif", parameters={...})``) and gives only the
parameters that differ from the defaults below, in any unit of the listed unit's dimension
(``spec.UNITS``); ``build`` converts them to the engine's SI floats. A later issue moves these
rows into ``library/<kind>/<name>/component.toml``; until then this table is the reference
(``describe()`` renders it as Markdown).

Columns: ``kind`` (neuron, state, synapse, plasticity, generator), ``component``, ``parameter``
(the name in a spec), ``engine`` (the engine's name; ``=``: the same), ``unit`` (of the
default, and of the dimension asked for), ``default`` (``-``: required; ``none``: optional,
no default), meaning.
``state`` rows are the state variables a population's ``initial`` and state monitors may
name, besides the receptor states (named after the projections that drive them).

The unit ``weight`` means "the unit of the projection's weight": volts for ``delta``, amperes
(or volts, see below) for current synapses, siemens for conductance synapses. Weights of a
current synapse may be given in volts, as Brian2's CUBA example does (``ge`` in volts): on a
``lif`` or ``leaky_integrator`` target they are divided by its (uniform) ``r_m``, so that a
weight of 1.62 mV moves ``v`` by 1.62 mV-equivalents of synaptic current; give ``r_m = 1 Ohm``
to reproduce Brian2's voltage-valued variables bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

Kind = Literal["neuron", "state", "synapse", "plasticity", "generator"]

TABLE = """
kind       component         parameter      engine unit      default meaning
neuron     lif               tau_m          =      ms        10      membrane time constant
neuron     lif               v_rest         e_l    mV        -70     resting potential
neuron     lif               v_reset        =      mV        -70     potential after a spike
neuron     lif               v_threshold    =      mV        -50     spike when v exceeds it
neuron     lif               r_m            =      MOhm      100     membrane resistance
neuron     lif               refractory     t_ref  ms        2       refractory period (v held)
state      lif               v              =      mV        none    membrane potential
neuron     lif_cond          c_m            =      pF        200     membrane capacitance
neuron     lif_cond          g_leak         g_l    nS        10      leak conductance
neuron     lif_cond          v_rest         e_l    mV        -60     leak reversal potential
neuron     lif_cond          v_reset        =      mV        -60     potential after a spike
neuron     lif_cond          v_threshold    =      mV        -50     spike when v exceeds it
neuron     lif_cond          refractory     t_ref  ms        5       refractory period
state      lif_cond          v              =      mV        none    membrane potential
neuron     adex              c_m            =      pF        200     membrane capacitance
neuron     adex              g_leak         g_l    nS        10      leak conductance
neuron     adex              v_rest         e_l    mV        -70     leak reversal potential
neuron     adex              v_t            =      mV        -50     rheobase threshold V_T
neuron     adex              delta_t        =      mV        2       slope factor
neuron     adex              a              =      nS        2       subthreshold adaptation
neuron     adex              tau_w          =      ms        30      adaptation time constant
neuron     adex              b              =      pA        0       adaptation jump per spike
neuron     adex              v_reset        =      mV        -58     potential after a spike
neuron     adex              v_peak         =      mV        0       spike detection threshold
neuron     adex              refractory     t_ref  ms        0       refractory period
state      adex              v              =      mV        none    membrane potential
state      adex              w              =      pA        none    adaptation current
neuron     izhikevich        a              =      1/ms      0.02    recovery rate
neuron     izhikevich        b              =      1/ms      0.2     recovery sensitivity
neuron     izhikevich        c              =      mV        -65     reset potential
neuron     izhikevich        d              =      mV/ms     8       recovery increment
neuron     izhikevich        v_peak         =      mV        30      spike cut-off
neuron     izhikevich        c_m            =      pF        1       capacitance
neuron     izhikevich        k2             =      1/(mV*ms) 0.04    quadratic coefficient
neuron     izhikevich        k1             =      1/ms      5       linear coefficient
neuron     izhikevich        k0             =      mV/ms     140     constant term
neuron     izhikevich        refractory     t_ref  ms        0       refractory period
state      izhikevich        v              =      mV        none    membrane potential
state      izhikevich        u              =      mV/ms     none    recovery variable
neuron     leaky_integrator  tau_m          =      ms        20      time constant (never spikes)
neuron     leaky_integrator  v_rest         e_l    mV        0       resting value
neuron     leaky_integrator  r_m            =      Ohm       1       resistance
state      leaky_integrator  v              =      mV        none    the integrated value
synapse    delta             -              =      -         -       v jumps by the weight (V)
synapse    exp_current       tau            =      ms        5       decay (weight: A, or V)
synapse    exp_conductance   tau            =      ms        5       decay (weight: S)
synapse    exp_conductance   e_rev          =      mV        0       reversal potential
synapse    alpha_current     tau            =      ms        5       time to peak (weight: A, or V)
synapse    alpha_conductance tau            =      ms        5       time to peak (weight: S)
synapse    alpha_conductance e_rev          =      mV        0       reversal potential
plasticity stdp              tau_pre        =      ms        20      pre-synaptic trace decay
plasticity stdp              tau_post       =      ms        20      post-synaptic trace decay
plasticity stdp              a_plus         =      weight    -       potentiation (or unit 1)
plasticity stdp              a_minus        =      weight    -       depression (or unit 1)
plasticity stdp              w_min          =      weight    0       lower weight bound
plasticity stdp              w_max          =      weight    -       upper weight bound
plasticity stdp              multiplicative -      1         0       1: soft bounds
plasticity stdp              nearest        -      1         0       1: nearest-spike pairs
generator  poisson           rate           =      Hz        10      rate of each train
generator  spike_times       times          =      ms        -       spike times
generator  spike_times       indices        =      1         none    output per time (default: all)
generator  constant_current  amplitude      =      nA        -       injected current
generator  step_current      times          =      ms        -       start of each amplitude
generator  step_current      amplitudes     =      nA        -       the amplitudes
"""


@dataclass(frozen=True, slots=True)
class Parameter:
    """One row of the table."""

    name: str
    engine: str
    unit: str
    default: float | None
    """In ``unit``; None: required, or optional when ``optional``."""
    optional: bool
    meaning: str


@dataclass(frozen=True, slots=True)
class ComponentInfo:
    name: str
    kind: Kind
    parameters: dict[str, Parameter]
    states: dict[str, Parameter]
    """Neurons: the state variables (``v``, ``w``, ``u``)."""


def _parse(table: str) -> dict[str, ComponentInfo]:
    rows = [line.split(None, 6) for line in table.strip().splitlines()[1:]]
    components: dict[str, ComponentInfo] = {}
    for kind, component, name, engine, unit, default, meaning in rows:
        info = components.get(component)
        if info is None:
            own_kind = cast(Kind, "neuron" if kind == "state" else kind)
            info = ComponentInfo(component, own_kind, {}, {})
            components[component] = info
        if name == "-":
            continue
        parameter = Parameter(
            name,
            name if engine == "=" else engine,
            unit,
            None if default in ("-", "none") else float(default),
            default == "none",
            meaning,
        )
        (info.states if kind == "state" else info.parameters)[name] = parameter
    return components


COMPONENTS: dict[str, ComponentInfo] = _parse(TABLE)
"""Every component ``build`` knows, by name."""


def names(kind: Kind) -> list[str]:
    """The components of one kind, in table order."""
    return [name for name, info in COMPONENTS.items() if info.kind == kind]


def describe() -> str:
    """The table as Markdown (for documentation)."""
    lines = [
        "| kind | component | parameter | unit | default | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for row in TABLE.strip().splitlines()[1:]:
        kind, component, name, _engine, unit, default, meaning = row.split(None, 6)
        default = {"-": "required", "none": ""}.get(default, default)
        lines.append(f"| {kind} | {component} | {name} | {unit} | {default} | {meaning} |")
    return "\n".join(lines)
