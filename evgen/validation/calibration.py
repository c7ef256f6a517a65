r"""Reliability curves: is a classifier's output a probability?

The weight :math:`w_D = D/(1-D)` of Eq. (12) of Precision Enthusiasts is the
density ratio only if :math:`D` is calibrated: among events with output
:math:`D \approx d`, a fraction :math:`d` must be reference events (for
class-balanced samples). A reliability curve bins held-out events in :math:`D`
and compares the mean output per bin with the (weighted) fraction of reference
events; a calibrated classifier lies on the diagonal within the errors.

>>> curve = reliability_curve(d_test, labels_test, weights_test)   # doctest: +SKIP
>>> curve.chi2_ndf, curve.max_deviation                              # doctest: +SKIP
"""

from __future__ import annotations

__all__ = ["ReliabilityCurve", "reliability_curve", "plot_reliability"]

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from evgen.errors import ConfigError, InputError


@dataclass(frozen=True)
class ReliabilityCurve:
    """Binned mean prediction against the fraction of reference events.

    Attributes
    ----------
    edges
        Bin edges in :math:`D` (``bins + 1``).
    mean_prediction
        Weighted mean :math:`D` per bin (NaN where empty).
    true_fraction
        Weighted fraction of reference events (label 1) per bin.
    error
        Standard error of ``true_fraction``, :math:`\\sqrt{\\sum w^2 (y - f)^2}/\\sum w`.
    weight
        Sum of (class-balanced) weights per bin.
    counts
        Events per bin.
    """

    edges: np.ndarray
    mean_prediction: np.ndarray
    true_fraction: np.ndarray
    error: np.ndarray
    weight: np.ndarray
    counts: np.ndarray

    @property
    def _used(self) -> np.ndarray:
        return (self.counts > 1) & (self.error > 0)

    @property
    def chi2(self) -> float:
        """Σ over filled bins of ((fraction − mean prediction)/error)²."""
        u = self._used
        return float(np.sum(((self.true_fraction[u] - self.mean_prediction[u]) / self.error[u]) ** 2))

    @property
    def ndf(self) -> int:
        return int(self._used.sum())

    @property
    def chi2_ndf(self) -> float:
        return self.chi2 / self.ndf if self.ndf else float("nan")

    @property
    def max_deviation(self) -> float:
        """Largest |fraction − mean prediction| over filled bins."""
        u = self._used
        return (
            float(np.max(np.abs(self.true_fraction[u] - self.mean_prediction[u])))
            if u.any()
            else float("nan")
        )

    @property
    def expected_calibration_error(self) -> float:
        """Weight-averaged |fraction − mean prediction| (ECE)."""
        u = self.counts > 0
        if not u.any():
            return float("nan")
        gap = np.abs(self.true_fraction[u] - self.mean_prediction[u])
        return float(np.sum(self.weight[u] * gap) / np.sum(self.weight[u]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": self.edges.tolist(),
            "mean_prediction": self.mean_prediction.tolist(),
            "true_fraction": self.true_fraction.tolist(),
            "error": self.error.tolist(),
            "weight": self.weight.tolist(),
            "counts": self.counts.tolist(),
            "chi2": self.chi2,
            "ndf": self.ndf,
            "max_deviation": self.max_deviation,
            "expected_calibration_error": self.expected_calibration_error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReliabilityCurve:
        keys = ("edges", "mean_prediction", "true_fraction", "error", "weight", "counts")
        return cls(*(np.asarray(data[k], dtype=np.int64 if k == "counts" else np.float64) for k in keys))


def reliability_curve(
    predictions: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    bins: int = 10,
    strategy: str = "quantile",
    balance: bool = True,
) -> ReliabilityCurve:
    """The reliability curve of held-out predictions.

    Parameters
    ----------
    predictions
        :math:`D` per event, in [0, 1].
    labels
        1 for reference events, 0 for generated ones.
    weights
        Event weights (ones when omitted).
    bins
        Number of bins.
    strategy
        ``"quantile"``: bins with equal weight of events (informative when :math:`D`
        clusters near ½, as for a good generator); ``"uniform"``: equal widths on [0, 1].
    balance
        Normalise both classes to the same total weight first, the normalisation the
        classifier was trained with (:func:`evgen.validation.classifier.class_balanced_weights`);
        without it the diagonal is shifted by the class ratio.
    """
    d = np.asarray(predictions, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    w = np.ones(len(d)) if weights is None else np.asarray(weights, dtype=np.float64)
    if not (d.shape == y.shape == w.shape) or d.ndim != 1:
        raise InputError(
            f"predictions {d.shape}, labels {y.shape} and weights {w.shape} must be equal 1-d shapes"
        )
    if len(d) == 0:
        raise InputError("no predictions to calibrate")
    if np.any((d < 0) | (d > 1)) or not np.all(np.isfinite(d)):
        raise InputError("predictions must be probabilities in [0, 1]")
    if not np.all(np.isin(y, (0.0, 1.0))):
        raise InputError("labels must be 0 (generated) or 1 (reference)")
    if bins < 1:
        raise ConfigError(f"bins = {bins}: must be a positive integer")
    if balance:
        w = w.copy()
        for label in (0.0, 1.0):
            sel = y == label
            total = w[sel].sum()
            if total <= 0:
                raise InputError(f"no weight in class {int(label)}; a reliability curve needs both classes")
            w[sel] /= total
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, bins + 1)
    elif strategy == "quantile":
        order = np.argsort(d)
        cum = np.cumsum(w[order])
        cum /= cum[-1]
        sorted_d = d[order]
        edges = np.interp(
            np.linspace(0, 1, bins + 1),
            np.concatenate([[0.0], cum]),
            np.concatenate([sorted_d[:1], sorted_d]),
        )
        edges[0], edges[-1] = 0.0, 1.0
        edges = np.maximum.accumulate(edges)
    else:
        raise ConfigError(f"strategy = {strategy!r}: expected 'quantile' or 'uniform'")
    index = np.clip(np.searchsorted(edges, d, side="right") - 1, 0, bins - 1)
    sw = np.bincount(index, w, bins)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_d = np.bincount(index, w * d, bins) / sw
        frac = np.bincount(index, w * y, bins) / sw
        err = np.sqrt(np.bincount(index, w**2 * (y - frac[index]) ** 2, bins)) / sw
    return ReliabilityCurve(edges, mean_d, frac, err, sw, counts)


def plot_reliability(curves: Mapping[str, ReliabilityCurve], ax: Any = None) -> Any:
    """Draw reliability curves (one per label) with the diagonal; returns the axes."""
    from evgen.plotting import pyplot

    plt = pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    lo = min((np.nanmin(c.mean_prediction) for c in curves.values()), default=0.0)
    hi = max((np.nanmax(c.mean_prediction) for c in curves.values()), default=1.0)
    pad = 0.1 * max(hi - lo, 0.02)
    span = (max(lo - pad, 0.0), min(hi + pad, 1.0))
    ax.plot(span, span, color="grey", ls="--", lw=1, label="calibrated")
    for i, (label, c) in enumerate(curves.items()):
        ax.errorbar(
            c.mean_prediction,
            c.true_fraction,
            yerr=c.error,
            marker="o",
            ms=3,
            lw=1,
            color=f"C{i}",
            label=f"{label} (χ²/ndf = {c.chi2_ndf:.2f})",
        )
    ax.set_xlim(*span)
    ax.set_ylim(*span)
    ax.set_xlabel(r"mean $D$ in bin")
    ax.set_ylabel("fraction of reference events")
    ax.legend(fontsize=8, loc="upper left")
    return ax
