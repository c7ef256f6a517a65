r"""The figure of Fig. 14 (arXiv:2110.13632): the reweighted :math:`p_{T,j1}` with the BINN band,
the augmentation envelope, the truth and the discriminator (:mod:`evgen_zjets_inn.binn.combined`
computes what it draws).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evgen.statistics.uncertainty import HistogramBand

__all__ = ["plot_combined"]


def plot_combined(
    edges: np.ndarray,
    truth: np.ndarray,
    truth_error: np.ndarray,
    band: HistogramBand,
    output_dir: str | os.PathLike[str],
    *,
    raw: np.ndarray | None = None,
    mean_d: np.ndarray | None = None,
    aug_rel: tuple[np.ndarray, np.ndarray] | None = None,
    aug_label: str = "augmentation",
    formats: Sequence[str] = ("png",),
    name: str = "combined_ptj1",
) -> list[Path]:
    """Fig. 14, ``combined_ptj1.{fmt}``: (a) normalised :math:`p_{T,j1}`, (b) ratio to truth,
    (c) mean :math:`D` per bin (with ``mean_d``), (d) relative BINN and augmentation uncertainties.

    ``raw`` is the central shape without the reweighting (dashed); ``aug_rel`` the relative
    augmentation envelope ``(low, high)`` around the central shape.
    """
    from evgen.plotting import pyplot
    from evgen.validation.records import save_figure

    plt = pyplot()
    width = np.diff(edges)
    centers = 0.5 * (edges[1:] + edges[:-1])
    g, s = band.mean_fraction, band.fraction_sigma_pred
    panels = ["main", "ratio", *(["d"] if mean_d is not None else []), "rel"]
    heights = {"main": 3.0, "ratio": 1.2, "d": 1.0, "rel": 1.2}
    fig, axes = plt.subplots(
        len(panels),
        1,
        sharex=True,
        figsize=(8, 5 + 2.2 * (len(panels) - 1)),
        gridspec_kw={"height_ratios": [heights[p] for p in panels], "hspace": 0.06},
    )
    ax = dict(zip(panels, axes, strict=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_safe = np.where(truth > 0, truth, np.nan)
        aug = None if aug_rel is None else (g * (1 + aug_rel[0]), g * (1 + aug_rel[1]))
        rel_t = truth_error / t_safe
        _distribution_panel(ax["main"], edges, width, centers, g, s, truth, truth_error, aug, raw, aug_label)
        _ratio_panel(ax["ratio"], edges, g, s, t_safe, rel_t, aug, raw)
        if mean_d is not None:
            _discriminator_panel(ax["d"], edges, mean_d)
        _uncertainty_panel(ax["rel"], edges, band, rel_t, aug_rel, aug_label)
    return save_figure(fig, output_dir, name, formats)


def _distribution_panel(
    a0: Any,
    edges: np.ndarray,
    width: np.ndarray,
    centers: np.ndarray,
    g: np.ndarray,
    s: np.ndarray,
    truth: np.ndarray,
    truth_error: np.ndarray,
    aug: tuple[np.ndarray, np.ndarray] | None,
    raw: np.ndarray | None,
    aug_label: str,
) -> None:
    """(a) The normalised distribution: the augmentation band, BINN ± σ_pred, not reweighted, the truth."""
    if aug is not None:
        a0.stairs(
            np.nan_to_num(aug[1] / width),
            edges,
            baseline=np.nan_to_num(aug[0] / width),
            fill=True,
            color="C1",
            alpha=0.35,
            lw=0,
            label=aug_label,
        )
    a0.stairs((g + s) / width, edges, baseline=(g - s) / width, fill=True, color="C0", alpha=0.4, lw=0)
    a0.stairs(
        g / width,
        edges,
        color="C0",
        label=r"BINN $\times\, w_D$ $\pm\,\sigma_\mathrm{pred}$",
        baseline=None,
    )
    if raw is not None:
        a0.stairs(raw / width, edges, color="C0", ls="--", lw=1, label="BINN, not reweighted", baseline=None)
    a0.errorbar(centers, truth / width, truth_error / width, fmt="o", ms=3, color="black", label="truth")
    a0.set_yscale("log")
    a0.set_ylabel(r"$\frac{1}{\sigma}\frac{d\sigma}{dp_{T,j1}}$ [GeV$^{-1}$]", fontsize=14)
    a0.legend(fontsize=11)
    a0.set_title("Z + jets, inclusive", fontsize=14)


def _ratio_panel(
    a1: Any,
    edges: np.ndarray,
    g: np.ndarray,
    s: np.ndarray,
    t_safe: np.ndarray,
    rel_t: np.ndarray,
    aug: tuple[np.ndarray, np.ndarray] | None,
    raw: np.ndarray | None,
) -> None:
    """(b) Ratio to the truth, with the truth's statistical band."""
    a1.stairs(
        np.nan_to_num(1 + rel_t, nan=1),
        edges,
        baseline=np.nan_to_num(1 - rel_t, nan=1),
        fill=True,
        color="grey",
        alpha=0.3,
        lw=0,
    )
    if aug is not None:
        a1.stairs(
            np.nan_to_num(aug[1] / t_safe, nan=1),
            edges,
            baseline=np.nan_to_num(aug[0] / t_safe, nan=1),
            fill=True,
            color="C1",
            alpha=0.35,
            lw=0,
        )
    a1.stairs(
        np.nan_to_num((g + s) / t_safe, nan=1),
        edges,
        baseline=np.nan_to_num((g - s) / t_safe, nan=1),
        fill=True,
        color="C0",
        alpha=0.4,
        lw=0,
    )
    a1.stairs(np.nan_to_num(g / t_safe, nan=1), edges, color="C0", baseline=None)
    if raw is not None:
        a1.stairs(np.nan_to_num(raw / t_safe, nan=1), edges, color="C0", ls="--", lw=1, baseline=None)
    a1.axhline(1.0, color="black", lw=0.8)
    a1.set_ylim(*_ratio_limits(g / t_safe))
    a1.set_ylabel("BINN / truth", fontsize=12)


def _discriminator_panel(a2: Any, edges: np.ndarray, mean_d: np.ndarray) -> None:
    """(c) The mean discriminator output per bin."""
    a2.stairs(np.nan_to_num(mean_d, nan=0.5), edges, color="C2", baseline=None)
    a2.axhline(0.5, color="black", lw=0.8, ls=":")
    lo, hi = np.nanmin(mean_d), np.nanmax(mean_d)
    pad = max(0.02, 0.1 * (hi - lo)) if np.isfinite(lo) else 0.1
    a2.set_ylim(
        min(0.45, lo - pad) if np.isfinite(lo) else 0.4,
        max(0.55, hi + pad) if np.isfinite(hi) else 0.6,
    )
    a2.set_ylabel(r"$\langle D\rangle$", fontsize=12)


def _uncertainty_panel(
    a3: Any,
    edges: np.ndarray,
    band: HistogramBand,
    rel_t: np.ndarray,
    aug_rel: tuple[np.ndarray, np.ndarray] | None,
    aug_label: str,
) -> None:
    """(d) Relative uncertainties in percent: σ_pred, the augmentation envelope, the truth's statistics."""
    a3.stairs(
        np.nan_to_num(100 * band.relative_sigma_pred),
        edges,
        color="C0",
        label=r"$\sigma_\mathrm{pred}/p$",
        baseline=None,
    )
    if aug_rel is not None:
        a3.stairs(
            np.nan_to_num(100 * aug_rel[1]), edges, color="C1", label=f"{aug_label} (max)", baseline=None
        )
        a3.stairs(
            np.nan_to_num(100 * aug_rel[0]),
            edges,
            color="C1",
            ls="--",
            label=f"{aug_label} (min)",
            baseline=None,
        )
    a3.stairs(np.nan_to_num(100 * rel_t), edges, color="grey", ls=":", label="truth stat.", baseline=None)
    a3.axhline(0.0, color="black", lw=0.8)
    a3.set_ylabel(r"$\delta$ [%]", fontsize=12)
    a3.legend(fontsize=9, ncol=2)
    a3.set_xlabel(r"$p_{T,j1}$ [GeV]")


def _ratio_limits(ratio: np.ndarray) -> tuple[float, float]:
    """At least 0.9-1.1, widened to the ratio (plus a margin), at most 0.5-1.5."""
    r = ratio[np.isfinite(ratio)]
    if r.size == 0:
        return 0.9, 1.1
    return max(0.5, min(0.9, float(r.min()) - 0.05)), min(1.5, max(1.1, float(r.max()) + 0.05))


# -- the whole view ---------------------------------------------------------------------------------
