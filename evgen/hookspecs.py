"""The hooks through which plugins extend evgen.

A plugin is any module listed under the ``evgen`` entry-point group that
implements some of these hooks with ``@evgen.hookspecs.hookimpl``. evgen's own
generators, reweighters, metrics and data sets are registered exactly this way.
Call hooks with keywords only.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from evgen.interfaces import Dataset, Generator, Metric, Reweighter

__all__ = ["hookspec", "hookimpl", "PROJECT"]

PROJECT = "evgen"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def evgen_register_generators() -> Sequence[type[Generator]]:
    """Return the generator classes this plugin provides (subclasses of :class:`evgen.interfaces.Generator`)."""


@hookspec
def evgen_register_reweighters() -> Sequence[type[Reweighter]]:
    """Return the reweighter classes this plugin provides (subclasses of :class:`evgen.interfaces.Reweighter`)."""


@hookspec
def evgen_register_metrics() -> Sequence[type[Metric]]:
    """Return the metric classes this plugin provides (subclasses of :class:`evgen.interfaces.Metric`)."""


@hookspec
def evgen_register_datasets() -> Sequence[Dataset]:
    """Return data-set instances this plugin provides (toys, shipped samples, makers)."""


@hookspec
def evgen_register_commands(
    subparsers: argparse._SubParsersAction, groups: dict[str, argparse._SubParsersAction]
) -> None:
    """Add CLI sub-commands.

    ``subparsers`` holds the top-level commands; ``groups`` the sub-command groups
    (``"data"``, ``"study"``). Each parser must set ``func`` with
    ``parser.set_defaults(func=callable)``; the callable receives the parsed
    ``argparse.Namespace`` and returns an exit code (or None for 0).
    """
