"""Registers evgen's data sets (entry point ``datasets`` of group ``evgen``)."""

from __future__ import annotations

import argparse

from evgen.hookspecs import hookimpl
from evgen.interfaces import Dataset


@hookimpl
def evgen_register_datasets() -> list[Dataset]:
    from evgen_datasets.shipped import SHIPPED_SAMPLE
    from evgen_datasets.toys import TOYS

    return [SHIPPED_SAMPLE, *TOYS]


@hookimpl
def evgen_register_commands(
    subparsers: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]
) -> None:
    from evgen_datasets.zjets_cli import add_zjets_command

    add_zjets_command(groups)
