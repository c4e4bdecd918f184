"""Current-based LIF as pure step functions (the plain-Torch reference).

The model, in the engine's form (``simcore/engine/src/neurons/lif.rs`` with one exponential
current receptor and ``R_m = 1``):

    tau_syn di/dt = -i
    tau_mem dv/dt = (v_leak - v) + i

integrated *exactly* over a step ``dt`` (the propagator of the linear system, as Brian2's
``exact`` method), then threshold, reset and input, in Brian2's step order:

    v_dec = c0 + (k_syn * i + decay_mem * v)   # exact update; c0 = v_leak (1 - decay_mem)
    z     = H(v_dec - v_th)                     # spike (strict >), surrogate gradient backward
    v'    = (1 - z) v_dec + z v_reset           # reset *to* v_reset (default 0), not subtraction
    i'    = decay_syn * i + x                   # the step's input is a jump of the current

so an input reaches ``v`` one step later, as a spike arriving at a synapse does in the engine.
With ``detach_reset`` the reset's dependence on ``z`` is cut from the graph (snnTorch's
default); otherwise the gradient flows through it too (Norse's).

Two relatives share the parameters: :func:`lif_delta_step`, whose input jumps ``v`` (the
engine's ``delta`` synapse), and :func:`li_step`, a non-spiking integrator for read-outs.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from simcore.train.surrogate import surrogate


class LIFParams(NamedTuple):
    """Parameters of a current-based LIF population (SI floats, shared by all neurons)."""

    tau_mem: float = 10e-3  # membrane time constant (s)
    tau_syn: float = 5e-3  # synaptic current time constant (s)
    v_leak: float = 0.0  # resting potential
    v_th: float = 1.0  # threshold: spike when v > v_th
    v_reset: float = 0.0  # potential after a spike
    surrogate: str = "fast_sigmoid"  # a name from ``surrogate.SURROGATES``
    alpha: float | None = None  # surrogate slope; None: the surrogate's default
    detach_reset: bool = False  # cut the gradient through the reset


class LIFState(NamedTuple):
    """Membrane potential ``v`` and synaptic current ``i``, each ``[B, N]``."""

    v: Tensor
    i: Tensor


class LIFCoefficients(NamedTuple):
    """The exact one-step propagator of :class:`LIFParams` for a step ``dt`` (float64)."""

    decay_mem: float  # exp(-dt / tau_mem)
    decay_syn: float  # exp(-dt / tau_syn)
    k_syn: float  # how much of i reaches v over one step
    c0: float  # v_leak (1 - decay_mem)
    v_th: float
    v_reset: float
    alpha: float  # surrogate slope


def lif_coefficients(params: LIFParams, dt: float) -> LIFCoefficients:
    """The propagator both backends use, so that they round the same constants."""
    if not (dt > 0 and params.tau_mem > 0 and params.tau_syn > 0):
        raise ValueError("dt, tau_mem and tau_syn must be positive")
    decay_mem = math.exp(-dt / params.tau_mem)
    decay_syn = math.exp(-dt / params.tau_syn)
    k_syn = _k_syn(params.tau_mem, params.tau_syn, dt, decay_mem, decay_syn)
    alpha = surrogate(params.surrogate).alpha if params.alpha is None else params.alpha
    return LIFCoefficients(
        decay_mem=decay_mem,
        decay_syn=decay_syn,
        k_syn=k_syn,
        c0=params.v_leak - params.v_leak * decay_mem,
        v_th=params.v_th,
        v_reset=params.v_reset,
        alpha=alpha,
    )


def _k_syn(tau_m: float, tau: float, dt: float, e_m: float, e_s: float) -> float:
    """How much of ``i`` reaches ``v`` over a step: the engine's ``current_propagator``
    (``simcore/engine/src/synapses/mod.rs``), expression for expression, so that a network
    trained here and run in the engine rounds the same constant."""
    a = 1.0 / tau - 1.0 / tau_m  # decay-rate difference
    y = a * dt
    if abs(y) > 1e-3:
        return (
            ((tau * e_s) * (-math.exp(dt / tau) + math.exp(dt / tau_m)))
            * e_m
            / ((0.0 - tau_m) + tau)
        )
    if y == 0.0:  # the limit when the two time constants meet
        return dt / tau_m * e_m
    return e_m * -math.expm1(-y) / (a * tau_m)  # cancellation-free near the limit


def initial_state(like: Tensor, params: LIFParams) -> LIFState:
    """Rest: ``v = v_leak``, ``i = 0``, shaped like one time step of ``like`` ([B, N])."""
    return LIFState(v=torch.full_like(like, params.v_leak), i=torch.zeros_like(like))


def _step(
    x: Tensor, state: LIFState, k: LIFCoefficients, params: LIFParams
) -> tuple[Tensor, LIFState]:
    v_dec = k.c0 + (k.k_syn * state.i + k.decay_mem * state.v)
    z = surrogate(params.surrogate).function.apply(v_dec - k.v_th, k.alpha)
    z_reset = z.detach() if params.detach_reset else z
    v = (1.0 - z_reset) * v_dec + z_reset * k.v_reset
    i = k.decay_syn * state.i + x
    return z, LIFState(v, i)


def lif_step(
    input_current: Tensor, state: LIFState, params: LIFParams, dt: float
) -> tuple[Tensor, LIFState]:
    """One step of the LIF population: ``(spikes, new_state)`` for an input ``[B, N]``."""
    return _step(input_current, state, lif_coefficients(params, dt), params)


def lif_sequence(
    inputs: Tensor, state: LIFState | None, params: LIFParams, dt: float
) -> tuple[Tensor, LIFState]:
    """``T`` steps of :func:`lif_step` over ``inputs[T, B, N]``: ``(spikes[T, B, N], final)``.

    ``state`` None starts at rest. This Python loop is the reference every other backend
    (the fused Triton kernel) is checked against.
    """
    return unroll("current", inputs, state, params, dt)


def _delta_step(
    x: Tensor, state: LIFState, k: LIFCoefficients, params: LIFParams
) -> tuple[Tensor, LIFState]:
    v_dec = k.c0 + k.decay_mem * state.v
    z = surrogate(params.surrogate).function.apply(v_dec - k.v_th, k.alpha)
    z_reset = z.detach() if params.detach_reset else z
    # the engine's delta synapse: the input lands after threshold and before reset, so the
    # input of a step in which the neuron spikes is wiped by the reset
    v = (1.0 - z_reset) * (v_dec + x) + z_reset * k.v_reset
    return z, LIFState(v, state.i)


def lif_delta_step(
    input_jump: Tensor, state: LIFState, params: LIFParams, dt: float
) -> tuple[Tensor, LIFState]:
    """One step of a LIF population whose input jumps ``v`` directly (the engine's ``delta``
    synapse; ``tau_syn`` is unused and ``i`` stays as it is): ``(spikes, new_state)``."""
    return _delta_step(input_jump, state, lif_coefficients(params, dt), params)


def _li_step(
    x: Tensor, state: LIFState, k: LIFCoefficients, params: LIFParams
) -> tuple[Tensor, LIFState]:
    v = k.c0 + (k.k_syn * state.i + k.decay_mem * state.v)
    return v, LIFState(v, k.decay_syn * state.i + x)


def li_step(
    input_current: Tensor, state: LIFState, params: LIFParams, dt: float
) -> tuple[Tensor, LIFState]:
    """One step of a non-spiking current-based leaky integrator (a read-out layer; the
    engine's ``leaky_integrator`` with an ``exp_current`` receptor): ``(v, new_state)``."""
    return _li_step(input_current, state, lif_coefficients(params, dt), params)


_STEPS = {"current": _step, "delta": _delta_step, "integrator": _li_step}


def unroll(
    synapse: str, inputs: Tensor, state: LIFState | None, params: LIFParams, dt: float
) -> tuple[Tensor, LIFState]:
    """``T`` reference steps of one neuron kind (``"current"``: :func:`lif_step`, ``"delta"``:
    :func:`lif_delta_step`, ``"integrator"``: :func:`li_step`) over ``inputs[T, ...]``:
    ``(outputs[T, ...], final)``; outputs are spikes, or ``v`` for the integrator."""
    if inputs.dim() < 2 or inputs.shape[0] == 0:
        raise ValueError(f"inputs must be [T, ...] with T > 0, got shape {tuple(inputs.shape)}")
    step = _STEPS[synapse]
    if state is None:
        state = initial_state(inputs[0], params)
    # a state broadcast over the batch (e.g. [N]) is expanded, so every step is [B, N]
    state = LIFState(state.v.expand_as(inputs[0]), state.i.expand_as(inputs[0]))
    k = lif_coefficients(params, dt)
    outputs = []
    for x in inputs.unbind(0):
        out, state = step(x, state, k, params)
        outputs.append(out)
    return torch.stack(outputs), state
