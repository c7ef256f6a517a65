"""Registers the ``zjets-inn`` generator (entry point of group ``evgen``)."""

from __future__ import annotations

from evgen.hookspecs import hookimpl

__all__ = ["evgen_register_generators"]


@hookimpl
def evgen_register_generators() -> list[type]:
    """The multiplicity-conditioned Z+jets INN of Precision Enthusiasts, Sec. 2."""
    from evgen_zjets_inn.generator import ZJetsINN

    return [ZJetsINN]
