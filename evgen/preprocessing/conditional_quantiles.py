r"""Conditional quantile maps: one variable's distribution given another, from a model onto the data.

The calibrations fitted after training (:mod:`evgen.preprocessing.calibration`,
:mod:`evgen.preprocessing.recoil_calibration`) move a network's samples onto the training
data's distribution of a variable ``v`` *given* a variable ``h`` that the map leaves alone:

    T_h(v) = F_data⁻¹(F_model(v | h) | h).

:func:`fit_conditional_quantiles` measures both conditional distributions in ``given_bins``
quantile bins of ``h`` (the data's bins, for both sides), at ``bins + 1`` levels ``Φ(z_k)`` with
``z_k`` evenly spaced (as :class:`~evgen.preprocessing.steps.Gaussianize`), each side weighted as
the events it stands for. Between the bins' weighted mean ``h`` the knots are interpolated
linearly (:func:`interpolate_knots`; a convex combination of increasing knots is increasing),
and :func:`piecewise_linear` maps through them, with slope 1 beyond the outer knots. So ``T_h``
is a monotone, piecewise-linear bijection of ℝ for every ``h``, continuous in ``h``, with the
log-slope of its segment as ``log |dT_h/dv|``; with one bin it is the unconditional quantile map.
A small sample gets fewer bins of ``h``, then fewer levels (at least ``ROWS_PER_LEVEL`` effective
rows per level and bin on each side), rather than a map fitted to its noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from evgen.errors import InputError
from evgen.preprocessing.steps import weighted_quantiles

__all__ = [
    "ROWS_PER_LEVEL",
    "ConditionalKnots",
    "side_weights",
    "n_eff",
    "fit_conditional_quantiles",
    "interpolate_knots",
    "piecewise_linear",
]

#: Fewest (effective) rows per quantile level and bin of the conditioning variable.
ROWS_PER_LEVEL = 10


@dataclass
class ConditionalKnots:
    """A fitted conditional quantile map: the bins' centres in ``h`` and both sides' knots."""

    centres: np.ndarray  # (given_bins,): weighted mean h per bin
    data: np.ndarray  # (given_bins, bins + 1): the data's v at the levels
    model: np.ndarray  # (given_bins, bins + 1): the model's v at the levels

    def forward(self, v: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``T_h⁻¹``: the data's ``v`` onto the model's, with ``log |dT⁻¹/dv|``."""
        return piecewise_linear(
            v, interpolate_knots(h, self.centres, self.data), interpolate_knots(h, self.centres, self.model)
        )

    def inverse(self, v: np.ndarray, h: np.ndarray) -> np.ndarray:
        """``T_h``: the model's ``v`` onto the data's."""
        return piecewise_linear(
            v, interpolate_knots(h, self.centres, self.model), interpolate_knots(h, self.centres, self.data)
        )[0]

    def shift(self) -> float:
        """The largest ``|T_h(v) − v|`` over the knots: how far the map moves ``v``."""
        return float(np.abs(self.data - self.model).max())


def n_eff(w: np.ndarray) -> float:
    """Kish's effective number of rows of the weights ``w``."""
    return float(w.sum() ** 2 / max(float(np.sum(w**2)), 1e-300))


def side_weights(w: np.ndarray | None, rows: int, name: str, arg: str, what: str) -> np.ndarray:
    """The weights of one side (ones when ``None``), checked: finite, non-negative, not all zero,
    one per row."""
    w = np.ones(rows) if w is None else np.asarray(w, dtype=np.float64)
    if w.shape != (rows,) or not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise InputError(
            f"{what}: {arg} must be finite, non-negative, not all zero and one per row of the {name}"
        )
    return w


def _increasing(knots: np.ndarray) -> np.ndarray:
    """Knots made strictly increasing (ties of a discrete sample), at least 1e-9 apart."""
    return np.maximum.accumulate(knots + np.arange(len(knots)) * 1e-9)


def fit_conditional_quantiles(
    data: tuple[np.ndarray, np.ndarray, np.ndarray],
    model: tuple[np.ndarray, np.ndarray, np.ndarray],
    bins: int,
    given_bins: int,
    z_max: float = 3.5,
    tail_events: float = 20.0,
    what: str = "calibration",
) -> tuple[ConditionalKnots, int, int]:
    """Fit ``T_h`` from ``(v, h, weights)`` of the data and of the model; returns the knots and
    the numbers of levels and bins of ``h`` used (fewer than asked for a small sample)."""
    (v_d, h_d, w_d), (v_m, h_m, w_m) = data, model
    total = min(n_eff(w_d), n_eff(w_m))
    if total < ROWS_PER_LEVEL * 3:
        raise InputError(
            f"{what}: only {total:.4g} (effective) rows on a side; need at least {ROWS_PER_LEVEL * 3}"
        )
    given_bins = int(max(1, min(given_bins, total // (ROWS_PER_LEVEL * (bins + 1)))))
    inner = weighted_quantiles(h_d, np.linspace(0, 1, given_bins + 1)[1:-1], w_d)
    bin_d, bin_m = np.searchsorted(inner, h_d), np.searchsorted(inner, h_m)
    smallest = min(
        n_eff(w[index == b]) for b in range(given_bins) for index, w in ((bin_d, w_d), (bin_m, w_m))
    )
    bins = int(max(2, min(bins, smallest // ROWS_PER_LEVEL - 1)))
    z = min(z_max, -float(ndtri(tail_events / max(smallest, 2 * tail_events))))
    levels = ndtr(np.linspace(-z, z, bins + 1))
    centres, data_knots, model_knots = [], [], []
    for b in range(given_bins):
        d, m = bin_d == b, bin_m == b
        centres.append(float(np.average(h_d[d], weights=w_d[d])))
        data_knots.append(_increasing(weighted_quantiles(v_d[d], levels, w_d[d])))
        model_knots.append(_increasing(weighted_quantiles(v_m[m], levels, w_m[m])))
    knots = ConditionalKnots(np.array(centres), np.array(data_knots), np.array(model_knots))
    return knots, bins, given_bins


def interpolate_knots(h: np.ndarray, centres: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Per row, the knots linearly interpolated in ``h`` between the bins' centres (the outer
    bins' knots beyond them): ``(N, K + 1)``."""
    if len(centres) == 1:
        return np.broadcast_to(knots[0], (len(h), knots.shape[1]))
    position = np.interp(h, centres, np.arange(len(centres), dtype=np.float64))
    low = np.minimum(position.astype(int), len(centres) - 2)
    frac = (position - low)[:, None]
    return (1.0 - frac) * knots[low] + frac * knots[low + 1]


def piecewise_linear(x: np.ndarray, source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row by row, the map through the knots ``source → target`` (slope 1 beyond them), and
    ``log`` of its slope."""
    k = source.shape[1] - 1
    segment = np.clip((source[:, 1:-1] <= x[:, None]).sum(axis=1), 0, k - 1)
    rows = np.arange(len(x))
    s0, s1 = source[rows, segment], source[rows, segment + 1]
    t0, t1 = target[rows, segment], target[rows, segment + 1]
    slope = (t1 - t0) / (s1 - s0)
    out = t0 + (x - s0) * slope
    below, above = x < source[:, 0], x > source[:, -1]
    out[below] = x[below] - source[below, 0] + target[below, 0]
    out[above] = x[above] - source[above, -1] + target[above, -1]
    slope[below | above] = 1.0
    return out, np.log(slope)
