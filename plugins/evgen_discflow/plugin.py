"""Registers this package's components with evgen (entry point of group ``evgen``)."""

from __future__ import annotations

from evgen.hookspecs import hookimpl  # noqa: F401
