"""Validation figures with hist + mplhep, drawn through :func:`evgen.plotting.pyplot`.

One page per jet multiplicity: for every observable a panel with the reference
and generated histograms (weighted, with statistical error bars) and below it
the relative deviation δ[%] (Precision Enthusiasts Eq. 11) with the reference's
own statistical error as a band.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evgen.plotting import pyplot

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from evgen.validation.results import ObservableResult, ValidationSummary

__all__ = ["comparison_panel", "validation_figure", "validation_pages", "plot_weight_distribution"]


def comparison_panel(
    ax: Any,
    ax_delta: Any,
    result: ObservableResult,
    reference_label: str = "reference",
    generated_label: str = "generated",
    log: bool = False,
) -> None:
    """Draw one observable: normalised histograms on ``ax``, δ[%] on ``ax_delta``."""
    import mplhep

    from evgen.physics.observables import observable_spec

    spec = observable_spec(result.name)
    edges = result.edges
    r, rv = result.reference.values(), result.reference.variances()
    g, gv = result.generated.values(), result.generated.variances()
    width = np.diff(edges)
    rs, gs = max(r.sum(), 1e-300), max(g.sum(), 1e-300)
    mplhep.histplot(
        r / rs / width, edges, yerr=np.sqrt(rv) / rs / width, ax=ax, label=reference_label, color="black"
    )
    mplhep.histplot(
        g / gs / width, edges, yerr=np.sqrt(gv) / gs / width, ax=ax, label=generated_label, color="C1"
    )
    if log or spec.log:
        ax.set_yscale("log")
    ax.set_ylabel("normalised", fontsize=9)
    c = result.comparison
    ax.text(
        0.97, 0.95, f"χ²/ndf = {c.chi2_ndf:.2f}", transform=ax.transAxes, ha="right", va="top", fontsize=8
    )
    ax.tick_params(labelbottom=False, labelsize=8)
    centers = 0.5 * (edges[1:] + edges[:-1])
    ax_delta.fill_between(
        centers, 0, np.nan_to_num(c.reference_error_percent), step="mid", color="grey", alpha=0.3, lw=0
    )
    ax_delta.step(centers, c.delta_percent, where="mid", color="C1")
    ax_delta.set_ylim(0, 20)
    ax_delta.set_ylabel(r"$\delta$ [%]", fontsize=9)
    ax_delta.set_xlabel(spec.label, fontsize=10)
    ax_delta.tick_params(labelsize=8)


def validation_figure(summary: ValidationSummary, multiplicity: int, ncols: int = 4) -> Any:
    """The figure of one jet multiplicity: every observable with its δ[%] panel."""
    plt = pyplot()
    results = [r for r in summary.results if r.multiplicity == multiplicity]
    nrows = math.ceil(len(results) / ncols)
    fig = plt.figure(figsize=(4.2 * ncols, 4.4 * nrows))
    outer = fig.add_gridspec(nrows, ncols, hspace=0.35, wspace=0.4)
    for i, result in enumerate(results):
        cell = outer[divmod(i, ncols)].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.05)
        ax = fig.add_subplot(cell[0])
        ax_delta = fig.add_subplot(cell[1], sharex=ax)
        comparison_panel(ax, ax_delta, result, summary.reference_label, summary.generated_label)
        if i == 0:
            ax.legend(fontsize=8, loc="upper left")
    n = multiplicity
    fig.suptitle(
        f"Z + {n} jet{'s' if n > 1 else ''}: {summary.generated_label} vs {summary.reference_label}",
        y=0.995 - 0.004 * nrows,
    )
    return fig


def validation_pages(
    summary: ValidationSummary,
    output_dir: str | os.PathLike[str],
    formats: Sequence[str] = ("png", "pdf"),
    ncols: int = 4,
) -> list[Path]:
    """Write one figure per jet multiplicity; returns the written paths."""
    plt = pyplot()
    out = Path(output_dir)
    written: list[Path] = []
    for n in sorted({r.multiplicity for r in summary.results}):
        fig = validation_figure(summary, n, ncols)
        for fmt in formats:
            path = out / f"validation_{n}j.{fmt}"
            tmp = path.with_name(f".{path.stem}.tmp.{fmt}")
            fig.savefig(tmp, bbox_inches="tight", dpi=80 if fmt == "png" else None)
            os.replace(tmp, path)
            written.append(path)
        plt.close(fig)
    return written


def plot_weight_distribution(
    weights: np.ndarray | Mapping[str, np.ndarray],
    ax: Axes | None = None,
    bins: int | np.ndarray = 50,
    range: tuple[float, float] | None = None,  # noqa: A002 - numpy's name
    **kwargs: Any,
) -> Axes:
    """Histogram of generated event weights, as in Fig. 3 (right).

    Parameters
    ----------
    weights
        Weights, or a mapping label → weights (e.g. per jet multiplicity).
        Zero weights (events below ``R_min``) are counted in the legend, not drawn.
    ax
        Axes to draw on; a new figure when omitted.
    """
    try:
        import matplotlib.pyplot as plt
        import mplhep
    except ImportError as exc:  # pragma: no cover
        raise ImportError("plotting needs matplotlib and mplhep: pip install 'evgen-hep[plot]'") from exc
    if not isinstance(weights, Mapping):
        weights = {"generated": weights}
    if ax is None:
        _, ax = plt.subplots()
    positive = [np.asarray(w)[np.asarray(w) > 0] for w in weights.values()]
    if range is None:
        top = max((p.max() for p in positive if len(p)), default=2.0)
        range = (min(1.0, min((p.min() for p in positive if len(p)), default=1.0)), top)
    for (label, w), pos in zip(weights.items(), positive, strict=True):
        counts, edges = np.histogram(pos, bins=bins, range=range)
        zero = int(np.sum(np.asarray(w) == 0))
        mplhep.histplot(counts, edges, ax=ax, label=f"{label} ({zero} with w = 0)", **kwargs)
    ax.set_xlabel("event weight $w$")
    ax.set_ylabel("events")
    ax.set_yscale("log")
    ax.legend()
    return ax
