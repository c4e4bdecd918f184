"""The SNN-training peers (snnTorch, SpikingJelly, Norse) on the bench/snn_train.py problem.

Runs in the peers' own environment (made by ``bench/snn_train.py`` in the cache dir). Prints
one JSON object: ``{"<peer>": {"s": median seconds, "peak_mb": ..} | {"error": reason}}``,
where ``peak_mb`` is one pass's memory above what it starts with (its inputs and weights).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import threading
import time
from collections.abc import Callable

import torch
from torch import nn


def _snntorch(n: int) -> Callable[[torch.Tensor], torch.Tensor]:
    import snntorch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    lif = snntorch.Leaky(beta=0.9).to(device)  # its beta is a tensor, made on the CPU

    def run(x: torch.Tensor) -> torch.Tensor:
        mem = lif.init_leaky()
        out = []
        for t in range(x.shape[0]):
            spk, mem = lif(x[t], mem)
            out.append(spk)
        return torch.stack(out)

    return run


def _spikingjelly(n: int) -> Callable[[torch.Tensor], torch.Tensor]:
    # SpikingJelly 2.0 picks its kernel (Triton on CUDA, Torch otherwise) inside
    # functional.lif_multi_step; the 0.0.0.0.x releases took a ``backend`` argument instead.
    from spikingjelly.activation_based import functional, neuron

    device = "cuda" if torch.cuda.is_available() else "cpu"
    lif = neuron.LIFNode(tau=10.0, step_mode="m").to(device)

    def run(x: torch.Tensor) -> torch.Tensor:
        functional.reset_net(lif)
        return lif(x)

    return run


def _norse(n: int) -> Callable[[torch.Tensor], torch.Tensor]:
    import norse.torch as norse

    lif = norse.LIF()
    return lambda x: lif(x)[0]


PEERS = {"snntorch": _snntorch, "spikingjelly": _spikingjelly, "norse": _norse}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_cpu_mb(step: Callable[[], None]) -> float:
    """Peak resident memory of one ``step`` above the level before it, in MiB, sampled every
    millisecond from another thread (the CPU allocator keeps no statistics like CUDA's). What
    earlier passes freed is handed back to the system first, so it does not hide this one's."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    base = peak = _rss_bytes()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.001):
            peak = max(peak, _rss_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        step()
    finally:
        done.set()
        sampler.join()
    return (max(peak, _rss_bytes()) - base) / 2**20


def measure(make, n: int, variant: str, steps: int, batch: int, reps: int, device: str) -> dict:
    """Median seconds of ``reps`` forward + backward passes after a warm-up, then the peak
    memory of one more pass (apart, so sampling it costs the timed passes nothing). Also
    what ``bench/snn_train.py`` times our layer with, so every framework is timed alike."""
    torch.manual_seed(0)
    lif = make(n)
    linear = nn.Linear(n, n).to(device)
    x = torch.rand(steps, batch, n, device=device)
    if variant == "lif_only":
        x = (x * 2.0).requires_grad_()

    def step() -> None:
        inputs = linear(x) if variant == "layer" else x
        lif(inputs).sum().backward()

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    step()
    sync()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step()
        sync()
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = _peak_cpu_mb(step)
    return {"s": statistics.median(times), "peak_mb": round(peak, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--variant", choices=["layer", "lif_only"], required=True)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS))
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    result: dict[str, dict] = {}
    for name in args.peers:
        make = PEERS[name]
        try:
            result[name] = measure(
                make, args.n, args.variant, args.steps, args.batch, args.reps, device
            )
        except Exception as exc:
            result[name] = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
