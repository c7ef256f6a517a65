"""``evgen binn bands RUN`` and ``evgen binn scan --train-sizes ...``: thin layers over :mod:`evgen_zjets_inn.binn.runs`.

Training itself is the generic ``evgen train binn --data FILE -o RUN [--config CFG]``.
"""

from __future__ import annotations

import argparse
import sys

from evgen.cli.types import positive_float as _positive_float
from evgen.cli.types import positive_int as _positive
from evgen.errors import ConfigError

__all__ = ["register"]


def _sigma_scale_item(text: str) -> float | tuple[int, float]:
    """``LAMBDA`` or ``N:LAMBDA`` (the factor of the N-jet observables)."""
    jets, sep, value = text.rpartition(":")
    if not sep:
        return _positive_float(text)
    return _positive(jets), _positive_float(value)  # N: a jet multiplicity, at least 1


def _sigma_scale(items: list[float | tuple[int, float]]) -> float | dict[int, float]:
    """One factor, or one per multiplicity; a mix or a repeated multiplicity is an error."""
    if all(isinstance(item, tuple) for item in items):
        per_n = dict(items)  # type: ignore[arg-type]
        if len(per_n) != len(items):
            raise ConfigError(f"--sigma-scale names a multiplicity twice: {items}")
        return per_n
    if len(items) == 1:
        return items[0]  # type: ignore[return-value]
    raise ConfigError("--sigma-scale takes one LAMBDA or N:LAMBDA items, not both or several LAMBDAs")


def _cmd_bands(args: argparse.Namespace) -> int:
    from evgen_zjets_inn.binn.runs import run_bands

    result = run_bands(
        args.run if len(args.run) > 1 else args.run[0],
        args.output,
        n_events=args.n,
        draws=args.draws,
        reference=args.reference,
        max_reference=args.max_reference,
        bins=args.bins,
        observables=args.observables,
        a_values=args.a,
        small_n=args.small_n,
        seed=args.seed,
        plot=not args.no_plots,
        formats=tuple(args.formats.split(",")),
        progress=not args.no_progress,
        sigma_scale=_sigma_scale(args.sigma_scale),
    )
    validation = result.get("validation_against_reference", {})
    for label, pooled in (("all bins", validation.get("pooled")), ("bulk", validation.get("pooled_bulk"))):
        if pooled:
            print(
                f"held-out sample vs {result['predicted_by']} ({label}): pull width "
                f"{format(pooled['pull_width'], '.3f')}, coverage 68% {format(pooled['coverage_68'], '.3f')}, "
                f"95% {format(pooled['coverage_95'], '.3f')}"
            )
    if validation.get("observables_with_bulk"):
        print(
            f"observables with bulk 68% coverage in [0.60, 0.76]: {validation['observables_bulk_in_60_76']} of "
            f"{validation['observables_with_bulk']} (a calibrated band: "
            f"{validation['observables_bulk_in_60_76_if_calibrated']:.1f}); consistent with 68% "
            f"(binomial p >= 0.05): {validation['observables_bulk_coverage_consistent']} "
            f"(a calibrated band: {validation['observables_bulk_coverage_consistent_if_calibrated']:.1f})"
        )
    if "sigma_scale_for_68_bulk" in result:
        word = lambda v: f"{v:.3g}" if v is not None else "none up to 1000"  # noqa: E731
        per_n = result["sigma_scale_for_68_bulk_by_multiplicity"]
        print(
            f"sigma_pred scale that gives 68% pooled bulk coverage on this reference: "
            f"{word(result['sigma_scale_for_68_bulk'])}; per multiplicity "
            + " ".join(f"{n}:{word(v)}" for n, v in per_n.items())
            + " (choose it on a calibration training; apply with --sigma-scale to independent ones)"
        )
    print(f"report: {args.output}/binn_bands.md")
    return 0


def _cmd_combined(args: argparse.Namespace) -> int:
    from evgen_zjets_inn.binn.combined import combined_view

    result = combined_view(
        args.run,
        args.output,
        reference=args.reference,
        reweighter=args.reweighter,
        augmented_run=args.augmented,
        a_values=args.a,
        n_events=args.n,
        draws=args.draws,
        bins=args.bins,
        seed=args.seed,
        formats=tuple(f for f in args.formats.split(",") if f),
        progress=not args.no_progress,
    )
    s = result["summary"]
    print(
        f"chi2/ndf vs truth: {format(s['chi2_ndf_reweighted'], '.3f')} reweighted, "
        f"{format(s['chi2_ndf_not_reweighted'], '.3f')} not reweighted (ndf {s['ndf']})"
    )
    print(
        f"median sigma_pred {format(s['median_rel_sigma_pred_percent'], '.2f')} %, "
        f"augmentation spread {format(s['median_augmentation_spread_percent'], '.2f')} %"
    )
    print(f"report: {args.output}/combined.md")
    return 0


def _cmd_scan(args: argparse.Namespace) -> int:
    from evgen_zjets_inn.binn.runs import run_train_size_scan

    overrides = {"training.epochs": args.epochs, "training.device": args.device, "seed": args.seed}
    result = run_train_size_scan(
        args.data,
        args.output,
        args.train_sizes,
        config=args.config,
        overrides={k: v for k, v in overrides.items() if v is not None},
        n_events=args.n,
        draws=args.draws,
        bins=args.bins,
        seed=args.seed or 0,
        plot=not args.no_plots,
        progress=not args.no_progress,
    )
    for row in result["rows"]:
        print(
            f"{row['train_size']:>9}  {row['observable']:>8}  sigma_pred {row['median_rel_sigma_pred_percent']:.2f} %"
            f"  (training Poisson {row['training_stat_percent_at_same_bins']:.2f} %)"
        )
    print(f"report: {args.output}/binn_train_sizes.md")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``binn`` command group."""
    if "binn" in subparsers.choices:
        return
    group = subparsers.add_parser(
        "binn",
        help="Bayesian INN uncertainties: bands (Figs. 10, 11, 13), training-size scan (Fig. 12), "
        "combined view (Fig. 14)",
    )
    sub = group.add_subparsers(dest="binn_command", metavar="COMMAND")
    group.set_defaults(func=lambda a: (group.print_help(sys.stderr), 2)[1])

    p = sub.add_parser("bands", help="uncertainty bands of a trained binn run from weight draws")
    p.add_argument(
        "run",
        metavar="RUN",
        nargs="+",
        help="run directory of `evgen train binn`; or several run directories of any generator, an "
        "ensemble (e.g. bootstrap members from `evgen train GEN --bootstrap SEED`) whose members "
        "take the place of the weight draws",
    )
    p.add_argument("-o", "--output", required=True, help="output directory (figures, binn_bands.json/md)")
    p.add_argument("-n", type=_positive, default=100_000, help="events per weight draw (100000)")
    p.add_argument("--draws", type=_positive, help="weight draws (the run's bayes.draws, 30)")
    p.add_argument(
        "--reference", nargs="+", metavar="FILE", help="held-out ROOT file(s): drawn and compared (pulls)"
    )
    p.add_argument("--max-reference", type=_positive, help="read at most this many reference events")
    p.add_argument("--bins", type=_positive, default=40, help="bins per observable (40)")
    p.add_argument(
        "--observables", nargs="+", metavar="NAME", help="only these observables, e.g. pt_j1 dR_j1j2"
    )
    p.add_argument(
        "--a", type=float, nargs="+", help="nuisance values for Fig. 13 (augmented runs), e.g. 0 4 8 12"
    )
    p.add_argument(
        "--sigma-scale",
        type=_sigma_scale_item,
        nargs="+",
        default=[1.0],
        metavar="LAMBDA",
        help="multiply every sigma_pred by LAMBDA in the pulls and figures, or per jet multiplicity "
        "with N:LAMBDA items (1:0.9 2:1.3 3:1.8): the factors a calibration training's report gives "
        "as sigma_scale_for_68_bulk[_by_multiplicity] (1)",
    )
    p.add_argument("--small-n", type=_positive, default=1000, help="small sample of Fig. 10 (1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--no-plots", action="store_true", help="write only the report")
    p.add_argument("--formats", default="png,pdf", help="figure formats, comma-separated (png,pdf)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_bands)

    p = sub.add_parser(
        "combined",
        help="Fig. 14: reweighted pT,j1 of all events with D, the BINN band and the augmentation band",
    )
    p.add_argument("run", metavar="RUN", help="run directory of `evgen train binn`")
    p.add_argument(
        "--reference", nargs="+", required=True, metavar="FILE", help="truth ROOT file(s); fix the binning"
    )
    p.add_argument(
        "--reweighter",
        metavar="DIR",
        help="saved discriminator: OUT/discriminator of `evgen reweight TRUTH GEN -o OUT` (or OUT)",
    )
    p.add_argument(
        "--augmented",
        metavar="RUN",
        help="binn run trained with [augmentation] enabled = true (default: RUN if it is augmented)",
    )
    p.add_argument(
        "--a", type=float, nargs="+", default=[0.0, 4.0, 8.0, 12.0], help="nuisance values (0 4 8 12)"
    )
    p.add_argument("-o", "--output", required=True, help="output directory (combined_ptj1, combined.json/md)")
    p.add_argument("-n", type=_positive, default=100_000, help="events per weight draw and per a (100000)")
    p.add_argument("--draws", type=_positive, help="weight draws (the run's bayes.draws, 30)")
    p.add_argument("--bins", type=_positive, default=40, help="bins in pT,j1 (40)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--formats", default="png", help="figure formats, comma-separated (png)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_combined)

    p = sub.add_parser(
        "scan", help="train one binn per training-set size; relative uncertainty per size (Fig. 12)"
    )
    p.add_argument("--data", nargs="+", required=True, metavar="FILE", help="training ROOT files")
    p.add_argument(
        "--train-sizes",
        type=_positive,
        nargs="+",
        required=True,
        help="training-set sizes, e.g. 3072 10000 30000",
    )
    p.add_argument("-o", "--output", required=True, help="output directory (runs/size_N, figures, report)")
    p.add_argument("--config", metavar="CFG", help="binn TOML/JSON config")
    p.add_argument("--epochs", type=_positive, help="override training.epochs")
    p.add_argument("--device", help="override training.device")
    p.add_argument("--seed", type=int, help="override the seed")
    p.add_argument("-n", type=_positive, default=100_000, help="events per weight draw (100000)")
    p.add_argument("--draws", type=_positive, help="weight draws (the config's bayes.draws, 30)")
    p.add_argument("--bins", type=_positive, default=40, help="bins per observable (40)")
    p.add_argument("--no-plots", action="store_true", help="write only the report")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_scan)
