"""The ``evgen`` command line: argparse layers over public Python functions (see :mod:`evgen.cli.main`)."""

from __future__ import annotations

from evgen.cli.main import build_parser, main

__all__ = ["main", "build_parser"]
