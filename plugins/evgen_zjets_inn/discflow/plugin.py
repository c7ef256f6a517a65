"""Registers the ``discflow`` generator (entry point of group ``evgen``).

``evgen train discflow`` and ``evgen generate RUN`` come from the generic commands
(registered by the ``zjets_inn`` plugin); ``evgen reweight`` from ``discriminator``.
"""

from __future__ import annotations

import argparse

from evgen.hookspecs import hookimpl

__all__ = ["evgen_register_generators", "evgen_register_commands"]


@hookimpl
def evgen_register_generators() -> list[type]:
    """DiscFlow of Precision Enthusiasts, Sec. 3.2."""
    from evgen_zjets_inn.discflow.generator import DiscFlow

    return [DiscFlow]


@hookimpl
def evgen_register_commands(
    subparsers: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]
) -> None:
    """``evgen discflow study``."""
    from evgen_zjets_inn.discflow.commands import register

    register(subparsers)
