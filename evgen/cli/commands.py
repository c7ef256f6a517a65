"""Core CLI commands: each parses options and calls a public function."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evgen.cli.types import positive_int as _positive_int
from evgen.errors import ConfigError, InputError

__all__ = ["register_core_commands", "load_layout", "split_paths"]


def split_paths(values: list[str]) -> list[Path]:
    """Paths from arguments that may hold comma-separated lists or a ``fileset.json``
    (as ``evgen generate --shards`` writes it)."""
    paths: list[Path] = []
    for value in values:
        for item in filter(None, value.split(",")):
            if item.endswith(".json"):
                from evgen.generation.shards import read_fileset

                base = Path(item).parent
                paths += [p if p.is_absolute() else base / p for p in map(Path, read_fileset(item))]
            else:
                paths.append(Path(item))
    return paths


def load_layout(path: str | None):  # -> Layout | None
    """Read a branch mapping (JSON file) for non-NanoAOD trees."""
    from evgen.io.layout import Layout, read_branch_map

    mapping = read_branch_map(path)
    return None if mapping is None else Layout.from_mapping(mapping)


def _step_size(text: str) -> int | str:
    """Events (an integer) or a memory size such as '100 MB'."""
    return int(text) if text.strip().isdigit() else text


def _cmd_info(args: argparse.Namespace) -> int:
    from evgen.validation.summary import format_summary, sample_summary

    summary = sample_summary(split_paths(args.files), tree=args.tree, layout=load_layout(args.branch_map))
    if summary["events"] == 0:
        raise InputError(f"{', '.join(args.files)}: tree {args.tree!r} holds no events")
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    layout = load_layout(args.branch_map)
    ref_paths, gen_paths = split_paths([args.reference]), split_paths([args.generated])
    labels = {
        "reference_label": args.reference_label or ref_paths[0].stem,
        "generated_label": args.generated_label or gen_paths[0].stem,
    }
    common = {
        "bins": args.bins,
        "plots": not args.no_plots,
        "formats": tuple(args.formats.split(",")),
        **labels,
    }
    consistency = None
    if args.dask:
        from evgen.validation.dask_backend import validate_dask

        if layout is not None or args.max_events or args.consistency or args.floor:
            raise ConfigError(
                "--dask reads NanoAOD-style trees in full: drop --branch-map, --max-events, --consistency, --floor"
            )
        summary = validate_dask(
            ref_paths,
            gen_paths,
            args.output,
            tree=args.tree,
            scheduler=args.scheduler,
            step_size=args.step_size,
            **common,
        )
        n_ref = n_gen = None
    else:
        from evgen.io import read_events
        from evgen.validation.compare import validate

        reference = read_events(ref_paths, tree=args.tree, layout=layout, entry_stop=args.max_events)
        generated = read_events(gen_paths, tree=args.tree, layout=layout, entry_stop=args.max_events)
        floor_events = None
        if args.floor:  # read before anything is written: a bad floor file leaves no output behind
            floor_events = read_events(
                split_paths([args.floor]), tree=args.tree, layout=layout, entry_stop=args.max_events
            )
        summary = validate(reference, generated, args.output, **common)
        n_ref, n_gen = len(reference), len(generated)
        if floor_events is not None:
            _floor(reference, floor_events, summary, Path(args.output), args.bins)
        if args.consistency:
            consistency = _consistency(reference, generated, Path(args.output), args.seed)
    from evgen.io import read_metadata
    from evgen.validation.report import write_report

    report = write_report(
        summary,
        args.output,
        consistency=consistency,
        metadata=read_metadata(gen_paths[0]),
        figures=not args.no_plots,
    )
    worst = max(summary.results, key=lambda r: r.comparison.chi2_ndf)
    if n_ref is not None:
        print(f"validated {n_gen} generated against {n_ref} reference events")
    print(f"worst χ²/ndf: {worst.comparison.chi2_ndf:.2f} ({worst.name}, {worst.multiplicity} jets)")
    print(
        f"wrote {report} (one page to open in a browser), {args.output}/summary.md"
        + ("" if args.no_plots else " and validation_*j figures")
    )
    return 0


def _floor(reference, floor_events, summary, output: Path, bins: int) -> None:  # noqa: ANN001
    """Every observable's χ²/ndf next to the training sample's own against the same reference."""
    from evgen.files import atomic_write_text
    from evgen.validation.compare import validate
    from evgen.validation.floor import SIGNIFICANT_P, floor_comparison

    comparison = floor_comparison(summary, validate(reference, floor_events, bins=bins, plots=False))
    atomic_write_text(output / "floor.json", json.dumps(comparison.to_dict(), indent=2))
    atomic_write_text(output / "floor.md", comparison.markdown())
    worst = comparison.worst
    print(
        f"against the floor (the training sample vs the same reference): median ratio "
        f"{comparison.median_ratio:.2f}, worst {worst.ratio:.2f} ({worst.observable}, {worst.multiplicity} jets), "
        f"{len(comparison.above_limit)} of {len(comparison.rows)} observables above {comparison.limit:g} × "
        f"({len(comparison.significant)} beyond the statistics, p < {SIGNIFICANT_P:g}; a perfect generator "
        f"would have {comparison.expected_above_limit_if_perfect:.1f}; "
        f"{output}/floor.md)"
    )


def _consistency(reference, generated, output: Path, seed: int):  # noqa: ANN001, ANN202
    """Sec. 4.3: a fresh classifier per multiplicity as a two-sample test; AUC with bootstrap errors."""
    from evgen.validation.consistency import consistency_report

    report = consistency_report(reference, generated, seed=seed, progress=True)
    (output / "consistency.json").write_text(json.dumps(report.to_dict(), indent=2))
    (output / "consistency.md").write_text(report.markdown())
    for n, result in sorted(report.results.items()):
        print(
            f"two-sample classifier, {n} jets: AUC {result.auc:.3f} ± {result.auc_error:.3f} (0.5 = indistinguishable)"
        )
    return report


def _cmd_demo(args: argparse.Namespace) -> int:
    from evgen.cli.demo import run_demo

    run_demo(args.output, quick=args.quick, seed=args.seed, config=args.config, n_generate=args.events)
    return 0


def register_core_commands(
    subparsers: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]
) -> None:
    """Add the core's commands (data info, validate, demo) to the parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--tree", default="Events", help="TTree or RNTuple name (default: Events)")
    common.add_argument(
        "--branch-map",
        metavar="JSON",
        help="JSON branch mapping for non-NanoAOD trees, e.g. "
        '{"Muon": {"pt": "mu_pt", ..., "mass": 0.1057}, "Jet": {...}, "weight": "w"}',
    )

    p = groups["data"].add_parser(
        "info", parents=[common], help="events, jet multiplicities, kinematics and weights of a sample"
    )
    p.add_argument("files", nargs="+", help="ROOT files, TTree or RNTuple (read chunk by chunk)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=_cmd_info)

    p = subparsers.add_parser(
        "validate",
        parents=[common],
        help="compare generated events with a reference: plots per jet multiplicity, χ²/ndf summary, "
        "report.html",
    )
    p.add_argument("reference", help="reference ROOT file(s), comma-separated")
    p.add_argument("generated", help="generated ROOT file(s), comma-separated")
    p.add_argument(
        "-o", "--output", required=True, help="output directory for report.html, figures and summary"
    )
    p.add_argument("--bins", type=_positive_int, default=40, help="bins per histogram (default 40)")
    p.add_argument("--max-events", type=_positive_int, help="read at most this many events of each sample")
    p.add_argument("--no-plots", action="store_true", help="write only the summary")
    p.add_argument("--formats", default="png,pdf", help="figure formats, comma-separated (default png,pdf)")
    p.add_argument(
        "--consistency",
        action="store_true",
        help="also train a classifier per multiplicity as a two-sample test (AUC ± bootstrap error)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the consistency classifier (default 0)")
    p.add_argument(
        "--floor",
        metavar="TRAINING",
        help="training file(s), comma-separated: also compare them with the reference and put every "
        "observable's χ²/ndf next to theirs (floor.md, floor.json: ratio, largest pulls)",
    )
    p.add_argument(
        "--dask", action="store_true", help="build the histograms with uproot.dask + hist.dask (any size)"
    )
    p.add_argument(
        "--scheduler",
        help="with --dask: a distributed scheduler address, or sync/threads/processes (default: local cluster)",
    )
    p.add_argument(
        "--step-size",
        type=_step_size,
        default="100 MB",
        help="with --dask: partition size (default '100 MB')",
    )
    p.add_argument("--reference-label", help="legend label of the reference")
    p.add_argument("--generated-label", help="legend label of the generated sample")
    p.set_defaults(func=_cmd_validate)

    p = subparsers.add_parser(
        "demo", help="the main job on the shipped sample: train a small generator, generate, validate"
    )
    p.add_argument("-o", "--output", default="demo-output", help="output directory (default demo-output)")
    p.add_argument("--quick", action="store_true", help="a smaller, faster run (for tests)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--config", help="generator config (default: configs/zjets-inn-small.toml)")
    p.add_argument("-n", "--events", type=_positive_int, help="events to generate (default 100000)")
    p.set_defaults(func=_cmd_demo)

    from evgen.cli import train_commands
    from evgen.cli.studies import add_study_commands

    train_commands.register(subparsers)
    add_study_commands(groups)
