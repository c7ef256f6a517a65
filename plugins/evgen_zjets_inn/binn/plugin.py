"""Registers the ``binn`` (Z+jets) and ``toy-binn`` generators and the ``evgen binn`` commands."""

from __future__ import annotations

import argparse

from evgen.hookspecs import hookimpl

__all__ = ["evgen_register_generators", "evgen_register_commands"]


@hookimpl
def evgen_register_generators() -> list[type]:
    """The Bayesian INNs of Precision Enthusiasts, Sec. 4: Z+jets (``binn``) and toys (``toy-binn``)."""
    from evgen_zjets_inn.binn.toy import ToyBINN

    classes: list[type] = [ToyBINN]
    try:
        from evgen_zjets_inn.binn.zjets import ZJetsBINN
    except ImportError:  # pragma: no cover - the zjets-inn plugin is part of evgen
        return classes
    return [ZJetsBINN, *classes]


@hookimpl
def evgen_register_commands(
    subparsers: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]
) -> None:
    """``evgen binn bands`` and ``evgen binn scan`` (Figs. 10-13)."""
    from evgen_zjets_inn.binn.commands import register

    register(subparsers)
