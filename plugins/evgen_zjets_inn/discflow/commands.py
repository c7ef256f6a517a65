"""``evgen discflow study``: a thin argparse layer over :func:`evgen_zjets_inn.discflow.study.run_discflow_study`."""

from __future__ import annotations

import argparse
import sys

from evgen.cli.types import positive_int as _positive

__all__ = ["register"]


def _study(args: argparse.Namespace) -> int:
    from evgen.training.config import load_config_file
    from evgen_zjets_inn.discflow.study import run_discflow_study

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    config = load_config_file(args.config) if args.config else {}
    result = run_discflow_study(
        args.data,
        args.truth,
        args.inn,
        args.output,
        discflow_config=config,
        n_generated=args.n,
        max_events=args.max_events,
        seed=args.seed,
        progress=not args.no_progress,
    )
    for target in result["targets"]:
        verdict = "within" if target["within_2x"] else "NOT within"
        print(
            f"  {target['sample']}: worst χ²/ndf ratio to the training sample over M_μμ and ΔR_jj "
            f"{target['worst_key_chi2_ratio_to_training']:.2f} ({verdict} 2×)"
        )
    for row in result["auc"]:
        cells = ", ".join(f"{k} {format(v, '.3f')}" for k, v in row.items() if k != "sample")
        print(f"  AUC vs truth, {row['sample']}: {cells}")
    print(f"wrote {args.output}/discflow_study.md")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``discflow`` command group (skipped if another plugin already did)."""
    if "discflow" in subparsers.choices:
        return
    group = subparsers.add_parser("discflow", help="DiscFlow against independent truth (Sec. 3)")
    sub = group.add_subparsers(dest="discflow_command", metavar="COMMAND")
    group.set_defaults(func=lambda a: (group.print_help(sys.stderr), 2)[1])
    p = sub.add_parser(
        "study",
        help="train DiscFlow from a zjets-inn run, reweight, and compare INN/DiscFlow/reweighted with truth",
        description="χ²/ndf of M_μμ and every ΔR_jj against an independent truth sample (relative to the "
        "training sample's own), AUC of a fresh classifier per multiplicity, and the training cost, for "
        "the plain INN, INN + reweighting, DiscFlow and DiscFlow + its final reweighting.",
    )
    p.add_argument("--data", nargs="+", required=True, metavar="FILE", help="the INN's training files")
    p.add_argument("--truth", nargs="+", required=True, metavar="FILE", help="independent truth files")
    p.add_argument("--inn", required=True, metavar="RUN", help="zjets-inn run directory to start from")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    p.add_argument("--config", help="discflow TOML/JSON config ([discflow], [discriminator], [reweighter])")
    p.add_argument("-n", type=_positive, default=300_000, help="events generated per model (300000)")
    p.add_argument("--max-events", type=_positive, help="read at most this many events per sample")
    p.add_argument("--seed", type=int, default=0, help="seed of generation and two-sample tests (0)")
    p.add_argument("--threads", type=_positive, help="torch CPU threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_study)
