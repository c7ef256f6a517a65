"""``evgen data zjets``: make a Z → μμ + jets sample with Pythia 8 + FastJet.

A thin layer over :func:`evgen_datasets.zjets_maker.make_zjets`; prints a summary
(jet multiplicities, Z-window fraction, time, rate) at the end.
"""

from __future__ import annotations

__all__ = ["add_zjets_command", "summarize_sample"]

import argparse
import time
from pathlib import Path

import numpy as np


def summarize_sample(path: str | Path) -> dict[str, float]:
    """Event count, jet-multiplicity fractions and the 81 < M_μμ < 101 GeV fraction of a file.

    Reads the file chunk by chunk, so memory stays bounded.
    """
    from evgen.events import n_jets
    from evgen.io import iterate_events
    from evgen.physics.observables import dimuon_mass

    counts = np.zeros(4, dtype=np.int64)
    in_window = 0
    for events in iterate_events(path, step_size=100_000):
        counts += np.bincount(np.minimum(n_jets(events), 3), minlength=4)
        mass = dimuon_mass(events)
        in_window += int(np.count_nonzero((mass > 81.0) & (mass < 101.0)))
    total = int(counts.sum())
    summary = {"events": float(total)}
    for k in (1, 2, 3):
        summary[f"{k}_jet_fraction"] = counts[k] / total if total else float("nan")
    summary["z_window_fraction"] = in_window / total if total else float("nan")
    return summary


def _cmd_zjets(args: argparse.Namespace) -> int:
    from evgen_datasets.zjets_maker import make_zjets

    start = time.perf_counter()
    path = make_zjets(
        args.n,
        args.output,
        seed=args.seed,
        jobs=args.jobs,
        chunk_size=args.chunk_size,
        progress=not args.no_progress,
    )
    elapsed = time.perf_counter() - start
    s = summarize_sample(path)
    n = int(s["events"])
    print(
        f"wrote {n} events to {path} in {elapsed:.1f} s ({n / elapsed:.1f} events/s with {args.jobs} job(s))"
    )
    print(
        "jet multiplicity: "
        + ", ".join(f"{k} jet{'s' if k > 1 else ''} {100 * s[f'{k}_jet_fraction']:.1f} %" for k in (1, 2, 3))
    )
    print(f"81 < M_mumu < 101 GeV: {100 * s['z_window_fraction']:.1f} %")
    return 0


def add_zjets_command(groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add ``evgen data zjets -n N -o FILE [--seed S] [--jobs J] [--chunk-size C]`` to ``groups["data"]``."""
    parser = groups["data"].add_parser(
        "zjets",
        help="generate Z -> mu mu + jets events with Pythia 8 + FastJet (needs evgen-hep[data])",
        description=(
            "Generate pp -> Z/gamma* -> mu+ mu- + jets at 13 TeV with Pythia 8 and cluster anti-kT R = 0.4 "
            "jets with FastJet; write NanoAOD-style ROOT. Reproducible from (N, --seed, --jobs)."
        ),
    )
    parser.add_argument(
        "-n", "--events", dest="n", type=int, required=True, metavar="N", help="events to write"
    )
    parser.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE", help="ROOT file to create"
    )
    parser.add_argument("--seed", type=int, default=1, help="run seed (default: 1)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=5000,
        metavar="C",
        help="events per job held in memory (default: 5000)",
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    parser.set_defaults(func=_cmd_zjets)
