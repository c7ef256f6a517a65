"""``evgen train`` and ``evgen generate``: thin argparse layers over public functions.

Both are generic: ``evgen train NAME`` trains any registered generator through
:func:`evgen.training.api.train_generator`, ``evgen generate RUN`` samples from
any run directory through :func:`evgen.run_dir.generate_from_run`. They belong
to the core CLI, so they exist whatever plugins are loaded.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "cmd_train", "cmd_generate"]


def _positive(text: str) -> int:
    try:
        value = int(float(text)) if "e" in text.lower() else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _branch_map(path: str | None) -> dict | None:
    if path is None:
        return None
    import json
    from pathlib import Path

    from evgen.errors import ConfigError, InputError

    file = Path(path)
    if not file.exists():
        raise InputError(f"{file}: branch-mapping file not found")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file}: not valid JSON ({exc})") from None


def cmd_train(args: argparse.Namespace) -> int:
    from evgen.training.api import train_generator

    overrides = {
        "data.tree": args.tree,
        "data.layout": _branch_map(args.branch_map),
        "training.epochs": args.epochs,
        "training.device": args.device,
        "training.threads": args.threads,
        "seed": args.seed,
        "data.drop_invalid": True if args.drop_invalid else None,
        "data.max_events": args.max_events,
    }
    train_generator(
        args.generator,
        args.data,
        args.output,
        config=args.config,
        overrides=overrides,
        progress=not args.no_progress,
        command=list(sys.argv),
    )
    print(f"trained {args.generator}: run directory {args.output}")
    print(f"generate with: evgen generate {args.output} -n 100000 -o events.root")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from evgen.run_dir import generate_from_run

    path = generate_from_run(
        args.run,
        args.n,
        args.output,
        chunk_size=args.chunk_size,
        seed=args.seed,
        magic=not args.no_magic,
        progress=not args.no_progress,
    )
    print(f"wrote {args.n} events to {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``generate`` to the top-level commands (unless present)."""
    existing = subparsers.choices
    if "train" not in existing:
        p = subparsers.add_parser(
            "train",
            help="train a generator on ROOT files into a run directory (resumes when rerun)",
            description="Train GENERATOR (see `evgen plugins --kind generator`) on event files. "
            "Rerunning the same command after an interruption (Ctrl-C) resumes from the last checkpoint.",
        )
        p.add_argument("generator", metavar="GENERATOR", help="registered generator name, e.g. zjets-inn")
        p.add_argument("--data", nargs="+", required=True, metavar="FILE", help="training ROOT files")
        p.add_argument("-o", "--output", required=True, metavar="RUN", help="run directory to write")
        p.add_argument(
            "--config", metavar="CFG", help="TOML or JSON config (e.g. configs/zjets-inn-small.toml)"
        )
        p.add_argument("--epochs", type=_positive, help="override training.epochs")
        p.add_argument("--device", help="override training.device: cpu, cuda or cuda:N")
        p.add_argument("--seed", type=int, help="override the seed")
        p.add_argument("--threads", type=_positive, help="override training.threads (CPU threads for torch)")
        p.add_argument("--max-events", type=_positive, help="read at most this many events")
        p.add_argument("--tree", help="override data.tree (TTree name, default Events)")
        p.add_argument(
            "--branch-map",
            metavar="JSON",
            help="JSON file mapping fields to branches for non-NanoAOD trees (overrides data.layout), e.g. "
            '{"Muon": {"pt": "mu_pt", ..., "mass": 0.1057}, "Jet": {...}, "weight": "w"}',
        )
        p.add_argument(
            "--drop-invalid",
            action="store_true",
            help="drop events without 2 muons and 1-3 jets (reporting how many) instead of failing",
        )
        p.add_argument("--no-progress", action="store_true", help="no progress bars")
        p.set_defaults(func=cmd_train)
    if "generate" not in existing:
        p = subparsers.add_parser(
            "generate",
            help="generate events from a run directory into a ROOT file, in chunks",
            description="Sample N events from the generator in RUN and stream them to a ROOT file "
            "(NanoAOD-style branches plus genWeight; the run's provenance goes into the file metadata).",
        )
        p.add_argument("run", metavar="RUN", help="run directory written by `evgen train`")
        p.add_argument(
            "-n", type=_positive, required=True, metavar="N", help="number of events (e.g. 1000000 or 1e6)"
        )
        p.add_argument("-o", "--output", required=True, metavar="OUT.root", help="output ROOT file")
        p.add_argument(
            "--chunk-size", type=_positive, default=100_000, help="events per chunk (memory bound)"
        )
        p.add_argument("--seed", type=int, help="random seed (recorded in the file; random when omitted)")
        p.add_argument(
            "--no-magic",
            action="store_true",
            help="skip the inverse magic weights of Eq. (9): unit weights, the smoothed density the network learned",
        )
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.set_defaults(func=cmd_generate)
