"""``evgen reweight TRUTH GENERATED -o OUT``: a thin argparse layer over :func:`reweight_files`."""

from __future__ import annotations

import argparse

from evgen.cli.types import positive_int as _positive

__all__ = ["register", "cmd_reweight"]


def cmd_reweight(args: argparse.Namespace) -> int:
    from evgen.errors import ConfigError
    from evgen_discriminator.reweight import reweight_files

    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.device is not None and args.device != "cpu" and not args.device.startswith("cuda"):
        raise ConfigError(f"--device {args.device!r}: expected 'cpu', 'cuda' or 'cuda:N'")
    overrides = {
        "classifier.epochs": args.epochs,
        "classifier.device": args.device,
        "seed": args.seed,
    }
    summary = reweight_files(
        args.truth.split(","),
        args.generated.split(","),
        args.output,
        config=args.config,
        overrides=overrides,
        max_events=args.max_events,
        tree=args.tree,
        progress=not args.no_progress,
        plots=not args.no_plots,
        formats=tuple(args.format),
    )
    print(f"wrote {args.output}/reweighted.root (genWeight = original × w_D) and {args.output}/summary.md")
    for key, d in summary["discriminators"].items():
        m = summary["mean_chi2_ndf"].get(key, {})
        print(
            f"  {key} jets: AUC {d.get('auc', float('nan')):.4f} ± {d.get('auc_error', float('nan')):.4f}, "
            f"mean χ²/ndf {m.get('before', float('nan')):.2f} → {m.get('after', float('nan')):.2f}"
        )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``evgen reweight`` (skipped if another plugin already did)."""
    if "reweight" in subparsers.choices:
        return
    p = subparsers.add_parser(
        "reweight",
        help="train per-multiplicity discriminators and reweight generated events onto a truth sample",
        description=(
            "Fit one classifier per jet multiplicity between TRUTH and GENERATED events "
            "(Precision Enthusiasts Sec. 3.1), weight every generated event by w_D = D/(1-D) "
            "(Eq. 12, clipped), and write OUT/reweighted.root, figures (Fig. 5, 9), reliability "
            "curves and a summary with χ²/ndf before and after."
        ),
    )
    p.add_argument("truth", metavar="TRUTH.root", help="truth sample (comma-separated files allowed)")
    p.add_argument("generated", metavar="GENERATED.root", help="generated sample to reweight")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="output directory")
    p.add_argument("--config", help="TOML/JSON config ([classifier], weight_clip, ...)")
    p.add_argument("--epochs", type=_positive, help="maximum classifier epochs (overrides the config)")
    p.add_argument("--device", help="cpu, cuda or cuda:N")
    p.add_argument("--seed", type=int, help="seed (overrides the config)")
    p.add_argument("--max-events", type=_positive, help="read at most this many events of each sample")
    p.add_argument("--tree", default="Events", help="TTree name (default: Events)")
    p.add_argument("--threads", type=_positive, help="torch CPU threads (torch.set_num_threads)")
    p.add_argument("--format", action="append", default=None, help="figure format (repeatable; default png)")
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    args.format = args.format or ["png"]
    return cmd_reweight(args)
