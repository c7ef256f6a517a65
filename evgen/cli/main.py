"""The ``evgen`` command line: a thin layer over public Python functions.

Every command calls a function a notebook user can call too. Errors evgen raises
on purpose (:class:`evgen.errors.EvgenError`) become a one-line message on
stderr and exit code 2; plugins add commands through ``evgen_register_commands``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from evgen import __version__
from evgen.errors import EvgenError

__all__ = ["main", "build_parser"]


def _cmd_plugins(args: argparse.Namespace) -> int:
    from evgen.plugins import list_plugins

    rows = list_plugins()
    if args.kind:
        rows = [r for r in rows if r.kind == args.kind]
    if not rows:
        print("no plugins registered")
        return 0
    width = max(len(r.name) for r in rows)
    kwidth = max(len(r.kind) for r in rows)
    for r in rows:
        print(f"{r.name:<{width}}  {r.kind:<{kwidth}}  {r.description}  [{r.plugin}]")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with the commands plugins add."""
    parser = argparse.ArgumentParser(
        prog="evgen",
        description="Train fast generative networks on collision events, generate, validate.",
    )
    parser.add_argument("--version", action="version", version=f"evgen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("plugins", help="list every registered generator, reweighter, metric and data set")
    p.add_argument("--kind", choices=["generator", "reweighter", "metric", "dataset"], help="only this kind")
    p.set_defaults(func=_cmd_plugins)

    data = sub.add_parser("data", help="make, inspect and convert event samples")
    data_sub = data.add_subparsers(dest="data_command", metavar="COMMAND")
    data.set_defaults(func=lambda a: _missing_subcommand(data))
    study = sub.add_parser("study", help="statistical studies (GANplification, Matchev, amplification)")
    study_sub = study.add_subparsers(dest="study_command", metavar="STUDY")
    study.set_defaults(func=lambda a: _missing_subcommand(study))
    groups = {"data": data_sub, "study": study_sub}

    from evgen.cli import commands

    commands.register_core_commands(sub, groups)

    from evgen.plugins import plugin_manager

    plugin_manager().hook.evgen_register_commands(subparsers=sub, groups=groups)
    return parser


def _missing_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        code = args.func(args)
    except EvgenError as exc:
        print(f"evgen: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evgen: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
