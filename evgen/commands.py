"""Core CLI commands: each parses options and calls a public function."""

from __future__ import annotations

import argparse

__all__ = ["register_core_commands"]


def register_core_commands(
    subparsers: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]
) -> None:
    """Add the core's commands (data info, validate, ...) to the parser."""
