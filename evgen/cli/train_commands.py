"""``evgen train`` and ``evgen generate``: thin argparse layers over public functions.

Both are generic: ``evgen train NAME`` trains any registered generator through
:func:`evgen.training.api.train_generator`, ``evgen generate RUN`` samples from
any run directory through :func:`evgen.generation.produce.generate_from_run`. They belong
to the core CLI, so they exist whatever plugins are loaded.

``evgen train`` started by torchrun (``torchrun --nproc-per-node=N -m evgen train ...``)
joins the process group and trains data-parallel; ``--nproc N`` starts torchrun
itself. ``evgen generate --shards K`` writes a sharded production (see
``docs/scaling.md``).
"""

from __future__ import annotations

import argparse
import sys

from evgen.cli.types import positive_int as _positive
from evgen.io.layout import read_branch_map

__all__ = ["register", "cmd_train", "cmd_generate"]


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return value


def _train_argv(args: argparse.Namespace) -> list[str]:
    """The ``evgen train`` command line of ``args`` without ``--nproc`` (what every worker runs)."""
    argv = ["train", args.generator, "--data", *args.data, "-o", args.output]
    options = {
        "--config": args.config,
        "--epochs": args.epochs,
        "--batch-size": args.batch_size,
        "--device": args.device,
        "--seed": args.seed,
        "--threads": args.threads,
        "--max-events": args.max_events,
        "--tree": args.tree,
        "--branch-map": args.branch_map,
        "--bootstrap": args.bootstrap,
    }
    for flag, value in options.items():
        if value is not None:
            argv += [flag, str(value)]
    argv += [
        flag
        for flag, on in (("--drop-invalid", args.drop_invalid), ("--no-progress", args.no_progress))
        if on
    ]
    return argv


def _training_device(args: argparse.Namespace) -> str:
    """``--device``, else the config file's ``training.device``, else ``cpu``: picks NCCL or gloo."""
    if args.device:
        return args.device
    if args.config:
        from evgen.training.config import load_config_file

        training = load_config_file(args.config).get("training", {})
        if isinstance(training, dict) and isinstance(training.get("device"), str):
            return training["device"]
    return "cpu"


def cmd_train(args: argparse.Namespace) -> int:
    import os

    from evgen.training.api import train_generator
    from evgen.training.distributed import launched_by_torchrun

    if args.nproc is not None and args.nproc > 1 and not launched_by_torchrun():
        from evgen.training.distributed import launch

        return launch(_train_argv(args), args.nproc)
    overrides = {
        "data.tree": args.tree,
        "data.layout": read_branch_map(args.branch_map),
        "training.epochs": args.epochs,
        "training.batch_size": args.batch_size,
        "training.device": args.device,
        "training.threads": args.threads,
        "seed": args.seed,
        "data.drop_invalid": True if args.drop_invalid else None,
        "data.max_events": args.max_events,
    }
    options = {
        "config": args.config,
        "overrides": overrides,
        "command": list(sys.argv),
        "bootstrap": args.bootstrap,
    }
    if launched_by_torchrun() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import tempfile

        from evgen.training.distributed import process_group

        with process_group(_training_device(args)) as info:
            if info.rank != 0:  # rank 0 alone writes the run directory and shows progress
                with tempfile.TemporaryDirectory(prefix=f"evgen-rank{info.rank}-") as tmp:
                    train_generator(args.generator, args.data, tmp, progress=False, **options)
                return 0
            train_generator(args.generator, args.data, args.output, progress=not args.no_progress, **options)
        print(f"trained {args.generator} on {info.world_size} processes: run directory {args.output}")
    else:
        train_generator(args.generator, args.data, args.output, progress=not args.no_progress, **options)
        print(f"trained {args.generator}: run directory {args.output}")
    print(f"generate with: evgen generate {args.output} -n 100000 -o events.root")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from evgen.errors import ConfigError
    from evgen.generation.produce import generate_from_run

    if args.shard_index is not None and args.shards is None:
        raise ConfigError("--shard-index needs --shards K (the number of shards of the production)")
    shards = args.shards or 1
    path = generate_from_run(
        args.run,
        args.n,
        args.output,
        chunk_size=args.chunk_size,
        seed=args.seed,
        magic=not args.no_magic,
        progress=not args.no_progress,
        shards=shards,
        shard_index=args.shard_index,
        jobs=args.jobs,
        format=args.format,
        device=args.device,
    )
    if args.shard_index is not None:
        from evgen.generation.shards import Shard

        shard = Shard(args.shard_index, shards, args.n, args.seed)
        print(
            f"wrote shard {shard.index} of {shards}: {shard.n} events "
            f"(event {shard.first_event}-{shard.last_event}, luminosityBlock {shard.luminosity_block}) to {path}"
        )
    elif shards > 1:
        print(
            f"wrote {args.n} events in {shards} files to {args.output}; file list for uproot.dask/coffea: {path}"
        )
    else:
        print(f"wrote {args.n} events to {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``generate`` to the top-level commands (unless present)."""
    existing = subparsers.choices
    if "train" not in existing:
        _add_train(subparsers)
    if "generate" not in existing:
        _add_generate(subparsers)


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    """``evgen train GENERATOR --data FILE ... -o RUN``."""
    p = subparsers.add_parser(
        "train",
        help="train a generator on ROOT files into a run directory (resumes when rerun)",
        description="Train GENERATOR (see `evgen plugins --kind generator`) on event files. "
        "Rerunning the same command after an interruption (Ctrl-C) resumes from the last checkpoint.",
    )
    p.add_argument("generator", metavar="GENERATOR", help="registered generator name, e.g. zjets-inn")
    p.add_argument("--data", nargs="+", required=True, metavar="FILE", help="training ROOT files")
    p.add_argument("-o", "--output", required=True, metavar="RUN", help="run directory to write")
    p.add_argument("--config", metavar="CFG", help="TOML or JSON config (e.g. configs/zjets-inn-small.toml)")
    p.add_argument("--epochs", type=_positive, help="override training.epochs")
    p.add_argument(
        "--batch-size",
        type=_positive,
        help="override training.batch_size (per process: the global batch is batch size × processes)",
    )
    p.add_argument("--device", help="override training.device: cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, help="override the seed")
    p.add_argument("--threads", type=_positive, help="override training.threads (CPU threads for torch)")
    p.add_argument("--max-events", type=_positive, help="read at most this many events")
    p.add_argument(
        "--bootstrap",
        type=_non_negative,
        metavar="SEED",
        help="train on a bootstrap resample of the events (with replacement, fixed by SEED): "
        "one member of a bootstrap ensemble (evgen binn bands RUN1 RUN2 ...)",
    )
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
    p.add_argument(
        "--nproc",
        type=_positive,
        metavar="N",
        help="train data-parallel on N processes of this machine (one per GPU with --device cuda; "
        "gloo on CPUs) by starting torchrun; same as `torchrun --nproc-per-node=N -m evgen train ...`",
    )
    p.set_defaults(func=cmd_train)


def _add_generate(subparsers: argparse._SubParsersAction) -> None:
    """``evgen generate RUN -n N -o OUT.root``."""
    p = subparsers.add_parser(
        "generate",
        help="generate events from a run directory into a ROOT file, in chunks",
        description="Sample N events from the generator in RUN and stream them to a ROOT file, "
        "a TTree or an RNTuple (NanoAOD-style branches plus genWeight; the run's provenance goes "
        "into the file metadata). Temporary files that killed runs left for the same output are removed.",
    )
    p.add_argument("run", metavar="RUN", help="run directory written by `evgen train`")
    p.add_argument(
        "-n", type=_positive, required=True, metavar="N", help="number of events (e.g. 1000000 or 1e6)"
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT.root",
        help="output ROOT file (a directory with --shards and no --shard-index)",
    )
    p.add_argument("--chunk-size", type=_positive, default=100_000, help="events per chunk (memory bound)")
    p.add_argument("--seed", type=int, help="random seed (recorded in the file; random when omitted)")
    p.add_argument(
        "--no-magic",
        action="store_true",
        help="skip the inverse magic weights of Eq. (9): unit weights, the smoothed density the network learned",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--shards",
        type=_positive,
        metavar="K",
        help="split the production of N events into K files: with --shard-index, -o is that shard's file; "
        "without, -o is a directory that gets all K files plus fileset.json (uproot.dask) and "
        "fileset.coffea.json (coffea); rerunning it completes an interrupted production",
    )
    p.add_argument(
        "--shard-index",
        type=_non_negative,
        metavar="I",
        help="write only shard I (0…K-1): events 1 + I·⌈N/K⌉ onwards, luminosityBlock I+1, "
        "its own seed stream spawned from --seed (required) and I",
    )
    p.add_argument(
        "--jobs",
        type=_positive,
        default=1,
        help="with --shards (no --shard-index): run this many shards at once, one process each",
    )
    p.add_argument(
        "--format",
        choices=("ttree", "rntuple"),
        default="ttree",
        help="ROOT container of the events: ttree (default; any ROOT version) or rntuple "
        "(ROOT's successor to TTree, ROOT >= 6.34); same NanoAOD fields either way",
    )
    p.add_argument(
        "--device",
        default="cpu",
        metavar="DEVICE",
        help="where the networks sample: cpu (default), cuda, cuda:N or auto (cuda when present); "
        "decoding and writing stay on the CPU, overlapped with GPU sampling",
    )
    p.set_defaults(func=cmd_generate)
