"""Training and sampling speed of evgen's ConditionalINN against zuko's NSF.

Side by side in one run: the paper architecture (arXiv:2110.13632, Table 1: 25 cubic
spline blocks, 60 bins, 3 hidden layers of 256) with the cubic and the
rational-quadratic spline, and ``zuko.flows.NSF`` with the same size in coupling
mode (``passes=2``), the reference a user would otherwise pick. Training is
forward + backward + Adam step; sampling is latent noise -> events without gradient.

Examples
--------
::

    python benchmarks/inn_speed.py --device cpu --threads 2 --batch 256 --sample-batch 4096
    python benchmarks/inn_speed.py --device cuda --compile --dtype bfloat16
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import contextlib
import time
from collections.abc import Callable

import torch

from evgen.nn import ConditionalINN


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(fn: Callable[[], object], events: int, steps: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return events * steps / (time.perf_counter() - start)


def _models(args: argparse.Namespace) -> dict[str, tuple[torch.nn.Module, Callable, Callable]]:
    """name -> (module, loss(x, c), sample(c))."""
    import zuko

    size = dict(blocks=args.blocks, bins=args.bins, hidden=args.hidden, layers=args.layers)
    models = {}
    for spline in ("cubic", "rational-quadratic"):
        flow = ConditionalINN(args.dim, args.cond, spline=spline, **size)
        models[f"evgen {spline}"] = (flow, flow.loss, flow.sample)
    nsf = zuko.flows.NSF(
        args.dim,
        args.cond,
        transforms=args.blocks,
        bins=args.bins,
        hidden_features=(args.hidden,) * args.layers,
        passes=2,
    )
    models["zuko NSF"] = (nsf, lambda x, c: -nsf(c).log_prob(x).mean(), lambda c: nsf(c).sample())
    return models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "tf32"), default="float32")
    parser.add_argument("--compile", action="store_true", help="torch.compile the loss and the sampler")
    parser.add_argument(
        "--compile-mode", default="default", help="torch.compile mode, e.g. max-autotune or reduce-overhead"
    )
    parser.add_argument("--batch", type=int, default=None, help="training batch (default 2048 cuda, 256 cpu)")
    parser.add_argument(
        "--sample-batch", type=int, default=None, help="sampling batch (default 2**18 cuda, 4096 cpu)"
    )
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 50 cuda, 5 cpu)")
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed steps first (default 5 cuda, 1 cpu)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--dim", type=int, default=17)
    parser.add_argument("--cond", type=int, default=4)
    parser.add_argument("--blocks", type=int, default=25)
    parser.add_argument("--bins", type=int, default=60)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=None, help="subset of models, e.g. 'evgen cubic'")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batch = args.batch or (2048 if cuda else 256)
    sample_batch = args.sample_batch or (2**18 if cuda else 4096)
    steps = args.steps or (50 if cuda else 5)
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.dtype == "tf32":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    autocast = (
        (lambda: torch.autocast(device.type, dtype=torch.bfloat16))
        if args.dtype == "bfloat16"
        else contextlib.nullcontext
    )

    torch.manual_seed(0)
    x = torch.randn(batch, args.dim, device=device)
    c = torch.randn(batch, args.cond, device=device)
    c_sample = torch.randn(sample_batch, args.cond, device=device)
    rows = []
    for name, (model, loss_fn, sample_fn) in _models(args).items():
        if args.only and name not in args.only:
            continue
        model.to(device)
        if args.compile:
            loss_fn = torch.compile(loss_fn, mode=args.compile_mode)
            sample_fn = torch.compile(sample_fn, mode=args.compile_mode)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

        def train_step(model=model, loss_fn=loss_fn, optimizer=optimizer) -> None:
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                loss = loss_fn(x, c)
            loss.backward()
            optimizer.step()

        def sample_step(sample_fn=sample_fn) -> None:
            with torch.no_grad(), autocast():
                sample_fn(c_sample)

        train = _rate(train_step, batch, steps, warmup, device)
        sample = _rate(sample_step, sample_batch, max(1, steps // 5), warmup, device)
        parameters = sum(p.numel() for p in model.parameters())
        rows.append((name, parameters, train, sample))
        model.cpu()

    reference = {name: (train, sample) for name, _, train, sample in rows}.get("zuko NSF")
    print(
        f"device={device} dtype={args.dtype} compile={args.compile and args.compile_mode} "
        f"threads={torch.get_num_threads()} "
        f"batch={batch} sample_batch={sample_batch} steps={steps}"
    )
    print(
        f"architecture: dim={args.dim} cond={args.cond} blocks={args.blocks} bins={args.bins} "
        f"hidden={args.hidden} layers={args.layers}"
    )
    header = f"{'model':<26}{'params':>11}{'train ev/s':>14}{'sample ev/s':>14}"
    if reference:
        header += f"{'train/zuko':>12}{'sample/zuko':>13}"
    print(header)
    for name, parameters, train, sample in rows:
        line = f"{name:<26}{parameters:>11,}{train:>14,.0f}{sample:>14,.0f}"
        if reference:
            line += f"{train / reference[0]:>12.2f}{sample / reference[1]:>13.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
