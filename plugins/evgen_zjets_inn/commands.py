"""``evgen zjets-inn calibrate``: add the marginal calibration to a trained run.

The calibration (:mod:`evgen.preprocessing.calibration`, ``[calibration]`` in the config) is
fitted at the end of training when ``[calibration] marginals = true``; this command fits it
for a run trained without it, from the run's own training files, into a new run directory.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
from pathlib import Path

from evgen.cli.types import positive_int

__all__ = ["register"]


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from evgen.errors import ConfigError, InputError
    from evgen_zjets_inn.generator import ZJetsINN

    out = Path(args.output)
    if out.exists():
        raise ConfigError(f"{out}: exists; choose a new output directory (the run is not changed in place)")
    missing = [p for p in args.data if not Path(p).exists()]
    if missing:
        raise InputError(f"{missing[0]}: file not found")
    gen = ZJetsINN.load(args.run)
    try:
        settings = dataclasses.replace(
            gen.config.calibration,
            marginals=True,
            **({"samples": args.samples} if args.samples else {}),
            **({"multiplicities": tuple(args.multiplicities)} if args.multiplicities else {}),
            **({"bins": args.bins} if args.bins else {}),
            **({"recoil": True} if args.recoil else {}),
            **({"recoil_jet_bins": args.recoil_jet_bins} if args.recoil_jet_bins else {}),
            **({"conditional": [pair.split(":") for pair in args.conditional]} if args.conditional else {}),
        )
    except ConfigError as error:  # name the command-line option, not the config key
        key = getattr(error, "key", None)
        if key not in ("samples", "bins", "multiplicities", "recoil_jet_bins", "conditional"):
            raise
        raise ConfigError(f"--{key.replace('_', '-')} {error.value!r}: {error.expected}") from None
    if settings.recoil and gen.config.preprocessing.coordinates != "physics":
        raise ConfigError(
            f"--recoil needs a run with the physics coordinates; {args.run} has {gen.config.preprocessing.coordinates!r}"
        )
    gen.config = dataclasses.replace(gen.config, calibration=settings)
    events = gen.read_training_data(args.data)
    shifts = gen.calibrate(events)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        shutil.copytree(args.run, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns("checkpoints"))
        gen.save(tmp)
        from evgen.generation.run_dir import RunDir

        run = RunDir(tmp)
        info = run.read_provenance() if (tmp / RunDir.PROVENANCE).exists() else {}
        info["calibration"] = {
            "from_run": str(args.run),
            "data_files": [str(p) for p in args.data],
            "command": list(sys.argv),
            "shift": shifts,
            **({"recoil_shift": gen.info.get("recoil_calibration_shift")} if settings.recoil else {}),
            **(
                {"conditional_shift": gen.info.get("conditional_calibration_shift")}
                if settings.conditional
                else {}
            ),
        }
        run.write_provenance(info)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for k, shift in shifts.items():
        print(f"{k} jet(s): largest shift per column {', '.join(f'{s:.3f}' for s in shift)}")
    for k, shifts_n in (
        gen.info.get("conditional_calibration_shift", {}).items() if settings.conditional else ()
    ):
        print(f"{k} jet(s): largest shift {', '.join(f'{pair} {s:.3f}' for pair, s in shifts_n.items())}")
    for k, shift in gen.info.get("recoil_calibration_shift", {}).items() if settings.recoil else ():
        print(f"{k} jet(s): largest shift of log(p_T,Z / |Σ p_T,jets|) {shift:.3f}")
    print(f"calibrated run: {out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``zjets-inn`` command group."""
    if "zjets-inn" in subparsers.choices:
        return
    group = subparsers.add_parser("zjets-inn", help="Z+jets INN tools: calibrate a trained run")
    sub = group.add_subparsers(dest="zjets_inn_command", metavar="COMMAND")
    group.set_defaults(func=lambda a: (group.print_help(sys.stderr), 2)[1])
    p = sub.add_parser(
        "calibrate",
        help="fit the marginal calibration of a trained zjets-inn run into a new run directory",
        description="Fit the per-column marginal calibration ([calibration] in the config) of RUN "
        "on its own training files (the same files, in the same order) and write the calibrated "
        "run to OUT. The training split is drawn again from the run's seed.",
    )
    p.add_argument("run", metavar="RUN", help="zjets-inn run directory")
    p.add_argument("--data", nargs="+", required=True, metavar="FILE", help="the run's training ROOT files")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="new run directory to write")
    p.add_argument(
        "--samples",
        type=positive_int,
        help="network samples per multiplicity (default: the run's [calibration] samples, 500000)",
    )
    p.add_argument(
        "--bins",
        type=positive_int,
        help="quantile knots per column (default: the run's [calibration] bins, 128)",
    )
    p.add_argument(
        "--multiplicities",
        type=int,
        nargs="+",
        choices=(1, 2, 3),
        help="calibrate only these (default: the run's [calibration] multiplicities, 1 2 3)",
    )
    p.add_argument(
        "--recoil",
        action="store_true",
        help="also calibrate the Z's p_T over the jets' ([calibration] recoil; physics coordinates)",
    )
    p.add_argument(
        "--recoil-jet-bins",
        type=positive_int,
        metavar="N",
        help="bins of the jets' |Σ p_T| the recoil calibration is fitted in (default: the run's "
        "[calibration] recoil_jet_bins, 4)",
    )
    p.add_argument(
        "--conditional",
        nargs="+",
        metavar="COLUMN:GIVEN",
        help="also calibrate each COLUMN given GIVEN, feature names, e.g. j2_pt:j1_pt "
        "([calibration] conditional; default: the run's)",
    )
    p.set_defaults(func=_cmd_calibrate)
