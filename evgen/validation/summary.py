"""A sample at a glance: what ``evgen data info`` prints."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import awkward as ak
import numpy as np

from evgen.events import event_weights, n_jets
from evgen.io import Layout, iterate_events, read_metadata

__all__ = ["sample_summary", "format_summary"]


def _moments() -> dict[str, float]:
    return {"n": 0.0, "sum": 0.0, "sum2": 0.0, "min": np.inf, "max": -np.inf}


def _update(acc: dict[str, float], values: np.ndarray) -> None:
    if values.size == 0:
        return
    acc["n"] += values.size
    acc["sum"] += float(values.sum())
    acc["sum2"] += float(np.square(values, dtype=np.float64).sum())
    acc["min"] = min(acc["min"], float(values.min()))
    acc["max"] = max(acc["max"], float(values.max()))


def _finish(acc: dict[str, float]) -> dict[str, float]:
    n = acc["n"]
    if n == 0:
        return {"n": 0}
    mean = acc["sum"] / n
    return {
        "n": int(n),
        "mean": mean,
        "std": float(np.sqrt(max(acc["sum2"] / n - mean**2, 0.0))),
        "min": acc["min"],
        "max": acc["max"],
    }


def sample_summary(
    paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    tree: str = "Events",
    layout: Layout | None = None,
    step_size: int = 200_000,
) -> dict[str, Any]:
    """Events, jet multiplicities, per-object kinematics and weights of a sample, in one pass.

    Streams the files chunk by chunk, so memory stays bounded for any size.
    """
    counts: dict[int, int] = {}
    wsum: dict[int, float] = {}
    weights = {"sum": 0.0, "sum2": 0.0, "min": np.inf, "max": -np.inf, "negative": 0, "zero": 0}
    kin: dict[str, dict[str, float]] = {}
    n_events = 0
    for events in iterate_events(paths, tree=tree, layout=layout, step_size=step_size):
        n_events += len(events)
        w = event_weights(events)
        weights["sum"] += float(w.sum())
        weights["sum2"] += float((w**2).sum())
        weights["min"] = min(weights["min"], float(w.min()))
        weights["max"] = max(weights["max"], float(w.max()))
        weights["negative"] += int((w < 0).sum())
        weights["zero"] += int((w == 0).sum())
        if "Jet" in ak.fields(events):
            nj = n_jets(events)
            for n in np.unique(nj):
                counts[int(n)] = counts.get(int(n), 0) + int((nj == n).sum())
                wsum[int(n)] = wsum.get(int(n), 0.0) + float(w[nj == n].sum())
        for coll in ak.fields(events):
            column = events[coll]
            if column.ndim != 2 or not ak.fields(column):
                continue
            for i in range(3):
                obj = column[ak.num(column, axis=1) > i][:, i]
                for field in ("pt", "eta", "phi", "mass"):
                    key = f"{coll}[{i}].{field}"
                    _update(kin.setdefault(key, _moments()), ak.to_numpy(obj[field]).astype(np.float64))
    total_w = weights["sum"]
    first = paths if isinstance(paths, (str, os.PathLike)) else paths[0]
    return {
        "events": n_events,
        "jet_multiplicity": {
            str(n): {
                "events": counts[n],
                "fraction": counts[n] / n_events,
                "weighted_fraction": wsum[n] / total_w if total_w else float("nan"),
            }
            for n in sorted(counts)
        },
        "weights": {
            "sum": total_w,
            "mean": total_w / n_events if n_events else float("nan"),
            "min": weights["min"],
            "max": weights["max"],
            "negative": weights["negative"],
            "zero": weights["zero"],
            "effective_events": total_w**2 / weights["sum2"] if weights["sum2"] > 0 else 0.0,
        },
        "kinematics": {k: _finish(v) for k, v in kin.items() if v["n"] > 0},
        "metadata": read_metadata(first),
    }


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable text of :func:`sample_summary`."""
    lines = [f"events: {summary['events']}"]
    if summary["jet_multiplicity"]:
        lines.append("jet multiplicity:")
        for n, d in summary["jet_multiplicity"].items():
            lines.append(
                f"  {n} jets: {d['events']:>10d}  ({100 * d['fraction']:.2f} %, weighted {100 * d['weighted_fraction']:.2f} %)"
            )
    w = summary["weights"]
    lines.append(
        f"weights: sum {w['sum']:.6g}, mean {w['mean']:.4g}, min {w['min']:.4g}, max {w['max']:.4g}, "
        f"negative {w['negative']}, zero {w['zero']}, effective events {w['effective_events']:.1f}"
    )
    lines.append("kinematics (mean ± std [min, max]):")
    for key, k in summary["kinematics"].items():
        lines.append(
            f"  {key:<16s} {k['mean']:10.4g} ± {k['std']:<10.4g} [{k['min']:.4g}, {k['max']:.4g}]  n={k['n']}"
        )
    if summary["metadata"]:
        lines.append("provenance:")
        for key, value in summary["metadata"].items():
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)
