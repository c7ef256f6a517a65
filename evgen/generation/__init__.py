"""Producing events from trained runs: run directories, sharded production, ensembles.

Sub-modules are imported where used, so importing this package stays light.
"""

from __future__ import annotations

__all__: list[str] = []
