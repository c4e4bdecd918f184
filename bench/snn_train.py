"""SNN training speed, after the open SNN-framework benchmark: Linear(N, N) then a LIF layer,
batch 16, 500 steps, float32, loss = sum of the output, forward + backward; plus a LIF-only
variant (input currents precomputed). Ours is ``simcore.train.LIF`` (backend auto: the fused
Triton kernel on a GPU, the Torch reference on the CPU); the peers (snnTorch, SpikingJelly,
Norse) run in their own environment (``$SPIKEX_CACHE_DIR/snn-peers-env``, made here if missing,
with this environment's torch version) in a subprocess. Also: seconds to 95% test accuracy of
an MLP on scikit-learn's digits.

    python bench/snn_train.py [--reps 20] [--n 512 4096] [--variants layer lif_only]
                              [--peers snntorch spikingjelly norse]

The last line is one JSON object (see the ``results`` schema in the issue).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import torch
from peer_env import peer_python
from peers.snn_lif_peers import measure
from torch import nn

from simcore.train import LIF, LIFParams, sequence_fn

ROOT = Path(__file__).resolve().parent.parent
PEERS = ("snntorch", "spikingjelly", "norse")
VARIANTS = ("layer", "lif_only")


def time_ours(n: int, variant: str, steps: int, batch: int, reps: int, device: str) -> dict:
    lif = LIF()
    result = measure(lambda _: lambda x: lif(x)[0], n, variant, steps, batch, reps, device)
    return {**result, "backend": lif.backend}


def grad_agreement(device: str) -> float:
    """Max relative difference between our input gradient and a plain autograd unroll's."""
    torch.manual_seed(1)
    x = (torch.rand(100, 4, 256, device=device) * 2.0).requires_grad_()
    params = LIFParams()
    (g_ours,) = torch.autograd.grad(LIF(params)(x)[0].sum(), x)
    (g_ref,) = torch.autograd.grad(sequence_fn("torch")(x, None, params, 1e-3)[0].sum(), x)
    return float((g_ours - g_ref).abs().max() / g_ref.abs().max().clamp_min(1e-12))


def run_peers(
    n: int, variant: str, steps: int, batch: int, reps: int, peers: list[str], python: str | None
) -> dict:
    """The peers' timings from their own process: ``python`` if given (an interpreter where
    they are installed already), else the cached environment, made here if missing."""
    try:
        python = python or peer_python(
            "snn-peers-env",
            "the SNN peers",
            "import snntorch, spikingjelly",
            [f"torch=={torch.__version__.split('+')[0]}", "snntorch>=0.9", "spikingjelly", "numpy"],
            optional=["norse"],  # it may not build
        )
    except (subprocess.CalledProcessError, OSError) as exc:
        return {p: {"error": f"peer environment: {exc}"} for p in PEERS}
    cmd = [str(python), str(ROOT / "bench/peers/snn_lif_peers.py"), "--n", str(n)]
    cmd += ["--variant", variant, "--steps", str(steps), "--batch", str(batch)]
    cmd += ["--reps", str(reps), "--peers", *peers]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        reason = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return {p: {"error": reason[0]} for p in PEERS}
    return json.loads(lines[-1])


def digits_mlp_s_to_95(max_epochs: int = 200) -> float | None:
    """A plain Torch loop (the trainer takes a ModelSpec; this measures the data + MLP path)."""
    from sklearn.model_selection import train_test_split

    from simcore.train.datasets import digits

    ds = digits()
    x = torch.from_numpy(ds.x.reshape(len(ds), -1)).float()
    y = torch.from_numpy(ds.y)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    t0 = time.perf_counter()
    for _ in range(max_epochs):
        for idx in torch.randperm(len(xtr)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
        with torch.no_grad():
            if (model(xte).argmax(1) == yte).float().mean() >= 0.95:
                return time.perf_counter() - t0
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=20, help="timed runs (at least 20 to cite)")
    parser.add_argument("--n", type=int, nargs="*", default=None)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument(
        "--peers",
        nargs="*",
        choices=PEERS,
        default=list(PEERS),
        help="the peers to run (--peers alone: none)",
    )
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--peer-python",
        help="an interpreter that has the peers installed (e.g. on a machine with no network)",
    )
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    sizes = args.n or ([512, 4096, 16384] if device == "cuda" else [512, 4096])
    if args.reps < 20:
        print(f"quick run: median of {args.reps} runs (fewer than 20)", flush=True)
    print(f"gradient vs plain BPTT, max rel diff: {grad_agreement(device):.2e}", flush=True)
    results = []
    for n in sizes:
        for variant in args.variants:
            ours = time_ours(n, variant, args.steps, args.batch, args.reps, device)
            peers = (
                run_peers(
                    n, variant, args.steps, args.batch, args.reps, args.peers, args.peer_python
                )
                if args.peers
                else {}
            )
            row: dict[str, object] = {"n": n, "variant": variant, "ours_s": ours["s"]}
            row["ours_peak_mb"] = ours["peak_mb"]
            for name in PEERS:
                got = peers.get(name, {"error": "not run (not in --peers)"})
                if "error" in got:
                    print(f"  {name}: null ({got['error']})", flush=True)
                row[f"{name}_s"] = got.get("s")
                row[f"{name}_peak_mb"] = got.get("peak_mb")
            peer_times = [
                t
                for t in (row["snntorch_s"], row["spikingjelly_s"], row["norse_s"])
                if t is not None
            ]
            row["ratio_vs_fastest_peer"] = min(peer_times) / ours["s"] if peer_times else None
            print(
                f"n={n} {variant}: ours {ours['s']:.4f}s ({ours['backend']}, peak "
                f"{ours['peak_mb']} MiB), peers {json.dumps(peers)}",
                flush=True,
            )
            results.append(row)
    s95 = digits_mlp_s_to_95()
    print("digits MLP: plain Torch loop", flush=True)
    print(
        json.dumps(
            {"bench": "snn_train", "device": device, "results": results, "digits_mlp_s_to_95": s95}
        )
    )


if __name__ == "__main__":
    main()
