"""Speed of toy-GAN training: plain loop vs batched ensemble vs optimised ensemble.

Times, in one run and side by side,

(a) the plain one-model loop (:func:`evgen_toy_gan.train_reference`), the reference;
(b) the plain batched ensemble of E models (stacked parameters, eager, no fusion);
(c) the optimised ensemble: ``torch.compile`` of the gradient functions, the whole
    step in a CUDA graph, fused Adam and TF32 on CUDA (``torch.compile`` only on CPU);
    if a combination fails the next simpler one is tried and the one used is printed,

as milliseconds per training step (one discriminator and one generator update of
all E models) and per model-step, and projects the wall time of 100 trainings with
the paper's schedule (10,000 epochs x 10 batches = 100,000 steps for 100 points),
with the speed-up over (a).

Examples::

    python benchmarks/toy_gan.py --device cuda --ensemble 100             # paper size, H100
    python benchmarks/toy_gan.py --device cpu --ensemble 8 --width 64 --noise-dim 64 --steps 40
"""

from __future__ import annotations

import argparse
import math
import time
import traceback
from typing import Any

import numpy as np
import torch
from evgen_toy_gan.config import ToyGANConfig
from evgen_toy_gan.ensemble import ToyGANEnsemble
from evgen_toy_gan.reference import train_reference
from evgen_toy_gan.training import EnsembleTrainer

PAPER_STEPS = 10_000 * 10
PAPER_TRAININGS = 100


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _config(args: argparse.Namespace, **changes: Any) -> ToyGANConfig:
    return ToyGANConfig(
        dim=args.dim,
        noise_dim=args.noise_dim,
        gen_width=args.width,
        disc_width=args.width,
        embed_widths=(args.width, args.width),
        gen_layers=args.layers,
        disc_layers=args.layers,
        device=args.device,
        progress=False,
        log_every=10**9,
        checkpoint_every=10**9,
        **changes,
    )


def _data(args: argparse.Namespace, n_models: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    n = 10 * args.batch  # 10 batches per epoch, like 100 points in batches of 10
    return [rng.normal(size=(n, args.dim)) + 4.0 * np.sign(rng.random((n, 1)) - 0.5) for _ in range(n_models)]


def time_reference(args: argparse.Namespace) -> float:
    """Seconds per step of the plain loop."""
    data = _data(args, 1)[0]
    warm = max(1, args.warmup // 10)
    train_reference(_config(args, epochs=warm, batch_size=args.batch), data)
    epochs = max(1, args.steps // 10)
    _sync(args.device)
    start = time.perf_counter()
    train_reference(_config(args, epochs=epochs, batch_size=args.batch), data)
    _sync(args.device)
    return (time.perf_counter() - start) / (10 * epochs)


def time_ensemble(args: argparse.Namespace, **flags: Any) -> float:
    """Seconds per step of an ensemble of ``args.ensemble`` models."""
    config = _config(args, batch_size=args.batch, **flags)
    ens = ToyGANEnsemble(config, n_models=args.ensemble, seed=0)
    data = torch.as_tensor(np.stack(_data(args, args.ensemble)), dtype=torch.float32, device=args.device)
    trainer = EnsembleTrainer(config, ens.gen, ens.disc)
    warm = max(1, math.ceil(args.warmup / 10))
    trainer.fit(data, epochs=warm)  # compiles / captures here
    epochs = max(1, args.steps // 10)
    _sync(args.device)
    start = time.perf_counter()
    trainer.fit(data, epochs=warm + epochs)
    _sync(args.device)
    return (time.perf_counter() - start) / (10 * epochs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--ensemble", type=int, default=100, help="models per ensemble E (100)")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per variant (200)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed steps first (30)")
    parser.add_argument("--dim", type=int, default=1)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--width", type=int, default=256, help="hidden width (paper 256)")
    parser.add_argument("--layers", type=int, default=7, help="hidden layers (paper 7)")
    parser.add_argument("--noise-dim", type=int, default=1000, help="generator inputs (paper 1000)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--skip-reference", action="store_true", help="do not time (a)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    print(
        f"device {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if cuda else f" ({torch.get_num_threads()} threads)")
        + f", torch {torch.__version__}; width {args.width} x {args.layers} layers, noise {args.noise_dim},"
        f" d = {args.dim}, batch {args.batch}, E = {args.ensemble}"
    )

    rows: list[tuple[str, float, int]] = []
    if not args.skip_reference:
        rows.append(("(a) plain loop, 1 model", time_reference(args), 1))
    rows.append((f"(b) batched ensemble, E={args.ensemble}", time_ensemble(args), args.ensemble))
    if cuda:
        candidates = [
            (
                "compile + CUDA graph + fused Adam + TF32",
                dict(compile=True, cuda_graphs=True, fused_adam=True, tf32=True),
            ),
            ("CUDA graph + fused Adam + TF32", dict(cuda_graphs=True, fused_adam=True, tf32=True)),
            ("compile + fused Adam + TF32", dict(compile=True, fused_adam=True, tf32=True)),
            ("fused Adam + TF32", dict(fused_adam=True, tf32=True)),
        ]
    else:
        candidates = [("torch.compile", dict(compile=True))]
    for name, flags in candidates:
        try:
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            seconds = time_ensemble(args, **flags)
        except Exception:  # noqa: BLE001 - report and try the next variant
            print(f"   {name}: failed, trying the next variant")
            traceback.print_exc(limit=3)
            continue
        rows.append((f"(c) {name}, E={args.ensemble}", seconds, args.ensemble))
        if cuda:
            print(f"   peak GPU memory of (c): {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
        break

    reference = rows[0][1] if not args.skip_reference else None
    print(
        f"\n{'variant':<58} {'ms/step':>9} {'ms/model-step':>14} {'min for 100 paper trainings':>28} {'speed-up':>9}"
    )
    for name, seconds, n_models in rows:
        minutes = math.ceil(PAPER_TRAININGS / n_models) * PAPER_STEPS * seconds / 60
        speedup = (
            (reference * PAPER_TRAININGS) / (seconds * math.ceil(PAPER_TRAININGS / n_models))
            if reference
            else math.nan
        )
        print(
            f"{name:<58} {seconds * 1e3:>9.2f} {seconds * 1e3 / n_models:>14.3f} {minutes:>28.1f} {speedup:>8.1f}x"
        )
    print(
        f"\nprojection: 100 trainings x {PAPER_STEPS:,} steps (10,000 epochs x 10 batches of 10 of 100 points),"
        f" run as ceil(100 / E) ensembles; speed-up = time of (a) / time of the variant"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
