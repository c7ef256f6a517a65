"""Figures of the reweighting (Precision Enthusiasts Fig. 5 and 9), with hist + mplhep.

* :func:`reweighting_pages` (Fig. 5): per jet multiplicity, each observable as truth,
  generated and reweighted histograms, their ratio to truth, and the average
  weight :math:`\\langle w_D \\rangle` per bin;
* :func:`weight_distribution` (Fig. 9, left): the distribution of :math:`w_D` per multiplicity;
* :func:`weight_maps` (Fig. 9, right): where large weights sit, :math:`w_D` against
  :math:`M_{\\mu\\mu}` and every :math:`\\Delta R_{jj}` as 2D histograms with the mean profile;
* :func:`calibration_figure`: the held-out reliability curves.

matplotlib is imported only inside these functions.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import awkward as ak
import numpy as np

if TYPE_CHECKING:
    from evgen.validation.calibration import ReliabilityCurve
    from evgen.validation.results import ValidationSummary

__all__ = ["reweighting_pages", "weight_distribution", "weight_maps", "calibration_figure"]


def _save(fig: Any, path: Path, formats: Sequence[str]) -> list[Path]:
    written = []
    for fmt in formats:
        target = path.with_suffix(f".{fmt}")
        tmp = target.with_name(f".{target.stem}.tmp.{fmt}")
        fig.savefig(tmp, bbox_inches="tight", dpi=80 if fmt == "png" else None)
        os.replace(tmp, target)
        written.append(target)
    return written


def reweighting_pages(
    before: ValidationSummary,
    after: ValidationSummary,
    output_dir: str | os.PathLike[str],
    *,
    formats: Sequence[str] = ("png",),
    ncols: int = 4,
    truth_label: str = "truth",
    generated_label: str = "generated",
) -> list[Path]:
    """Fig. 5: one page per multiplicity, ``reweighting_{n}j.{fmt}``.

    ``before`` and ``after`` are :func:`evgen.validation.compare.validate` summaries of the
    generated sample without and with the discriminator weights (same binning).
    """
    import mplhep

    from evgen.physics.observables import observable_spec
    from evgen.plotting import pyplot

    plt = pyplot()
    out = Path(output_dir)
    written: list[Path] = []
    after_by_key = {(r.multiplicity, r.name): r for r in after.results}
    for n in sorted({r.multiplicity for r in before.results}):
        results = [r for r in before.results if r.multiplicity == n]
        nrows = math.ceil(len(results) / ncols)
        fig = plt.figure(figsize=(4.2 * ncols, 5.4 * nrows))
        outer = fig.add_gridspec(nrows, ncols, hspace=0.35, wspace=0.45)
        for i, res in enumerate(results):
            rew = after_by_key[(n, res.name)]
            cell = outer[divmod(i, ncols)].subgridspec(3, 1, height_ratios=[3, 1, 1], hspace=0.06)
            ax, ax_ratio, ax_w = (fig.add_subplot(cell[k]) for k in range(3))
            ax_ratio.sharex(ax)
            ax_w.sharex(ax)
            edges, width = res.edges, np.diff(res.edges)
            spec = observable_spec(res.name)
            curves = {}
            for label, h, color, style in (
                (truth_label, res.reference, "black", "-"),
                (generated_label, res.generated, "C1", "--"),
                ("reweighted", rew.generated, "C0", "-"),
            ):
                v, var = h.values(), h.variances()
                s = max(v.sum(), 1e-300)
                curves[label] = (v / s / width, np.sqrt(var) / s / width)
                mplhep.histplot(curves[label][0], edges, ax=ax, label=label, color=color, ls=style)
            if spec.log:
                ax.set_yscale("log")
            ax.set_ylabel("normalised", fontsize=9)
            ax.set_title(f"χ²/ndf {res.comparison.chi2_ndf:.2f} → {rew.comparison.chi2_ndf:.2f}", fontsize=9)
            truth, truth_err = curves[truth_label]
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(truth > 0, truth_err / truth, np.nan)
                centers = 0.5 * (edges[1:] + edges[:-1])
                ax_ratio.fill_between(centers, 1 - rel, 1 + rel, step="mid", color="grey", alpha=0.3, lw=0)
                for label, color, style in ((generated_label, "C1", "--"), ("reweighted", "C0", "-")):
                    ax_ratio.step(centers, curves[label][0] / truth, where="mid", color=color, ls=style)
                mean_w = np.where(
                    res.generated.values() > 0, rew.generated.values() / res.generated.values(), np.nan
                )
            ax_ratio.axhline(1, color="black", lw=0.8)
            ax_ratio.set_ylim(0.8, 1.2)
            ax_ratio.set_ylabel(f"/{truth_label}", fontsize=8)
            ax_w.step(centers, mean_w, where="mid", color="C0")
            ax_w.axhline(1, color="black", lw=0.8)
            finite = mean_w[np.isfinite(mean_w)]
            spread = max(0.1, float(np.max(np.abs(finite - 1))) * 1.1) if finite.size else 0.1
            ax_w.set_ylim(1 - min(spread, 0.9), 1 + min(spread, 2.0))
            ax_w.set_ylabel(r"$\langle w_D\rangle$", fontsize=8)
            ax_w.set_xlabel(spec.label, fontsize=10)
            for a in (ax, ax_ratio):
                a.tick_params(labelbottom=False, labelsize=8)
            ax_w.tick_params(labelsize=8)
            for a in (ax, ax_ratio, ax_w):
                a.minorticks_off()  # many small panels: minor ticks cost most of the drawing time
            if i == 0:
                ax.legend(fontsize=8, loc="upper left")
        fig.suptitle(f"Z + {n} jet{'s' if n > 1 else ''}: discriminator reweighting", y=0.995 - 0.004 * nrows)
        written += _save(fig, out / f"reweighting_{n}j", formats)
        plt.close(fig)
    return written


def _log_edges(weights: Mapping[Any, np.ndarray], bins: int) -> np.ndarray:
    values = np.concatenate([w[w > 0] for w in weights.values()] or [np.ones(1)])
    lo, hi = np.quantile(values, [0.0005, 0.9995]) if values.size else (0.5, 2.0)
    lo, hi = min(lo, 0.5), max(hi, 2.0)
    return np.geomspace(lo, hi, bins + 1)


def weight_distribution(
    weights: Mapping[int, np.ndarray],
    output_dir: str | os.PathLike[str],
    *,
    formats: Sequence[str] = ("png",),
    bins: int = 60,
) -> list[Path]:
    """Fig. 9: normalised histograms of :math:`w_D` per jet multiplicity, ``weights.{fmt}``."""
    import mplhep
    from matplotlib.ticker import NullFormatter

    from evgen.plotting import pyplot

    plt = pyplot()
    edges = _log_edges(weights, bins)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, (n, w) in enumerate(sorted(weights.items())):
        h, _ = np.histogram(np.clip(w, edges[0], edges[-1]), edges)
        mplhep.histplot(
            h / max(h.sum(), 1), edges, ax=ax, color=f"C{i}", label=f"Z + {n} jet{'s' if n > 1 else ''}"
        )
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(labelsize=10)
    ax.set_xlabel(r"$w_D = D/(1-D)$", fontsize=12)
    ax.set_ylabel("fraction of events", fontsize=12)
    ax.legend(fontsize=9)
    written = _save(fig, Path(output_dir) / "weights", formats)
    plt.close(fig)
    return written


def weight_maps(
    generated: ak.Array,
    weights: np.ndarray,
    output_dir: str | os.PathLike[str],
    *,
    formats: Sequence[str] = ("png",),
    bins: int = 40,
) -> list[Path]:
    """Fig. 9 companion: :math:`w_D` against :math:`M_{\\mu\\mu}` and each :math:`\\Delta R_{jj}`.

    One row per jet multiplicity in ``weights_vs_observables.{fmt}``: a 2D histogram of
    :math:`\\log_{10} w_D` against the observable (colour: events) with the mean weight per
    observable bin as a profile line, so large weights can be traced to phase-space regions.
    """
    from matplotlib.colors import LogNorm

    from evgen.events import n_jets
    from evgen.physics.observables import (
        dimuon_mass,
        jet_pair_separations,
        observable_spec,
        select_multiplicity,
    )
    from evgen.plotting import pyplot

    plt = pyplot()
    counts = n_jets(generated)
    rows = [n for n in sorted(np.unique(counts)) if n >= 1]
    ncols = max([1 + (n * (n - 1)) // 2 for n in rows] or [1])
    fig, axes = plt.subplots(len(rows), ncols, figsize=(4.4 * ncols, 3.8 * len(rows)), squeeze=False)
    w_edges = np.log10(_log_edges({n: weights[counts == n] for n in rows}, bins))
    for r, n in enumerate(rows):
        sel = counts == n
        events = select_multiplicity(generated, n)
        obs = {"m_mumu": dimuon_mass(events)}
        obs.update({k: v for k, v in jet_pair_separations(events, n).items() if k.startswith("dR_")})
        lw = np.log10(np.clip(weights[sel], 10 ** w_edges[0], 10 ** w_edges[-1]))
        for c, (name, values) in enumerate(obs.items()):
            ax = axes[r, c]
            spec = observable_spec(name)
            lo, hi = spec.range if spec.range else np.quantile(values, [0.001, 0.999])
            x_edges = np.linspace(lo, hi, bins + 1)
            h, _, _ = np.histogram2d(np.clip(values, lo, hi), lw, [x_edges, w_edges])
            ax.pcolormesh(x_edges, w_edges, h.T, norm=LogNorm(vmin=1, vmax=max(h.max(), 2)), cmap="viridis")
            idx = np.clip(np.searchsorted(x_edges, values, side="right") - 1, 0, bins - 1)
            n_bin = np.bincount(idx, minlength=bins)
            with np.errstate(invalid="ignore", divide="ignore"):
                profile = np.bincount(idx, weights[sel], bins) / n_bin
            centers = 0.5 * (x_edges[1:] + x_edges[:-1])
            ax.plot(
                centers[n_bin > 0],
                np.log10(profile[n_bin > 0]),
                color="red",
                lw=1.2,
                label=r"$\langle w_D\rangle$",
            )
            ax.axhline(0, color="white", lw=0.6, ls="--")
            ax.set_xlabel(spec.label, fontsize=10)
            ax.set_ylabel(r"$\log_{10} w_D$" + f"  ({n}j)", fontsize=9)
            ax.tick_params(labelsize=8)
            if c == 0 and r == 0:
                ax.legend(fontsize=8, loc="upper right")
        for c in range(len(obs), ncols):
            axes[r, c].set_visible(False)
    fig.tight_layout()
    written = _save(fig, Path(output_dir) / "weights_vs_observables", formats)
    plt.close(fig)
    return written


def calibration_figure(
    curves: Mapping[str, ReliabilityCurve],
    output_dir: str | os.PathLike[str],
    *,
    formats: Sequence[str] = ("png",),
) -> list[Path]:
    """The held-out reliability curves of all classifiers, ``calibration.{fmt}``."""
    from evgen.plotting import pyplot
    from evgen.validation.calibration import plot_reliability

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    plot_reliability({(k if k == "toy" else f"{k} jets"): c for k, c in curves.items()}, ax=ax)
    ax.set_title("discriminator calibration (held-out events)", fontsize=10)
    written = _save(fig, Path(output_dir) / "calibration", formats)
    plt.close(fig)
    return written
