"""The LIF training path: the Torch reference against closed forms of the ODE, the fused Triton
kernel (run by Triton's interpreter on CPU tensors) against the reference, backend choice.

Tolerances, with eps the machine epsilon of the dtype and T the number of steps:
- closed forms: |v - v_exact| <= 4 T eps max|v| (one rounding per operation per step);
- Triton vs reference: spikes equal; final v and i within 4 T eps max|.| (they come out equal:
  the kernel does the reference's operations in the reference's order, without FMA);
  gradients of inputs and initial state within 16 T eps max|grad| (only the surrogates built on
  exp differ, by an ulp or so, between NumPy in the interpreter and Torch).
"""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from types import ModuleType

import numpy as np
import pytest
import torch
from torch import Tensor

from simcore.train import (
    LIF,
    SURROGATES,
    LIFParams,
    LIFState,
    lif_coefficients,
    lif_sequence,
    lif_step,
)

DT = 1e-3
DTYPES = [torch.float32, torch.float64]


def _eps(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps


def _kernel_module(interpret: bool) -> ModuleType:
    """``lif_triton`` with its kernels built for the interpreter (or not).

    Triton picks interpreter or compiler when a kernel is decorated, i.e. at import, so the
    module is re-imported when it was first imported under the other setting.
    """
    pytest.importorskip("triton")
    os.environ["TRITON_INTERPRET"] = "1" if interpret else "0"
    module = importlib.import_module("simcore.train.kernels.lif_triton")
    if interpret != module.INTERPRET:
        module = importlib.reload(module)
    assert interpret == module.INTERPRET
    return module


@pytest.fixture(scope="module")
def lif_triton() -> Iterator[ModuleType]:
    """The kernel module under ``TRITON_INTERPRET=1``; afterwards the environment and the
    module are put back as they were, so later tests on a GPU get compiled kernels."""
    previous = os.environ.get("TRITON_INTERPRET")
    try:
        yield _kernel_module(interpret=True)
    finally:
        _kernel_module(interpret=previous == "1")
        if previous is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = previous


Sequence = Callable[[Tensor, LIFState | None, LIFParams, float], tuple[Tensor, LIFState]]


@pytest.fixture(params=["torch", "triton"])
def sequence(request: pytest.FixtureRequest) -> Sequence:
    """Each backend's whole-sequence function (the Triton one interpreted, small blocks)."""
    if request.param == "torch":
        return lif_sequence
    module = request.getfixturevalue("lif_triton")
    return lambda x, s, p, dt: module.lif_sequence_triton(x, s, p, dt, block=64)


def _assert_close(got: Tensor, want: Tensor, atol: float, what: str = "") -> None:
    # torch.testing.assert_close would do, but its first call imports torch.distributed (~6 s)
    assert got.shape == want.shape, f"{what}: shape {tuple(got.shape)} != {tuple(want.shape)}"
    err = (got - want).abs().max().item()
    assert err <= atol, f"{what}: max |difference| {err:.3g} > {atol:.3g}"


def _psc_response(t: np.ndarray, p: LIFParams) -> np.ndarray:
    """v - v_leak at time t after a unit jump of the synaptic current (R = 1), from the ODE."""
    ts, tm = p.tau_syn, p.tau_mem
    return ts / (ts - tm) * (np.exp(-t / ts) - np.exp(-t / tm))


# --- the reference (and every backend) against closed forms ----------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_subthreshold_trajectory_matches_the_ode(dtype: torch.dtype) -> None:
    p = LIFParams(tau_mem=10e-3, tau_syn=5e-3, v_leak=-0.2, v_th=10.0)
    x_value, n_steps, shape = 0.05, 60, (2, 5)
    x = torch.full((n_steps, *shape), x_value, dtype=dtype)
    state = LIFState(torch.full(shape, p.v_leak, dtype=dtype), torch.zeros(shape, dtype=dtype))
    vs, is_ = [], []
    for step in x.unbind(0):
        z, state = lif_step(step, state, p, DT)
        assert not z.any()
        vs.append(state.v[0, 0].item())
        is_.append(state.i[0, 0].item())
    # The input of step j is a current jump at the end of step j; v after step n sums the
    # responses to the jumps of steps 0 .. n-1, and i after step n the decays of 0 .. n.
    n = np.arange(n_steps)
    v_exact = p.v_leak + np.array(
        [x_value * _psc_response((k - np.arange(k)) * DT, p).sum() for k in n]
    )
    i_exact = np.array(
        [x_value * np.exp(-(k - np.arange(k + 1)) * DT / p.tau_syn).sum() for k in n]
    )
    tol = 4 * n_steps * _eps(dtype)
    np.testing.assert_allclose(vs, v_exact, rtol=0, atol=tol * np.abs(v_exact).max())
    np.testing.assert_allclose(is_, i_exact, rtol=0, atol=tol * np.abs(i_exact).max())
    assert v_exact[-1] - p.v_leak > 0.5 * x_value / (1 - math.exp(-DT / p.tau_syn))  # it rose


@pytest.mark.parametrize("dtype", DTYPES)
def test_constant_drive_spike_times_match_the_closed_form(
    sequence: Sequence, dtype: torch.dtype
) -> None:
    p = LIFParams(tau_mem=20e-3, tau_syn=5e-3, v_leak=0.0, v_th=1.0, v_reset=0.0)
    decay_syn, decay_mem = math.exp(-DT / p.tau_syn), math.exp(-DT / p.tau_mem)
    x_value = 0.4
    # Starting at i* = x / (1 - decay_syn), each step's input puts the current back where it
    # started, so the voltage relaxes geometrically to v_inf, and every spike restarts the same
    # interval from v_reset.
    i_star = x_value / (1 - decay_syn)
    v_inf = p.v_leak + _psc_response(np.array(DT), p).item() * i_star / (1 - decay_mem)
    ratio = math.log((v_inf - p.v_th) / (v_inf - p.v_reset)) / math.log(decay_mem)
    interval = math.floor(ratio) + 1  # first n with v_n > v_th
    assert 0.05 < ratio - math.floor(ratio) < 0.95, "crossing too close to a step edge"
    n_steps, shape = 200, (3, 4)
    x = torch.full((n_steps, *shape), x_value, dtype=dtype)
    state = LIFState(
        torch.full(shape, p.v_reset, dtype=dtype), torch.full(shape, i_star, dtype=dtype)
    )
    spikes, final = sequence(x, state, p, DT)
    expected = torch.zeros(n_steps, dtype=dtype)
    expected[interval - 1 :: interval] = 1
    assert interval > 3 and n_steps // interval > 5
    assert torch.equal(spikes, expected[:, None, None].expand(n_steps, *shape))
    assert int(spikes[:, 0, 0].sum()) == n_steps // interval
    since = n_steps % interval  # steps since the last reset
    v_end = v_inf + (p.v_reset - v_inf) * decay_mem**since
    tol = 4 * n_steps * _eps(dtype)
    _assert_close(final.v, torch.full_like(final.v, v_end), atol=tol * v_inf)
    _assert_close(final.i, torch.full_like(final.i, i_star), atol=tol * i_star)


def test_equal_time_constants_use_the_limit() -> None:
    p = LIFParams(tau_mem=10e-3, tau_syn=10e-3)
    k = lif_coefficients(p, DT)
    near = lif_coefficients(p._replace(tau_syn=10e-3 * (1 + 1e-6)), DT)
    assert k.k_syn == pytest.approx(near.k_syn, rel=1e-5)
    with pytest.raises(ValueError, match="positive"):
        lif_coefficients(p, 0.0)
    with pytest.raises(ValueError, match="unknown surrogate"):
        lif_coefficients(p._replace(surrogate="nope"), DT)


# --- the Triton kernel against the reference -------------------------------------------------


def _random_case(dtype: torch.dtype, seed: int = 0) -> tuple[Tensor, LIFState, list[Tensor]]:
    """Inputs that make about a fifth of the steps spike, a random initial state, and random
    weights for a loss that reaches spikes and both final state variables."""
    g = torch.Generator().manual_seed(seed)
    n_steps, batch, n = 16, 3, 37  # 111 neurons: a block of 64 and a partial one
    x = 0.6 + 0.6 * torch.randn(n_steps, batch, n, generator=g, dtype=dtype)
    state = LIFState(
        torch.rand(batch, n, generator=g, dtype=dtype),
        torch.rand(batch, n, generator=g, dtype=dtype),
    )
    weights = [
        torch.randn(s, generator=g, dtype=dtype) for s in (x.shape, state.v.shape, state.v.shape)
    ]
    return x, state, weights


def _run(fn: Sequence, x: Tensor, state: LIFState, p: LIFParams, weights: list[Tensor]) -> tuple:
    x = x.clone().requires_grad_()
    v0, i0 = state.v.clone().requires_grad_(), state.i.clone().requires_grad_()
    spikes, final = fn(x, LIFState(v0, i0), p, DT)
    loss = (spikes * weights[0]).sum() + (final.v * weights[1]).sum() + (final.i * weights[2]).sum()
    grads = torch.autograd.grad(loss, [x, v0, i0])
    return spikes.detach(), final.v.detach(), final.i.detach(), grads


@pytest.mark.parametrize("detach_reset", [False, True], ids=["reset-grad", "detached-reset"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(SURROGATES))
def test_triton_matches_reference(
    lif_triton: ModuleType, name: str, dtype: torch.dtype, detach_reset: bool
) -> None:
    p = LIFParams(surrogate=name, detach_reset=detach_reset)
    x, state, weights = _random_case(dtype)
    z_ref, v_ref, i_ref, g_ref = _run(lif_sequence, x, state, p, weights)
    kernel = lambda *a: lif_triton.lif_sequence_triton(*a, block=64)  # noqa: E731
    z, v, i, g = _run(kernel, x, state, p, weights)

    assert 0.1 < z_ref.mean().item() < 0.4  # a meaningful mix of spikes and silence
    assert torch.equal(z, z_ref)
    tol = 4 * x.shape[0] * _eps(dtype)
    _assert_close(v, v_ref, atol=tol * v_ref.abs().max().item())
    _assert_close(i, i_ref, atol=tol * i_ref.abs().max().item())
    gtol = 16 * x.shape[0] * _eps(dtype)
    for got, want, what in zip(g, g_ref, ("inputs", "v0", "i0"), strict=True):
        scale = want.abs().max().item()
        assert scale > 0, what
        _assert_close(got, want, atol=gtol * scale, what=f"d loss / d {what}")


def test_triton_gradient_of_spikes_alone_and_broadcast_state(lif_triton: ModuleType) -> None:
    """``spikes.sum()`` gives a stride-0 gradient and no gradient for the final state; a
    state of shape [N] broadcasts over the batch and gets its gradient summed back."""
    x, _, _ = _random_case(torch.float64, seed=1)
    p = LIFParams(surrogate="arctan")
    grads = []
    for fn in (lif_sequence, lif_triton.lif_sequence_triton):
        xg = x.clone().requires_grad_()
        v0 = torch.full((x.shape[-1],), 0.3, dtype=x.dtype, requires_grad=True)
        i0 = torch.zeros(x.shape[-1], dtype=x.dtype, requires_grad=True)
        spikes, _ = fn(xg, LIFState(v0, i0), p, DT)
        grads.append(torch.autograd.grad(spikes.sum(), [xg, v0, i0]))
    for got, want, what in zip(grads[1], grads[0], ("inputs", "v0", "i0"), strict=True):
        _assert_close(got, want, atol=1e-12 * want.abs().max().item(), what=what)


def test_triton_without_state_and_without_grad(lif_triton: ModuleType) -> None:
    x, _, _ = _random_case(torch.float32, seed=2)
    p = LIFParams(surrogate="sigmoid")
    with torch.no_grad():
        z_ref, s_ref = lif_sequence(x, None, p, DT)
        z, s = lif_triton.lif_sequence_triton(x, None, p, DT)
    assert torch.equal(z, z_ref)
    assert torch.equal(s.v, s_ref.v) and torch.equal(s.i, s_ref.i)


def test_triton_refuses_cpu_tensors_when_not_interpreted(
    lif_triton: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lif_triton, "INTERPRET", False)
    x = torch.zeros(4, 2, 3)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET"):
        lif_triton.lif_sequence_triton(x, None, LIFParams(), DT)


# --- the layer ---------------------------------------------------------------------------------


def test_layer_picks_the_reference_on_cpu() -> None:
    layer = LIF()
    assert layer.backend is None
    x, state, _ = _random_case(torch.float32)
    spikes, final = layer(x, state)
    assert layer.backend == "torch"
    z_ref, s_ref = lif_sequence(x, state, LIFParams(), 1e-3)
    assert torch.equal(spikes, z_ref) and torch.equal(final.v, s_ref.v)
    with pytest.raises(ValueError, match="unknown backend"):
        LIF(backend="cuda")  # type: ignore[arg-type]


def test_layer_forced_to_triton_runs_the_kernel(lif_triton: ModuleType) -> None:
    layer = LIF(LIFParams(surrogate="triangle"), dt=DT, backend="triton")
    x, state, _ = _random_case(torch.float32, seed=3)
    spikes, final = layer(x, state)
    assert layer.backend == "triton"
    z_ref, s_ref = lif_sequence(x, state, layer.params, DT)
    assert torch.equal(spikes, z_ref) and torch.equal(final.v, s_ref.v)
    assert LIF(backend="torch").choose_backend(x) == "torch"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_layer_picks_triton_on_cuda_and_agrees() -> None:
    _kernel_module(interpret=False)
    x, state, weights = _random_case(torch.float64)
    x, state = x.cuda(), LIFState(state.v.cuda(), state.i.cuda())
    weights = [w.cuda() for w in weights]
    layer = LIF()
    layer(x, state)
    assert layer.backend == "triton"
    ref = _run(lif_sequence, x, state, layer.params, weights)
    got = _run(lambda *a: LIF()(a[0], a[1]), x, state, layer.params, weights)
    assert torch.equal(got[0], ref[0])
    for a, b, what in zip(got[3], ref[3], ("inputs", "v0", "i0"), strict=True):
        _assert_close(a, b, atol=1e-10 * b.abs().max().item(), what=what)


def test_importing_simcore_does_not_import_torch() -> None:
    code = "import sys, simcore, simcore.spec; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
