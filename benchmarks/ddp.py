"""Data-parallel training throughput: DistributedDataParallel against plain training.

The base μμj network of ``configs/zjets-inn-small.toml`` (8 cubic-spline blocks,
32 bins, 2 × 128 hidden) trains on the shipped Z+jets sample (preprocessed as
``zjets-inn`` does) with :class:`evgen.training.Trainer` in three set-ups, each in
fresh processes:

* ``plain``: one process, no process group (what ``evgen train`` does);
* ``ddp-1``: one process through the data-parallel code path (a process group of
  one, DistributedDataParallel, the per-step all-reduce): the wrapper's overhead;
* ``ddp-N``: ``N`` processes (gloo on the CPU, NCCL with one GPU each), the same
  per-process batch (so a global batch ``N ×`` larger: weak scaling), and with
  ``--strong`` also the same global batch (per-process batch ``/ N``).

Training events per second (all processes together; median over epochs after the
first) are printed side by side with their ratio to ``plain``.

Examples
--------
::

    python benchmarks/ddp.py                       # CPU: 1 thread per process, 2 gloo processes
    python benchmarks/ddp.py --device cuda         # 1 GPU: DDP wrapper overhead (+ all GPUs if > 1)
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path


def _tensors(path: Path, out: Path) -> int:
    """Base-stage tensors (x, c, w) of the shipped sample, as zjets-inn trains them; returns their count."""
    import numpy as np
    import torch
    from evgen_zjets_inn.config import PreprocessingConfig
    from evgen_zjets_inn.generator import check_events
    from evgen_zjets_inn.model import one_hot

    from evgen.events import event_weights
    from evgen.io import read_events
    from evgen.preprocessing.zjets import ZJetsPreprocessing

    events, _ = check_events(read_events(path), drop=True)
    pre = ZJetsPreprocessing(**PreprocessingConfig().kwargs()).fit(events, event_weights(events))
    xs, cs = [], []
    for n, (y, _where) in pre.encode(events).items():
        xs.append(torch.as_tensor(y[:, :9], dtype=torch.float32))
        cs.append(one_hot(n, len(y)))
    x, c = torch.cat(xs), torch.cat(cs)
    w = torch.as_tensor(np.ones(len(x)), dtype=torch.float32)
    torch.save({"x": x, "c": c, "w": w}, out)
    return len(x)


def _worker(rank: int, world: int, mode: str, args: dict, data: str, result: str, port: int) -> None:
    import torch

    from evgen.nn import ConditionalINN
    from evgen.training import TensorSource, TrainConfig, Trainer
    from evgen.training.distributed import process_group

    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(args["threads"])
    tensors = torch.load(data, weights_only=True)
    torch.manual_seed(0)
    flow = ConditionalINN(9, 3, blocks=8, bins=32, hidden=128, layers=2, spline="cubic")
    config = TrainConfig(
        epochs=args["epochs"],
        batch_size=args["batch_size"],
        lr_start=2e-4,
        lr_max=2e-3,
        device=args["device"],
        threads=args["threads"],
    )

    def fit(distributed: bool) -> list[dict]:
        trainer = Trainer(
            flow,
            lambda m, b: m.loss(*b),
            config,
            seed=1,
            progress=False,
            distributed=distributed,
            weight_index=2,
        )
        return trainer.fit(TensorSource(tensors["x"], tensors["c"], tensors["w"]))

    if mode == "plain":
        history = fit(False)
    else:
        with process_group(args["device"]):
            history = fit(True)
    if rank == 0:
        Path(result).write_text(json.dumps(history))


def _run(mode: str, world: int, args: dict, data: str) -> dict:
    import torch.multiprocessing as mp

    from evgen.training.distributed import free_port

    with tempfile.TemporaryDirectory() as tmp:
        result = str(Path(tmp) / "history.json")
        mp.spawn(_worker, args=(world, mode, args, data, result, free_port()), nprocs=world, join=True)
        history = json.loads(Path(result).read_text())
    rates = [r["events_per_s"] for r in history[1:]] or [history[0]["events_per_s"]]
    return {"events_per_s": statistics.median(rates), "loss": history[-1]["loss"], "processes": world}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--nproc", type=int, help="processes for ddp-N (default: 2 on the CPU, all GPUs)")
    parser.add_argument("--batch-size", type=int, default=256, help="per-process batch")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--strong", action="store_true", help="also ddp-N with the plain run's global batch")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    import torch

    from evgen import plugins

    if args.device == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda: no CUDA device on this machine")
        nproc = args.nproc or torch.cuda.device_count()
        machine = f"{torch.cuda.device_count()} × {torch.cuda.get_device_name(0)}"
    else:
        nproc = args.nproc or 2
        machine = f"CPU, {os.cpu_count()} cores, {args.threads} torch thread(s) per process"
    options = {
        "device": args.device,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "threads": args.threads,
    }
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = str(Path(tmp) / "tensors.pt")
        n = _tensors(plugins.get_dataset("zjets-small").path, Path(data))
        print(f"{machine}; {n} training events per epoch, per-process batch {args.batch_size}")
        runs = [("plain", 1, options), ("ddp-1", 1, options)]
        if nproc > 1:
            runs.append((f"ddp-{nproc}", nproc, options))
            if args.strong:
                strong = {**options, "batch_size": max(1, args.batch_size // nproc)}
                runs.append((f"ddp-{nproc} strong", nproc, strong))
        for name, world, opts in runs:
            results[name] = _run(name.split("-")[0] if name == "plain" else "ddp", world, opts, data)
            results[name]["global_batch"] = opts["batch_size"] * world
    base = results["plain"]["events_per_s"]
    print(f"{'set-up':<18} {'processes':>9} {'global batch':>12} {'events/s':>10} {'ratio':>6}")
    for name, r in results.items():
        ratio = r["events_per_s"] / base
        print(
            f"{name:<18} {r['processes']:>9} {r['global_batch']:>12} {r['events_per_s']:>10.0f} {ratio:>6.2f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    return results


if __name__ == "__main__":
    main()
