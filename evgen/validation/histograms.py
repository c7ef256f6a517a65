"""Weighted histograms and their comparison: χ²/ndf and δ[%] (Precision Enthusiasts Eq. 11).

Histograms are :mod:`hist` objects with ``Weight`` storage, so every bin carries
its sum of weights and sum of squared weights (its statistical variance).
"""

from __future__ import annotations

from dataclasses import dataclass

import hist
import numpy as np

__all__ = [
    "binning",
    "weighted_histogram",
    "HistComparison",
    "compare_histograms",
    "histogram_pulls",
    "shape_pulls",
]


def binning(reference: np.ndarray, bins: int = 40, range_: tuple[float, float] | None = None) -> np.ndarray:
    """Bin edges: ``bins`` equal bins over ``range_`` or over the reference's 0.1–99.9 % quantiles."""
    if range_ is None:
        finite = reference[np.isfinite(reference)]
        if finite.size == 0:
            return np.linspace(0.0, 1.0, bins + 1)
        lo, hi = np.quantile(finite, [0.001, 0.999])
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        range_ = (float(lo), float(hi))
    return np.linspace(range_[0], range_[1], bins + 1)


def weighted_histogram(values: np.ndarray, weights: np.ndarray | None, edges: np.ndarray) -> hist.Hist:
    """A ``Weight``-storage histogram of ``values`` (under/overflow kept in flow bins)."""
    h = hist.Hist(hist.axis.Variable(edges, name="x"), storage=hist.storage.Weight())
    h.fill(x=values, weight=np.ones(len(values)) if weights is None else weights)
    return h


@dataclass(frozen=True)
class HistComparison:
    """Shape comparison of a generated histogram against a reference (both normalised to unit area)."""

    chi2: float
    ndf: int
    #: Per-bin relative deviation 100·|gen − ref|/ref (Eq. 11); NaN where ref is empty.
    delta_percent: np.ndarray
    #: Per-bin statistical relative uncertainty of the reference, in percent.
    reference_error_percent: np.ndarray

    @property
    def chi2_ndf(self) -> float:
        return self.chi2 / self.ndf if self.ndf > 0 else float("nan")

    def bulk_delta(self, min_fraction: float = 0.01) -> float:
        """Median δ[%] over bins holding at least ``min_fraction`` of the largest reference bin."""
        return float(np.nanmedian(self.delta_percent[self._bulk(min_fraction)])) if self.ndf else float("nan")

    def bulk_reference_error(self, min_fraction: float = 0.01) -> float:
        """Median statistical error [%] of the reference in the same bulk bins."""
        return (
            float(np.nanmedian(self.reference_error_percent[self._bulk(min_fraction)]))
            if self.ndf
            else float("nan")
        )

    def _bulk(self, min_fraction: float) -> np.ndarray:
        ref = 100.0 / np.where(self.reference_error_percent > 0, self.reference_error_percent, np.inf)
        return ref**2 >= min_fraction * np.nanmax(ref**2) if np.any(ref > 0) else np.zeros_like(ref, bool)


def histogram_pulls(reference: hist.Hist, generated: hist.Hist) -> np.ndarray:
    """Per-bin pulls ``(g_i − r_i)/√V_i`` of the unit-normalised shapes; NaN where ``V_i = 0``.

    ``V_i`` is the variance of :func:`compare_histograms` (the pooled shape), so
    ``χ² = Σ pulls²`` over the bins where it is defined.
    """
    return shape_pulls(reference.values(), reference.variances(), generated.values(), generated.variances())


def shape_pulls(r: np.ndarray, rv: np.ndarray, g: np.ndarray, gv: np.ndarray) -> np.ndarray:
    """:func:`histogram_pulls` from bin contents and variances; the bins on the last axis, so that
    many generated histograms (``g``, ``gv`` of shape ``(replicas, bins)``) meet one reference."""
    r, rv, g, gv = (np.asarray(a, dtype=np.float64) for a in (r, rv, g, gv))
    rs, gs = r.sum(axis=-1, keepdims=True), g.sum(axis=-1, keepdims=True)
    rvs, gvs = rv.sum(axis=-1, keepdims=True), gv.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        k_r = np.where(r > 0, rv / r, rvs / rs)
        k_g = np.where(g > 0, gv / g, gvs / gs)
        n_r, n_g = rs**2 / rvs, gs**2 / gvs  # effective numbers of events
        rn, gn = r / rs, g / gs
        pooled = (n_r * rn + n_g * gn) / (n_r + n_g)
        var = pooled * (k_r / rs + k_g / gs)
        pulls = np.where(var > 0, (gn - rn) / np.sqrt(np.where(var > 0, var, 1.0)), np.nan)
    empty = (rs <= 0) | (gs <= 0)
    return np.where(empty, np.nan, pulls)


def compare_histograms(reference: hist.Hist, generated: hist.Hist) -> HistComparison:
    """χ² between the unit-normalised shapes of two weighted histograms.

    χ² = Σ_i (g_i − r_i)² / V_i over bins where either is filled, ndf = bins − 1,
    with r, g the normalised contents. The variance under the hypothesis of one
    common shape p̂ (the effective-count weighted mean of r and g) is
    V_i = p̂_i (k_{r,i}/W_r + k_{g,i}/W_g), where W is a sample's sum of weights and
    k_i = Σw²/Σw in bin i (1 for unweighted events). Using p̂ instead of each
    bin's own content avoids the upward bias of Neyman's χ² in sparse bins.
    The per-bin terms are :func:`histogram_pulls`.
    """
    r, rv = reference.values(), reference.variances()
    g = generated.values()
    rs, gs = r.sum(), g.sum()
    if rs <= 0 or gs <= 0:
        nan = np.full_like(r, np.nan)
        return HistComparison(float("nan"), 0, nan, nan)
    pulls = histogram_pulls(reference, generated)
    used = np.isfinite(pulls)
    chi2 = float(np.sum(pulls[used] ** 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        rn, gn = r / rs, g / gs
        delta = np.where(rn > 0, 100.0 * np.abs(gn - rn) / rn, np.nan)
        ref_err = np.where(rn > 0, 100.0 * np.sqrt(rv) / r, np.nan)
    return HistComparison(chi2, max(int(used.sum()) - 1, 0), delta, ref_err)
