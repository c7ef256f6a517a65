"""Registers the ``zjets-inn`` generator and the ``evgen zjets-inn`` commands (entry point of group ``evgen``)."""

from __future__ import annotations

import argparse

from evgen.hookspecs import hookimpl

__all__ = ["evgen_register_generators", "evgen_register_commands"]


@hookimpl
def evgen_register_generators() -> list[type]:
    """The multiplicity-conditioned Z+jets INN of Precision Enthusiasts, Sec. 2."""
    from evgen_zjets_inn.generator import ZJetsINN

    return [ZJetsINN]


@hookimpl
def evgen_register_commands(
    subparsers: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]
) -> None:
    """``evgen zjets-inn calibrate``."""
    from evgen_zjets_inn.commands import register

    register(subparsers)
