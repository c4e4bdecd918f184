"""Fused Triton kernels for a whole LIF sequence: one launch forward, one launch backward.

Each program owns ``BLOCK`` of the ``M = B * N`` neurons and walks all ``T`` steps with the
state in registers, so the sequence costs one read of the inputs and one write of the spikes
(forward), instead of ``T`` launches of a dozen elementwise ops. The arithmetic is
:func:`simcore.train.functional.lif_step`'s, in the same order, so the spikes equal the
reference's (floating-point contraction into FMAs is switched off in the forward for that).

What the backward needs is stored, not recomputed: the membrane potential *before* threshold
and reset, ``v_dec[T, B, N]``, in the compute dtype. The spike is ``v_dec > v_th`` again, and the
synaptic current is not needed at all (``i`` enters the recursion only linearly). The backward
walks the steps in reverse from the gradients of the final state:

    dL/dx_t     = g_i                                        (g_i, g_v: dL/di', dL/dv' at step t)
    dL/dz_t     = g_z[t] + g_v (v_reset - v_dec)            (without the second term if detached)
    dL/dv_dec   = g_v (1 - z_t) + dL/dz_t * surrogate'(v_dec - v_th)
    g_v, g_i    <- decay_mem dL/dv_dec,  decay_syn g_i + k_syn dL/dv_dec

and ends with the gradients of the initial state. The parameters (time constants, threshold,
reset, surrogate slope) are constants here: they get no gradient.

Inputs in float64 are computed in float64; every other dtype is computed in float32 (and its
spikes and final state are stored back in that dtype).
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from simcore.train.functional import (
    LIFCoefficients,
    LIFParams,
    LIFState,
    initial_state,
    lif_coefficients,
)
from simcore.train.surrogate import surrogate

# Triton builds its kernels for the interpreter when this is set at import (decoration) time;
# then they run on CPU tensors too, which is how the tests check them without a GPU.
INTERPRET: bool = os.environ.get("TRITON_INTERPRET", "0") == "1"

# Neurons per program; 4 fp32 values per thread (16-byte accesses) with BLOCK // 128 warps.
DEFAULT_BLOCK = 512


@triton.jit
def _lif_fwd_kernel(
    x_ptr,
    v0_ptr,
    i0_ptr,
    coef_ptr,
    z_ptr,
    vdec_ptr,
    v_out_ptr,
    i_out_ptr,
    T,
    M,
    BLOCK: tl.constexpr,
    SAVE_VDEC: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    c0 = tl.load(coef_ptr + 0)
    decay_mem = tl.load(coef_ptr + 1)
    k_syn = tl.load(coef_ptr + 2)
    decay_syn = tl.load(coef_ptr + 3)
    v_th = tl.load(coef_ptr + 4)
    v_reset = tl.load(coef_ptr + 5)
    v = tl.load(v0_ptr + offs, mask=mask, other=0.0).to(c0.dtype)
    i = tl.load(i0_ptr + offs, mask=mask, other=0.0).to(c0.dtype)
    # Pointers advance by M per step (64-bit pointer arithmetic: T * M may pass 2**31).
    x_ptrs = x_ptr + offs
    z_ptrs = z_ptr + offs
    vdec_ptrs = vdec_ptr + offs
    t = 0
    # a while loop, not `for _ in range(T)`: Triton 3.6's interpreter int()s the 1-element
    # array that holds T there, which NumPy >= 2.4 refuses (compiled, the two are the same)
    while t < T:
        x = tl.load(x_ptrs, mask=mask, other=0.0).to(c0.dtype)
        v_dec = c0 + (k_syn * i + decay_mem * v)
        spike = v_dec > v_th
        tl.store(z_ptrs, spike.to(z_ptr.dtype.element_ty), mask=mask)
        if SAVE_VDEC:
            tl.store(vdec_ptrs, v_dec, mask=mask)
            vdec_ptrs += M
        v = tl.where(spike, v_reset, v_dec)
        i = decay_syn * i + x
        x_ptrs += M
        z_ptrs += M
        t += 1
    tl.store(v_out_ptr + offs, v.to(v_out_ptr.dtype.element_ty), mask=mask)
    tl.store(i_out_ptr + offs, i.to(i_out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _surrogate_grad(x, alpha, sg_a, sg_b, SURROGATE: tl.constexpr):
    """The pseudo-derivatives of ``surrogate.py``, selected by ``Surrogate.code``."""
    if SURROGATE == 0:  # fast sigmoid: 1 / (alpha |x| + 1)^2
        d = alpha * tl.abs(x) + 1.0
        g = 1.0 / (d * d)
    elif (
        SURROGATE == 1
    ):  # arctan: (alpha/2) / (1 + (pi/2 alpha x)^2), sg_a = alpha/2, sg_b = pi/2 alpha
        y = sg_b * x
        g = sg_a / (1.0 + y * y)
    elif SURROGATE == 2:  # sigmoid: alpha s (1 - s), s = sigmoid(alpha x)
        s = 1.0 / (1.0 + tl.exp(-(alpha * x)))
        g = alpha * s * (1.0 - s)
    else:  # triangle: alpha max(0, 1 - alpha |x|)
        g = alpha * tl.maximum(1.0 - alpha * tl.abs(x), 0.0)
    return g


@triton.jit
def _lif_bwd_kernel(
    gz_ptr,
    vdec_ptr,
    gv_ptr,
    gi_ptr,
    coef_ptr,
    gx_ptr,
    gv0_ptr,
    gi0_ptr,
    T,
    M,
    last,
    BLOCK: tl.constexpr,
    SURROGATE: tl.constexpr,
    DETACH_RESET: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    decay_mem = tl.load(coef_ptr + 1)
    k_syn = tl.load(coef_ptr + 2)
    decay_syn = tl.load(coef_ptr + 3)
    v_th = tl.load(coef_ptr + 4)
    v_reset = tl.load(coef_ptr + 5)
    alpha = tl.load(coef_ptr + 6)
    sg_a = tl.load(coef_ptr + 7)
    sg_b = tl.load(coef_ptr + 8)
    gv = tl.load(gv_ptr + offs, mask=mask, other=0.0).to(decay_mem.dtype)
    gi = tl.load(gi_ptr + offs, mask=mask, other=0.0).to(decay_mem.dtype)
    # start at step T - 1; last = (T - 1) * M comes from the host (64-bit when it must be)
    gz_ptrs = gz_ptr + last + offs
    vdec_ptrs = vdec_ptr + last + offs
    gx_ptrs = gx_ptr + last + offs
    t = 0
    while t < T:  # see the forward kernel
        v_dec = tl.load(vdec_ptrs, mask=mask, other=0.0)
        g_spike = tl.load(gz_ptrs, mask=mask, other=0.0).to(decay_mem.dtype)
        tl.store(gx_ptrs, gi.to(gx_ptr.dtype.element_ty), mask=mask)
        x = v_dec - v_th
        spike = x > 0
        if not DETACH_RESET:
            g_spike += gv * (v_reset - v_dec)
        g_vdec = tl.where(spike, 0.0, gv) + g_spike * _surrogate_grad(
            x, alpha, sg_a, sg_b, SURROGATE
        )
        gi = decay_syn * gi + k_syn * g_vdec
        gv = decay_mem * g_vdec
        gz_ptrs -= M
        vdec_ptrs -= M
        gx_ptrs -= M
        t += 1
    tl.store(gv0_ptr + offs, gv.to(gv0_ptr.dtype.element_ty), mask=mask)
    tl.store(gi0_ptr + offs, gi.to(gi0_ptr.dtype.element_ty), mask=mask)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _coefficients(k: LIFCoefficients, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The constants the kernels load, rounded once from float64 to the compute dtype, as the
    reference's Python floats are when they meet a tensor. The last two are the arctan
    surrogate's ``alpha / 2`` and ``pi / 2 * alpha``, formed here exactly as
    ``surrogate.arctan_grad`` forms them (a literal pi/2 in the kernel would be float32)."""
    values = [k.c0, k.decay_mem, k.k_syn, k.decay_syn, k.v_th, k.v_reset]
    values += [k.alpha, k.alpha / 2.0, math.pi / 2.0 * k.alpha]
    return torch.tensor(values, dtype=dtype, device=device)


def _launch_config(block: int) -> dict[str, int]:
    if block < 16 or block & (block - 1):
        raise ValueError(f"block must be a power of two >= 16, got {block}")
    return {"BLOCK": block, "num_warps": max(1, min(16, block // 128))}


class LIFSequenceFunction(torch.autograd.Function):
    """``(inputs[T,B,N], v0[B,N], i0[B,N]) -> (spikes, v_T, i_T)`` through the fused kernels."""

    @staticmethod
    def forward(
        ctx: Any,
        inputs: Tensor,
        v0: Tensor,
        i0: Tensor,
        k: LIFCoefficients,
        code: int,
        detach_reset: bool,
        block: int,
    ) -> tuple[Tensor, Tensor, Tensor]:
        x = inputs.contiguous()
        v0, i0 = v0.contiguous(), i0.contiguous()
        n_steps, m = x.shape[0], x[0].numel()
        compute = _compute_dtype(x.dtype)
        coef = _coefficients(k, compute, x.device)
        save = any(ctx.needs_input_grad[:3])
        z = torch.empty_like(x)
        # v_dec is only written when a backward may need it (a dummy pointer otherwise)
        vdec = torch.empty(x.shape if save else (1,), dtype=compute, device=x.device)
        v_out, i_out = torch.empty_like(v0), torch.empty_like(i0)
        grid = (triton.cdiv(m, block),)
        _lif_fwd_kernel[grid](
            x, v0, i0, coef, z, vdec, v_out, i_out, n_steps, m,
            SAVE_VDEC=save,
            enable_fp_fusion=False,  # no FMA contraction: round as the Torch reference does
            **_launch_config(block),
        )  # fmt: skip
        ctx.save_for_backward(vdec, coef)
        ctx.code, ctx.detach_reset, ctx.block = code, detach_reset, block
        ctx.shapes = (x.shape, x.dtype, v0.dtype, i0.dtype)
        return z, v_out, i_out

    @staticmethod
    def backward(
        ctx: Any, g_z: Tensor | None, g_v: Tensor | None, g_i: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        vdec, coef = ctx.saved_tensors
        shape, x_dtype, v_dtype, i_dtype = ctx.shapes
        device = vdec.device
        n_steps, m = shape[0], math.prod(shape[1:])
        state_shape = shape[1:]
        # Autograd hands over None for unused outputs and may hand over expanded (stride 0)
        # gradients, e.g. from .sum(): the kernel wants dense ones.
        g_z = torch.zeros(shape, dtype=x_dtype, device=device) if g_z is None else g_z
        g_v = torch.zeros(state_shape, dtype=v_dtype, device=device) if g_v is None else g_v
        g_i = torch.zeros(state_shape, dtype=i_dtype, device=device) if g_i is None else g_i
        g_x = torch.empty(shape, dtype=x_dtype, device=device)
        g_v0 = torch.empty(state_shape, dtype=v_dtype, device=device)
        g_i0 = torch.empty(state_shape, dtype=i_dtype, device=device)
        grid = (triton.cdiv(m, ctx.block),)
        _lif_bwd_kernel[grid](
            g_z.contiguous(), vdec, g_v.contiguous(), g_i.contiguous(), coef,
            g_x, g_v0, g_i0, n_steps, m, (n_steps - 1) * m,
            SURROGATE=ctx.code, DETACH_RESET=ctx.detach_reset,
            enable_fp_fusion=True,  # gradients are compared with a tolerance: FMAs welcome
            **_launch_config(ctx.block),
        )  # fmt: skip
        return g_x, g_v0, g_i0, None, None, None, None


def lif_sequence_triton(
    inputs: Tensor,
    state: LIFState | None,
    params: LIFParams,
    dt: float,
    *,
    block: int = DEFAULT_BLOCK,
) -> tuple[Tensor, LIFState]:
    """:func:`simcore.train.functional.lif_sequence` in two kernel launches (CUDA, or CPU
    tensors under ``TRITON_INTERPRET=1``): ``(spikes[T, B, N], final_state)``."""
    if inputs.dim() < 2 or inputs.shape[0] == 0:
        raise ValueError(f"inputs must be [T, ...] with T > 0, got shape {tuple(inputs.shape)}")
    if not inputs.is_floating_point():
        raise TypeError(f"inputs must be floating point, got {inputs.dtype}")
    if not (inputs.is_cuda or INTERPRET):
        raise RuntimeError(
            "the Triton LIF kernel needs CUDA tensors (or TRITON_INTERPRET=1 set before "
            "simcore.train.kernels.lif_triton is imported); use backend='torch' on the CPU"
        )
    if state is None:
        state = initial_state(inputs[0], params)
    # The kernel wants dense [B, N] state in the inputs' dtype; expanding here (outside the
    # autograd.Function) lets autograd sum the gradient back onto a broadcast state.
    step_shape = inputs.shape[1:]
    v0 = state.v.to(inputs.dtype).expand(step_shape)
    i0 = state.i.to(inputs.dtype).expand(step_shape)
    code = surrogate(params.surrogate).code
    z, v, i = LIFSequenceFunction.apply(
        inputs, v0, i0, lif_coefficients(params, dt), code, params.detach_reset, block
    )
    return z, LIFState(v, i)
