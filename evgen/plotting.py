"""Validation figures with hist + mplhep (an optional stack: imported only here).

One page per jet multiplicity: for every observable a panel with the reference
and generated histograms (weighted, with statistical error bars) and below it
the relative deviation δ[%] (Precision Enthusiasts Eq. 11) with the reference's
own statistical error as a band.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from evgen.validation import ObservableResult, ValidationSummary

__all__ = ["comparison_panel", "validation_figure", "validation_pages", "training_curves_figure", "pyplot"]


def pyplot() -> Any:
    """matplotlib.pyplot with a non-interactive backend and the mplhep style, or a clear hint."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        import mplhep
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib and mplhep: pip install matplotlib mplhep") from exc
    plt.style.use(mplhep.style.ROOT)
    return plt


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

    from evgen.observables import observable_spec

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


def training_curves_figure(curves: dict[str, dict[str, list[float]]]) -> Any:
    """Loss (solid) and validation loss (dashed) per epoch, one panel per network
    (``curves`` as :func:`evgen.curves.loss_curves` returns them)."""
    plt = pyplot()
    names = list(curves)
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        curve = curves[name]
        ax.plot(curve["epoch"], curve["loss"], marker="o", ms=3, label="loss")
        if "val_loss" in curve:
            ax.plot(curve["epoch"], curve["val_loss"], marker="s", ms=3, ls="--", label="validation loss")
        ax.set_xlabel("epoch", fontsize=11)
        ax.set_ylabel("loss", fontsize=11)
        ax.set_title(name or "training", fontsize=12)
        ax.tick_params(labelsize=9)
        ax.legend(fontsize=9)
    fig.tight_layout()
    return fig
