"""Registers the ``discriminator`` reweighter and ``evgen reweight`` (entry point of group ``evgen``)."""

from __future__ import annotations

import argparse

from evgen.hookspecs import hookimpl

__all__ = ["evgen_register_reweighters", "evgen_register_commands"]


@hookimpl
def evgen_register_reweighters() -> list[type]:
    """Per-jet-multiplicity classifier reweighting of Precision Enthusiasts, Sec. 3.1."""
    from evgen_discriminator.reweighter import DiscriminatorReweighter

    return [DiscriminatorReweighter]


@hookimpl
def evgen_register_commands(
    subparsers: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]
) -> None:
    """``evgen reweight TRUTH GENERATED -o OUT``."""
    from evgen_discriminator.commands import register

    register(subparsers)
