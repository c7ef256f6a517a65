"""``evgen study ...``: the argparse layer over :mod:`evgen.studies` (each command calls a public function)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from evgen.cli.types import positive_int as _positive_int
from evgen.errors import ConfigError
from evgen.studies.amplification import QUICK, run_amplification
from evgen.studies.ganplify import DEFAULT_N_GENERATED, TOY_BY_DIM, run_ganplify
from evgen.studies.matchev import DEFAULT_N_GEN, run_matchev

__all__ = [
    "add_amplification_command",
    "add_zjets_amplification_command",
    "add_ganplify_command",
    "add_matchev_command",
    "add_study_commands",
]


def _cmd_amplification(args: argparse.Namespace) -> int:
    settings: dict[str, Any] = dict(QUICK) if args.quick else {}
    for name in ("n_train", "trainings", "draws", "ensemble", "n_generated"):
        value = getattr(args, name)
        if value is not None:
            settings[name] = value
    binn_config = dict(settings.pop("binn_config", {}))
    ensemble_config = dict(settings.pop("ensemble_config", {}))
    if args.epochs is not None:
        binn_config = {**binn_config, "training": {**binn_config.get("training", {}), "epochs": args.epochs}}
    if args.ensemble_epochs is not None:
        ensemble_config = {
            **ensemble_config,
            "training": {**ensemble_config.get("training", {}), "epochs": args.ensemble_epochs},
        }
    for option, target in ((args.binn_option, binn_config), (args.ensemble_option, ensemble_config)):
        for item in option or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"expected KEY=VALUE (e.g. net.hidden=32); got {item!r}")
            from evgen.training.config import set_dotted

            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                parsed = value
            set_dotted(target, key, parsed)
    result = run_amplification(
        args.output,
        toy=args.toy,
        n_per_axis=args.cells,
        binn_config=binn_config,
        ensemble_config=ensemble_config,
        seed=args.seed,
        plot=not args.no_plots,
        resume=not args.no_resume,
        progress=True,
        **settings,
    )
    print(f"{'method':>10}  {'pull width':>12}  {'coverage 68%':>14}  {'coverage 95%':>14}  chi2/ndf")
    for m, v in result["validation"].items():
        print(
            f"{m:>10}  {format(v['pull_width'], '.3f'):>12}  {format(v['coverage_68'], '.3f'):>14}"
            f"  {format(v['coverage_95'], '.3f'):>14}  {v['chi2_per_ndf']:.2f}"
        )
    for m, d in result["demonstration"].items():
        print(
            f"{m}: predicted amplification {format(d['amplification_predicted'], '.3g')}, "
            f"measured {format(d['amplification_measured'], '.3g')}"
        )
    print(f"report: {Path(args.output) / 'amplification.md'}")
    return 0


def add_amplification_command(groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add ``evgen study amplification -o DIR [--toy camel] [--n-train N] [--trainings R] [--quick] ...``."""
    p = groups["study"].add_parser(
        "amplification",
        help="Matchev et al. Sec. 6 on a toy: predict (BINN, bootstrap), validate (pulls, coverage), "
        "demonstrate (predicted vs measured amplification)",
        description=run_amplification.__doc__.split("\n")[0] if run_amplification.__doc__ else None,
    )
    p.add_argument(
        "-o", "--output", required=True, help="output directory (report, figures, per-training results)"
    )
    p.add_argument("--toy", default="camel", help="registered toy (camel)")
    p.add_argument("--n-train", type=_positive_int, help="training events per training (1000)")
    p.add_argument("--trainings", type=_positive_int, help="independent trainings (10)")
    p.add_argument("--draws", type=_positive_int, help="BINN weight draws (30)")
    p.add_argument(
        "--ensemble", type=_positive_int, help="members of the bootstrap and of the deep ensemble (8)"
    )
    p.add_argument("--n-generated", type=_positive_int, help="events per draw or member (100000)")
    p.add_argument(
        "--cells", type=_positive_int, nargs="+", help="equal-probability cells per truth axis (20 in 1D)"
    )
    p.add_argument("--epochs", type=_positive_int, help="BINN training epochs (600)")
    p.add_argument("--ensemble-epochs", type=_positive_int, help="bootstrap-member training epochs (300)")
    p.add_argument(
        "--binn-option",
        action="append",
        metavar="KEY=VALUE",
        help="toy-binn option (JSON value), e.g. prior_std=0.5",
    )
    p.add_argument(
        "--ensemble-option",
        action="append",
        metavar="KEY=VALUE",
        help="bootstrap-member option, e.g. net.hidden=32",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--quick", action="store_true", help="a small CPU smoke run (about a minute)")
    p.add_argument("--no-resume", action="store_true", help="recompute trainings even if stored")
    p.add_argument("--no-plots", action="store_true", help="write only the JSON and Markdown report")
    p.set_defaults(func=_cmd_amplification)


def _cmd_zjets_amplification(args: argparse.Namespace) -> int:
    from evgen.studies.zjets_amplification import parse_members, run_zjets_amplification

    members: dict[int, list[str]] = {}
    for spec in args.members:
        size, runs = parse_members(spec)
        if size in members:
            raise ConfigError(f"--members: training size {size} given twice")
        if len(runs) < 2:
            raise ConfigError(
                f"--members {spec!r}: a bootstrap ensemble needs at least 2 runs; found {len(runs)}"
            )
        members[size] = runs
    result = run_zjets_amplification(
        args.output,
        args.truth,
        args.training,
        members,
        n_generated=args.n_generated,
        seed=args.seed,
        plot=not args.no_plots,
        progress=not args.no_progress,
    )
    for size, report in result["sizes"].items():
        rows = report["observables"]
        less = len(report["worth_less_than_training"])
        print(
            f"n_train {size}: median amplification measured {report['median_amplification_measured']:.3g}, "
            f"predicted {report['median_amplification_predicted']:.3g}; "
            f"pooled 68 % coverage {report['coverage_68_pooled']:.3f}, in [0.60, 0.76] for "
            f"{report['observables_with_coverage_in_60_76']} of {len(rows)} observables (a calibrated band: "
            f"{report['observables_with_coverage_in_60_76_if_calibrated']:.1f}; of those, predicted "
            f"and measured agree for {report['covered_observables_agreeing']}); consistent with 68 % "
            f"(binomial p >= 0.05) for {report['observables_with_coverage_consistent']} (a calibrated band: "
            f"{report['observables_with_coverage_consistent_if_calibrated']:.1f}); worth less than the training "
            f"sample: {less} of {len(rows)}"
        )
        if report.get("too_few_generated"):
            from evgen.studies.zjets_amplification import too_few_generated_warning

            print(too_few_generated_warning(report))
    print(f"report: {Path(args.output) / 'amplification.md'}")
    return 0


def add_zjets_amplification_command(groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add ``evgen study amplification-zjets TRUTH --training FILE... --members N:GLOB ... -o DIR``."""
    p = groups["study"].add_parser(
        "amplification-zjets",
        help="Matchev et al. Sec. 6 on Z+jets: what bootstrap members of a generator trained on N events are "
        "worth in truth events, predicted and measured against an independent truth file",
        description="Predict (bootstrap spread), validate (pulls, coverage against the truth file) and "
        "demonstrate (equivalent truth events, measured vs predicted) for every observable of evgen "
        "validate. Train the members with scripts/zjets_amplification_members.sh.",
    )
    p.add_argument("truth", metavar="TRUTH", help="independent truth ROOT file (e.g. train_3.root)")
    p.add_argument(
        "--training",
        nargs="+",
        required=True,
        metavar="FILE",
        help="the members' training files (their first N events are the training sample)",
    )
    p.add_argument(
        "--members",
        action="append",
        required=True,
        metavar="N:RUN_GLOB",
        help="a training size and its bootstrap members' run directories, e.g. 30000:runs/amp/n30000-m* "
        "(repeat for each size)",
    )
    p.add_argument(
        "-o", "--output", required=True, help="output directory (report, figure, stored histograms)"
    )
    p.add_argument(
        "-n", "--n-generated", type=_positive_int, default=200_000, help="events per member (200000)"
    )
    p.add_argument(
        "--seed", type=int, default=1, help="seed of member 0's sample; member k uses seed + k (1)"
    )
    p.add_argument("--no-plots", action="store_true", help="write only the JSON and Markdown report")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_zjets_amplification)


def _cmd_ganplify(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {}
    for item in args.gan_option or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--gan-option expects KEY=VALUE; got {item!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    if args.compile:
        options["compile"] = True
    if args.cuda_graphs:
        options["cuda_graphs"] = True
    result = run_ganplify(
        args.output,
        dim=args.dim,
        trainings=args.trainings,
        n_train=args.n_train,
        epochs=args.epochs,
        n_generated=args.n_generated,
        reference_samples=args.reference_samples,
        seed=args.seed,
        device=args.device,
        generator=args.generator,
        generator_config=options,
        resume=not args.no_resume,
        plot=not args.no_plots,
    )
    print(f"{'quantiles':>10}  {'cells':>6}  {'GAN amplification':>22}  {'fit amplification':>20}")
    for row in result["table"]:
        fit = row.get("amplification_fit")
        print(
            f"{row['quantiles']:>10}  {row['cells']:>6}  {format(row['amplification_gan'], '.3g'):>22}"
            f"  {format(fit, '.3g') if fit is not None else '-':>20}"
        )
    print(f"report: {Path(args.output) / 'ganplify.md'}")
    return 0


def add_ganplify_command(groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add ``evgen study ganplify --dim {1,2,5} --trainings E --n-train N --epochs K --device D -o DIR --seed S``."""
    p = groups["study"].add_parser(
        "ganplify",
        help="GANplifying event samples: amplification factor of a GAN on the camel back, ring, 5D shell",
        description=run_ganplify.__doc__.split("\n")[0] if run_ganplify.__doc__ else None,
    )
    p.add_argument("-o", "--output", required=True, help="output directory (report, figures, models)")
    p.add_argument("--dim", type=int, choices=sorted(TOY_BY_DIM), default=1, help="toy dimension (1)")
    p.add_argument("--trainings", type=_positive_int, default=100, help="independent trainings E (100)")
    p.add_argument("--n-train", type=_positive_int, default=None, help="training events (100; 500 for d=5)")
    p.add_argument("--epochs", type=_positive_int, default=None, help="training epochs (paper: 10000)")
    p.add_argument(
        "--n-generated",
        type=_positive_int,
        nargs="+",
        default=list(DEFAULT_N_GENERATED),
        help=f"numbers of generated events (default {' '.join(map(str, DEFAULT_N_GENERATED))})",
    )
    p.add_argument(
        "--reference-samples", type=_positive_int, default=100, help="truth samples per band (100)"
    )
    p.add_argument("--device", default="cpu", help="torch device: cpu or cuda (cpu)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--generator", default="toy-gan", help="registered generator (toy-gan)")
    p.add_argument(
        "--gan-option",
        action="append",
        metavar="KEY=VALUE",
        help="generator option, value parsed as JSON, e.g. gen_width=64 (repeatable)",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the training step")
    p.add_argument("--cuda-graphs", action="store_true", help="capture the training step in a CUDA graph")
    p.add_argument("--no-resume", action="store_true", help="retrain even if output/gan holds the models")
    p.add_argument("--no-plots", action="store_true", help="write only the JSON and Markdown report")
    p.set_defaults(func=_cmd_ganplify)


def _cmd_matchev(args: argparse.Namespace) -> int:
    result = run_matchev(
        args.output,
        n_train=args.n_train,
        n_gen=args.n_gen,
        pseudo_experiments=args.pseudo_experiments,
        seed=args.seed,
        plot=not args.no_plots,
        progress=True,
    )
    print(f"{'n_gen':>7}  {'std true':>10}  {'std GAN':>10}  {'predicted':>10}  {'ratio':>6}  coverage")
    for r in result["rows"]:
        print(
            f"{r['n_gen']:>7}  {r['std_true'].value:>10.5f}  {r['std_gan'].value:>10.5f}"
            f"  {r['predicted_gan']:>10.5f}  {r['ratio_gan'].value:>6.3f}  {r['coverage_1sigma']:.3f}"
        )
    plateau = result["plateau"]
    print(
        f"plateau: std GAN {plateau['std_gan'].value:.5f} at n_gen = {plateau['n_gen']}"
        f" vs 1/sqrt(n_train) = {plateau['one_over_sqrt_n_train']:.5f}"
    )
    print(f"report: {Path(args.output) / 'matchev.md'}")
    return 0


def add_matchev_command(groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add ``evgen study matchev -o DIR [--n-train N] [--pseudo-experiments K] [--seed S]``."""
    p = groups["study"].add_parser(
        "matchev",
        help="Matchev et al. App. A: a perfect GAN's spread plateaus at 1/sqrt(n_train)",
        description=run_matchev.__doc__.split("\n")[0] if run_matchev.__doc__ else None,
    )
    p.add_argument("-o", "--output", required=True, help="output directory for report and figures")
    p.add_argument("--n-train", type=_positive_int, default=100, help="training events per GAN (100)")
    p.add_argument(
        "--n-gen",
        type=_positive_int,
        nargs="+",
        default=list(DEFAULT_N_GEN),
        help=f"generated sample sizes (default {' '.join(map(str, DEFAULT_N_GEN))})",
    )
    p.add_argument(
        "--pseudo-experiments", type=_positive_int, default=100_000, help="pseudo-experiments (100000)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--no-plots", action="store_true", help="write only the JSON and Markdown report")
    p.set_defaults(func=_cmd_matchev)


def add_study_commands(groups: dict[str, argparse._SubParsersAction]) -> None:
    """Add the core studies under ``evgen study``."""
    add_matchev_command(groups)
    add_ganplify_command(groups)
    add_amplification_command(groups)
    add_zjets_amplification_command(groups)
