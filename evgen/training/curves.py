"""Training curves: the loss and validation loss per epoch that ``history.json`` records.

A run's history maps each network (e.g. ``base``, ``j2``, ``j3``) to one record per
epoch (``{"epoch": 1, "loss": ..., "val_loss": ...}``, see :class:`evgen.training.Trainer`);
some generators record a single list. :func:`loss_curves` turns either into plain
lists for plotting and reports, without importing matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["loss_curves"]


def _records(value: Any) -> list[Mapping[str, Any]] | None:
    if isinstance(value, list) and value and all(isinstance(r, Mapping) and "loss" in r for r in value):
        return value
    return None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def loss_curves(history: Mapping[str, Any] | list[Any]) -> dict[str, dict[str, list[float]]]:
    """Per network: ``{"epoch": [...], "loss": [...], "val_loss": [...]}`` (``val_loss`` only
    when recorded); networks without per-epoch loss records are left out."""
    if isinstance(history, list):
        history = {"": history}
    curves: dict[str, dict[str, list[float]]] = {}
    for name, value in history.items():
        records = _records(value)
        if records is None:
            continue
        curve = {
            "epoch": [_number(r.get("epoch", i + 1)) for i, r in enumerate(records)],
            "loss": [_number(r["loss"]) for r in records],
        }
        if any("val_loss" in r for r in records):
            curve["val_loss"] = [_number(r.get("val_loss")) for r in records]
        curves[str(name)] = curve
    return curves
