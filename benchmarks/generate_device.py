"""Generation speed on a device: the networks alone, ``generator.sample``, and ``evgen generate`` end to end.

Usage::

    python benchmarks/generate_device.py --device cuda                       # small and paper-size
    python benchmarks/generate_device.py --device cpu --threads 1 --events 200000
    python benchmarks/generate_device.py --device cuda --run runs/zjets      # an existing run

Without ``--run`` a run directory is made per config (``configs/zjets-inn-small.toml`` and
``configs/zjets-inn-paper.toml``) by training one short epoch on part of the shipped sample:
the speed of sampling does not depend on how well a network is trained. Prints events/s
for

* ``networks``: ``model.sample`` per multiplicity in batches of ``--batch`` on the device
  (synchronised), mixed by the training fractions;
* ``sample``: ``generator.sample(chunk)`` (networks, decoding, event building, weights);
* ``generate``: ``generate_from_run`` into a ROOT file, with and without the overlap of
  sampling and writing (``--format`` ttree or rntuple).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

CONFIGS = {"small": "configs/zjets-inn-small.toml", "paper": "configs/zjets-inn-paper.toml"}


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _make_run(config: str, directory: Path, max_events: int) -> Path:
    from evgen import plugins
    from evgen.training.api import train_generator

    run = directory / Path(config).stem
    train_generator(
        "zjets-inn",
        [plugins.get_dataset("zjets-small").path],
        run,
        config=config,
        overrides={"training.epochs": 1, "data.max_events": max_events, "training.device": "cpu"},
        progress=False,
        plots=False,
    )
    return run


def _networks(generator, device: str, events: int, batch: int) -> float:
    import torch

    from evgen.preprocessing.zjets import MULTIPLICITIES

    rng = torch.Generator(device=device).manual_seed(1)
    counts = {k: int(events * generator.fractions[k]) for k in MULTIPLICITIES}
    for k in MULTIPLICITIES:  # warm-up (kernels, allocator)
        generator.model.sample(k, min(batch, 1000), rng)
    _sync(device)
    start = time.perf_counter()
    for k, count in counts.items():
        for first in range(0, count, batch):
            generator.model.sample(k, min(batch, count - first), rng)
    _sync(device)
    return sum(counts.values()) / (time.perf_counter() - start)


def _sample(generator, events: int, chunk: int) -> float:
    generator.sample(min(chunk, 1000), seed=0)
    start = time.perf_counter()
    done = 0
    while done < events:
        generator.sample(min(chunk, events - done), seed=done)
        done += chunk
    return events / (time.perf_counter() - start)


def _generate(run: Path, generator, device: str, events: int, chunk: int, fmt: str, overlap: bool) -> float:
    from evgen.generation.produce import generate_from_run

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        generate_from_run(
            run,
            events,
            Path(tmp) / "gen.root",
            chunk_size=chunk,
            seed=1,
            progress=False,
            generator=generator,
            device=device,
            format=fmt,
            overlap=overlap,
        )
        return events / (time.perf_counter() - start)


def main() -> None:
    import torch

    from evgen.devices import resolve_device_name
    from evgen.generation.run_dir import load_generator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--run", action="append", help="existing run directories (default: make small and paper)"
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events per measurement")
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument(
        "--batch", type=int, default=100_000, help="network batch for the networks-alone timing"
    )
    parser.add_argument("--format", default="ttree", choices=("ttree", "rntuple"))
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--train-events", type=int, default=6000, help="events for the one-epoch runs")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device_name(args.device)
    name = (
        torch.cuda.get_device_name(device)
        if device.startswith("cuda")
        else f"CPU, {torch.get_num_threads()} threads"
    )
    print(f"device: {device} ({name}); {args.events} events, chunks of {args.chunk_size}, {args.format}")
    print("| network | networks alone | generator.sample | generate, overlapped | generate, serial |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        runs = (
            [Path(r) for r in args.run]
            if args.run
            else [_make_run(c, Path(tmp), args.train_events) for c in CONFIGS.values()]
        )
        for run in runs:
            generator = load_generator(run).to(device)
            rates = [
                _networks(generator, device, args.events, args.batch),
                _sample(generator, args.events, args.chunk_size),
                _generate(run, generator, device, args.events, args.chunk_size, args.format, True),
                _generate(run, generator, device, args.events, args.chunk_size, args.format, False),
            ]
            print(f"| {run.name} | " + " | ".join(f"{r:,.0f} ev/s" for r in rates) + " |")


if __name__ == "__main__":
    main()
