"""Quantile statistics against an exact truth: cell fractions and the quantile MSE.

Section 2 of *GANplifying event samples* (arXiv:2008.06545): split the space of a
toy into cells of equal true probability ("quantiles"), count the (weighted)
fraction :math:`x_j` of a sample in each of the :math:`N` cells and compare with
:math:`1/N` through the quantile MSE of Eq. 2,

.. math:: \\mathrm{MSE} = \\frac1N \\sum_{j=1}^{N} \\Big(x_j - \\frac1N\\Big)^2 .

Cells are built in the toy's truth coordinates (e.g. polar :math:`(r,\\varphi)` for
the ring), where the truth factorises: the marginal CDF values of a true sample are
independent uniforms, so an equal-probability cell is a hyper-rectangle in that unit
cube. For :math:`n` events sampled from the truth, the counts are multinomial with
:math:`p = 1/N` and

.. math:: E[\\mathrm{MSE}] = \\frac{1}{N}\\Big(1-\\frac1N\\Big)\\frac1n,

:func:`expected_quantile_mse`; Pearson's :math:`\\chi^2 = n N^2\\,\\mathrm{MSE}`
follows a :math:`\\chi^2_{N-1}` distribution, so a true sample's MSE scatters by a
relative :math:`\\sqrt{2/(N-1)}`.

Only NumPy is used here; the toy supplies the truth (:class:`evgen.interfaces.ToyDataset`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from evgen.errors import ConfigError, InputError

if TYPE_CHECKING:
    from evgen.interfaces import ToyDataset

__all__ = [
    "quantile_fractions",
    "quantile_mse",
    "quantile_mse_with_error",
    "expected_quantile_mse",
    "expected_quantile_mse_spread",
    "kish_sample_size",
    "truth_quantile_edges",
]


def _cells(
    toy: ToyDataset, points: np.ndarray, n_per_axis: Sequence[int], axes: Sequence[int] | None
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Flat cell index of each point, and the cell grid shape."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 1 and toy.dim == 1:
        points = points[:, None]
    if points.ndim != 2 or points.shape[1] != toy.dim:
        raise InputError(f"toy {toy.name!r} has dimension {toy.dim}; got points of shape {points.shape}")
    u = np.asarray(toy.truth_cdf(toy.to_truth_coordinates(points)), dtype=np.float64)
    k = u.shape[1]
    axes = tuple(range(k)) if axes is None else tuple(int(a) for a in axes)
    shape = tuple(int(n) for n in n_per_axis)
    if len(shape) != len(axes):
        raise ConfigError(
            f"n_per_axis {tuple(n_per_axis)} and axes {axes} must have the same length "
            f"(one number of quantiles per truth axis used)"
        )
    if any(n < 1 for n in shape):
        raise ConfigError(f"n_per_axis must be positive integers; got {shape}")
    bad = [a for a in axes if not 0 <= a < k]
    if bad or len(set(axes)) != len(axes):
        raise ConfigError(f"axes {axes} must be distinct truth axes of toy {toy.name!r} in 0..{k - 1}")
    if not shape:
        raise ConfigError("need at least one truth axis to build quantile cells")
    index = [np.clip((u[:, a] * n).astype(np.int64), 0, n - 1) for a, n in zip(axes, shape, strict=True)]
    return np.ravel_multi_index(index, shape), shape


def quantile_fractions(
    toy: ToyDataset,
    points: np.ndarray,
    n_per_axis: Sequence[int],
    axes: Sequence[int] | None = None,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """(Weighted) fraction of ``points`` in each equal-truth-probability cell.

    Parameters
    ----------
    toy
        The toy whose exact truth defines the cells.
    points
        Points of shape ``(n, toy.dim)`` (``(n,)`` for 1D toys).
    n_per_axis
        Number of equal-probability intervals along each truth axis used,
        e.g. ``(7, 7)`` for the ring's 49 2D quantiles, ``(10,)`` with ``axes=(0,)``
        for ten quantiles in :math:`r`, ``(3,) * 5`` for the 5D shell.
    axes
        Truth-coordinate axes the cells are built on (default: all, in order);
        the other axes are integrated over.
    weights
        Per-point weights (default: ones); may be negative, must not sum to zero.

    Returns
    -------
    numpy.ndarray
        Fractions of shape ``tuple(n_per_axis)``, summing to one.
    """
    flat, shape = _cells(toy, points, n_per_axis, axes)
    n_cells = math.prod(shape)
    w = _weights(weights, len(flat))
    total = w.sum()
    if not np.isfinite(total) or total == 0:
        raise InputError(f"the weights of the {len(flat)} points sum to {total}; expected a non-zero sum")
    counts = np.bincount(flat, weights=w, minlength=n_cells)
    return (counts / total).reshape(shape)


def quantile_mse(fractions: np.ndarray) -> float:
    """Quantile MSE, Eq. 2 of arXiv:2008.06545: :math:`\\frac1N\\sum_j (x_j - 1/N)^2`.

    ``fractions`` holds the :math:`N` cell fractions in any shape (all elements are cells).
    """
    x = np.asarray(fractions, dtype=np.float64).ravel()
    if x.size == 0:
        raise InputError("no quantile cells: fractions is empty")
    return float(np.mean((x - 1.0 / x.size) ** 2))


def quantile_mse_with_error(
    toy: ToyDataset,
    points: np.ndarray,
    n_per_axis: Sequence[int],
    axes: Sequence[int] | None = None,
    weights: np.ndarray | None = None,
) -> tuple[float, float]:
    """Quantile MSE of a (weighted) sample and its statistical uncertainty.

    The uncertainty treats each cell fraction :math:`x_j = W_j / W` as having the
    variance :math:`v_j = \\sum_{i \\in j} w_i^2 / W^2` and a bias :math:`b_j` from
    :math:`1/N`, and propagates to second order,

    .. math:: \\sigma^2_{\\mathrm{MSE}} \\approx \\frac{1}{N^2}\\Big[4\\sum_j b_j^2 v_j
              + 2\\sum_j v_j^2\\Big],

    with :math:`\\sum_j b_j^2 v_j` estimated without bias by
    :math:`\\max\\big(\\sum_j (d_j^2 - v_j)\\,v_j, 0\\big)`, :math:`d_j = x_j - 1/N`.
    For a true sample this gives about :math:`E[\\mathrm{MSE}]\\sqrt{2/N}`, close to the
    exact :math:`\\chi^2_{N-1}` spread.

    Returns
    -------
    (mse, error)
    """
    flat, shape = _cells(toy, points, n_per_axis, axes)
    n_cells = math.prod(shape)
    w = _weights(weights, len(flat))
    total = w.sum()
    if not np.isfinite(total) or total == 0:
        raise InputError(f"the weights of the {len(flat)} points sum to {total}; expected a non-zero sum")
    x = np.bincount(flat, weights=w, minlength=n_cells) / total
    v = np.bincount(flat, weights=w * w, minlength=n_cells) / total**2
    d2 = (x - 1.0 / n_cells) ** 2
    bias_term = max(float(np.sum((d2 - v) * v)), 0.0)  # unbiased estimate of sum_j b_j^2 v_j
    var = (4.0 * bias_term + 2.0 * float(np.sum(v * v))) / n_cells**2
    return float(np.mean(d2)), float(np.sqrt(var))


def expected_quantile_mse(n_events: float | np.ndarray, n_cells: int) -> float | np.ndarray:
    """Expected quantile MSE of ``n_events`` truly sampled events in ``n_cells`` cells.

    Multinomial counts with :math:`p = 1/N`: :math:`E[\\mathrm{MSE}] = \\frac1N(1-\\frac1N)/n`.
    """
    n_cells = _n_cells(n_cells)
    n = np.asarray(n_events, dtype=np.float64)
    if np.any(n <= 0):
        raise ConfigError(f"the number of events must be positive; got {n_events}")
    out = (1.0 / n_cells) * (1.0 - 1.0 / n_cells) / n
    return float(out) if out.ndim == 0 else out


def expected_quantile_mse_spread(n_events: float | np.ndarray, n_cells: int) -> float | np.ndarray:
    """Standard deviation of a true sample's quantile MSE: :math:`E[\\mathrm{MSE}]\\sqrt{2/(N-1)}`.

    From Pearson's :math:`\\chi^2 = nN^2\\,\\mathrm{MSE} \\sim \\chi^2_{N-1}` (large-count limit).
    """
    n_cells = _n_cells(n_cells)
    if n_cells < 2:
        raise ConfigError("a single cell has no spread: need n_cells >= 2")
    return expected_quantile_mse(n_events, n_cells) * math.sqrt(2.0 / (n_cells - 1))


def kish_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size :math:`(\\sum w)^2 / \\sum w^2` of weighted events."""
    w = np.asarray(weights, dtype=np.float64)
    sum_w2 = float(np.sum(w * w))
    if sum_w2 == 0:
        raise InputError("all weights are zero: no effective events")
    return float(np.sum(w)) ** 2 / sum_w2


def truth_quantile_edges(toy: ToyDataset, n_quantiles: int, axis: int = 0) -> np.ndarray:
    """Boundaries of ``n_quantiles`` equal-probability intervals of one truth coordinate.

    Inverts the toy's marginal truth CDF by vectorised bisection; returns
    ``n_quantiles + 1`` edges, the outer ones possibly infinite.
    """
    if n_quantiles < 1:
        raise ConfigError(f"n_quantiles must be positive; got {n_quantiles}")
    coords = toy.to_truth_coordinates(toy.sample(10_000, np.random.default_rng(0)))
    k = coords.shape[1]
    if not 0 <= axis < k:
        raise ConfigError(f"axis {axis} is not a truth axis of toy {toy.name!r} (0..{k - 1})")
    targets = np.arange(1, n_quantiles) / n_quantiles
    base = coords[0]

    def cdf(values: np.ndarray) -> np.ndarray:
        probe = np.repeat(base[None, :], len(values), axis=0)
        probe[:, axis] = values
        return toy.truth_cdf(probe)[:, axis]

    # start from the range of a large true sample (angles stay inside their domain),
    # widening by that range only where a target lies outside
    lo = np.full(len(targets), coords[:, axis].min())
    hi = np.full(len(targets), coords[:, axis].max())
    width = max(hi[0] - lo[0], 1.0) if len(targets) else 1.0
    for _ in range(60):
        below, above = cdf(lo) > targets, cdf(hi) < targets
        if not (below.any() or above.any()):
            break
        lo = np.where(below, lo - width, lo)
        hi = np.where(above, hi + width, hi)
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        left = cdf(mid) < targets
        lo, hi = np.where(left, mid, lo), np.where(left, hi, mid)
    inner = 0.5 * (lo + hi)
    return np.concatenate([[-np.inf], inner, [np.inf]])


def _n_cells(n_cells: int) -> int:
    n = int(n_cells)
    if n < 1 or n != n_cells:
        raise ConfigError(f"n_cells must be a positive integer; got {n_cells}")
    return n


def _weights(weights: np.ndarray | None, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise InputError(f"weights have shape {w.shape}, expected ({n},)")
    return w
