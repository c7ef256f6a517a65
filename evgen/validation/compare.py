"""Validate generated events against a reference: histograms, χ²/ndf and δ[%] per observable.

``validate(reference, generated, output_dir)`` builds the Precision Enthusiasts
Fig. 4 set for each jet multiplicity present in the reference, writes one figure
page per multiplicity (when plotting is on), and a summary in JSON and Markdown.
It works for any two collider samples: simulated vs simulated, truth vs generated.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from evgen.errors import InputError
from evgen.events import event_weights, n_jets
from evgen.physics.observables import multiplicity_observables, observable_spec, select_multiplicity
from evgen.validation.histograms import binning, compare_histograms, weighted_histogram
from evgen.validation.results import ObservableResult, ValidationSummary

__all__ = [
    "BINNING_EVENTS",
    "ObservableResult",
    "ValidationSummary",
    "validate",
    "compare_observables",
    "observable_edges",
    "result_from_histograms",
    "write_summary",
]


def _fractions(events: ak.Array) -> dict[int, float]:
    counts = n_jets(events)
    w = event_weights(events)
    total = w.sum()
    return {int(n): float(w[counts == n].sum() / total) for n in np.unique(counts)} if total > 0 else {}


#: Bin ranges without a fixed physics range come from the reference's first this-many
#: events, so the in-memory and the dask paths bin identically without a full pass.
BINNING_EVENTS = 200_000


def observable_edges(reference_head: ak.Array, multiplicity: int, bins: int = 40) -> dict[str, np.ndarray]:
    """Bin edges per observable of ``multiplicity``-jet events, from (the head of) the reference."""
    ref = select_multiplicity(reference_head[:BINNING_EVENTS], multiplicity)
    if len(ref) == 0:
        raise InputError(f"the reference has no {multiplicity}-jet events")
    return {
        name: binning(values, bins, observable_spec(name).range)
        for name, values in multiplicity_observables(ref, multiplicity).items()
    }


def result_from_histograms(
    name: str, multiplicity: int, edges: np.ndarray, h_ref: Any, h_gen: Any
) -> ObservableResult:
    """Wrap two filled histograms of one observable with their comparison."""
    return ObservableResult(name, multiplicity, edges, h_ref, h_gen, compare_histograms(h_ref, h_gen))


def compare_observables(
    reference: ak.Array, generated: ak.Array, multiplicity: int, bins: int = 40
) -> list[ObservableResult]:
    """Histogram and compare every observable of ``multiplicity``-jet events."""
    edges = observable_edges(reference, multiplicity, bins)
    ref = select_multiplicity(reference, multiplicity)
    gen = select_multiplicity(generated, multiplicity)
    ref_obs = multiplicity_observables(ref, multiplicity)
    gen_obs = multiplicity_observables(gen, multiplicity) if len(gen) else {k: np.empty(0) for k in ref_obs}
    rw, gw = event_weights(ref), event_weights(gen)
    return [
        result_from_histograms(
            name,
            multiplicity,
            edges[name],
            weighted_histogram(values, rw, edges[name]),
            weighted_histogram(gen_obs[name], gw, edges[name]),
        )
        for name, values in ref_obs.items()
    ]


def validate(
    reference: ak.Array,
    generated: ak.Array,
    output_dir: str | os.PathLike[str] | None = None,
    *,
    bins: int = 40,
    plots: bool = True,
    reference_label: str = "reference",
    generated_label: str = "generated",
    formats: tuple[str, ...] = ("png", "pdf"),
) -> ValidationSummary:
    """Compare ``generated`` with ``reference`` per jet multiplicity and write plots and a summary.

    Returns the summary; with ``output_dir`` writes ``summary.json``, ``summary.md`` and
    (with ``plots``) one page per multiplicity, ``validation_{n}j.{png,pdf}``.
    """
    if len(reference) == 0:
        raise InputError("the reference sample holds no events")
    if len(generated) == 0:
        raise InputError("the generated sample holds no events")
    summary = ValidationSummary(
        reference_label,
        generated_label,
        {"reference": _fractions(reference), "generated": _fractions(generated)},
    )
    for n in sorted(summary.counts["reference"]):
        if n < 1:
            continue
        summary.results += compare_observables(reference, generated, n, bins)
    if output_dir is not None:
        write_summary(summary, output_dir, plots=plots, formats=formats)
    return summary


def write_summary(
    summary: ValidationSummary,
    output_dir: str | os.PathLike[str],
    plots: bool = True,
    formats: tuple[str, ...] = ("png", "pdf"),
) -> None:
    """Write ``summary.json``, ``summary.md`` and (with ``plots``) one figure page per multiplicity."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / "summary.json", json.dumps(summary.to_dict(), indent=2, allow_nan=True))
    _atomic_write(out / "summary.md", summary.markdown())
    if plots:
        from evgen.validation.figures import validation_pages

        validation_pages(summary, out, formats=formats)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
