r"""Histogram uncertainties of a Bayesian generator from weight draws, Eq. (17)-(22) of arXiv:2110.13632.

Draw network weights :math:`\theta_k \sim q(\theta)` (:math:`k = 1\ldots K`), generate
:math:`N` events with each, histogram them and read the bin contents :math:`n_k`. Over
the draws (Eq. 19)

.. math::
    \sigma_\mathrm{tot}^2 = \langle (n - \langle n\rangle)^2 \rangle
      = \underbrace{\int d\theta\, q(\theta)\,[\langle n^2\rangle_\theta - \langle n\rangle_\theta^2]}_{\sigma_\mathrm{stoch}^2}
      + \underbrace{\int d\theta\, q(\theta)\,[\langle n\rangle_\theta - \langle n\rangle]^2}_{\sigma_\mathrm{pred}^2} .

:math:`\sigma_\mathrm{stoch}^2` (Eq. 20) is the Poisson variance of a bin of
:math:`N` generated events, :math:`\langle n\rangle` (for weighted events the mean
:math:`\sum w^2`); it scales as :math:`N` and does not vanish for a perfectly trained
network. :math:`\sigma_\mathrm{pred}^2` (Eq. 21) is the spread of the network itself.
With one histogram per draw, :math:`\langle n\rangle_\theta` is not known, so

.. math:: \hat\sigma_\mathrm{pred}^2 = \hat\sigma_\mathrm{tot}^2 - \hat\sigma_\mathrm{stoch}^2

(sample variance over draws minus the mean Poisson variance; unbiased, clipped at
zero). For normalised shapes (:attr:`HistogramBand.fractions`) everything is divided
by the events :math:`N` of a draw; the density version of Eq. (22) divides by
the bin widths too.

Nothing here needs torch: a band is built from per-draw values (and weights), so
the same code serves the BINN, a deep ensemble or a bootstrap of the training set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from evgen.errors import ConfigError, InputError

__all__ = [
    "HistogramBand",
    "band_from_counts",
    "band_from_draws",
    "predictive_band",
    "DrawSampler",
]

#: ``sampler(k) -> values`` or ``(values, weights)``: the observable of the events generated with draw ``k``.
DrawSampler = Callable[[int], "np.ndarray | tuple[np.ndarray, np.ndarray | None]"]


@dataclass(frozen=True)
class HistogramBand:
    r"""Per-bin prediction and uncertainties of a histogram from :math:`K` draws (Eq. 17-21).

    All count arrays have one entry per bin. Flow bins are not included.

    Attributes
    ----------
    edges:
        Bin edges, shape ``(bins + 1,)``.
    counts:
        Weighted bin contents of every draw, shape ``(K, bins)``.
    sumw2:
        Per-draw :math:`\sum w^2` per bin (equal to ``counts`` for unit weights).
    totals:
        Sum of weights of every draw's events, in and out of range, shape ``(K,)``.
    totals_sumw2:
        Sum of squared weights of every draw's events, in and out of range, shape ``(K,)``.
    """

    edges: np.ndarray
    counts: np.ndarray
    sumw2: np.ndarray
    totals: np.ndarray
    totals_sumw2: np.ndarray

    @property
    def n_draws(self) -> int:
        return int(self.counts.shape[0])

    @property
    def widths(self) -> np.ndarray:
        return np.diff(self.edges)

    @property
    def centers(self) -> np.ndarray:
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    # -- counts (Eq. 18-21) --------------------------------------------------------
    @property
    def mean(self) -> np.ndarray:
        r""":math:`\langle n\rangle` per bin, Eq. (18)."""
        return self.counts.mean(axis=0)

    @property
    def sigma_tot(self) -> np.ndarray:
        r""":math:`\sigma_\mathrm{tot}` per bin: the spread of :math:`n` over draws, Eq. (19)."""
        return np.sqrt(self._var(self.counts))

    @property
    def sigma_stoch(self) -> np.ndarray:
        r""":math:`\sigma_\mathrm{stoch} = \sqrt{\langle n\rangle}` (mean :math:`\sum w^2`), Eq. (20)."""
        return np.sqrt(self.sumw2.mean(axis=0))

    @property
    def sigma_pred(self) -> np.ndarray:
        r""":math:`\sigma_\mathrm{pred}` per bin, Eq. (21): :math:`\sqrt{\max(\sigma_\mathrm{tot}^2 - \sigma_\mathrm{stoch}^2, 0)}`."""
        return np.sqrt(np.maximum(self._var(self.counts) - self.sumw2.mean(axis=0), 0.0))

    # -- normalised shapes --------------------------------------------------------------
    @property
    def fractions(self) -> np.ndarray:
        """Per-draw bin fractions ``counts / totals``, shape ``(K, bins)``."""
        return self.counts / self.totals[:, None]

    @property
    def mean_fraction(self) -> np.ndarray:
        """Mean bin fraction over draws (the normalised Eq. 18)."""
        return self.fractions.mean(axis=0)

    @property
    def fraction_sigma_tot(self) -> np.ndarray:
        """Spread of the bin fractions over draws."""
        return np.sqrt(self._var(self.fractions))

    def _fraction_stoch_var(self) -> np.ndarray:
        # delta method for f = A / (A + B): [(1 - f)^2 S2_A + f^2 S2_B] / W^2 (binomial f(1-f)/N for unit weights)
        f = self.fractions
        s2_in = self.sumw2
        s2_out = np.maximum(self.totals_sumw2[:, None] - s2_in, 0.0)
        return (((1 - f) ** 2 * s2_in + f**2 * s2_out) / self.totals[:, None] ** 2).mean(axis=0)

    @property
    def fraction_sigma_stoch(self) -> np.ndarray:
        r"""Stochastic (binomial) error of a bin fraction of one draw, averaged in quadrature over draws.

        :math:`[(1-f)^2 \sum_\mathrm{bin} w^2 + f^2 \sum_\mathrm{rest} w^2]^{1/2}/W`, i.e.
        :math:`\sqrt{f(1-f)/N}` for :math:`N` unit-weight events: a fraction's normalisation
        removes part of the Poisson noise of Eq. (20).
        """
        return np.sqrt(self._fraction_stoch_var())

    @property
    def fraction_sigma_pred(self) -> np.ndarray:
        r""":math:`\sigma_\mathrm{pred}` of a bin fraction (Eq. 21 for the normalised shape)."""
        var = self._var(self.fractions) - self._fraction_stoch_var()
        return np.sqrt(np.maximum(var, 0.0))

    @property
    def density(self) -> np.ndarray:
        r"""Mean density :math:`p(x)` per bin, Eq. (22): mean fraction over bin width."""
        return self.mean_fraction / self.widths

    @property
    def density_sigma_pred(self) -> np.ndarray:
        r""":math:`\sigma_\mathrm{pred}(x)` of the density, Eq. (22)."""
        return self.fraction_sigma_pred / self.widths

    @property
    def relative_sigma_pred(self) -> np.ndarray:
        """:math:`\\sigma_\\mathrm{pred}/\\langle n\\rangle` per bin (NaN for empty bins), as in Fig. 12."""
        mean = self.mean_fraction
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(mean > 0, self.fraction_sigma_pred / mean, np.nan)

    def quantile_band(self, level: float = 0.683) -> tuple[np.ndarray, np.ndarray]:
        """Central ``level`` interval of the per-draw fractions (a non-Gaussian band)."""
        if not 0 < level < 1:
            raise ConfigError(f"level = {level!r}: must lie in (0, 1)")
        lo, hi = np.quantile(self.fractions, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return lo, hi

    def _var(self, values: np.ndarray) -> np.ndarray:
        if self.n_draws < 2:
            return np.full(values.shape[1], np.nan)
        return values.var(axis=0, ddof=1)

    def to_dict(self) -> dict[str, object]:
        """Per-bin summary for reports (counts and normalised densities)."""
        return {
            "edges": self.edges,
            "n_draws": self.n_draws,
            "mean": self.mean,
            "sigma_tot": self.sigma_tot,
            "sigma_stoch": self.sigma_stoch,
            "sigma_pred": self.sigma_pred,
            "density": self.density,
            "density_sigma_pred": self.density_sigma_pred,
        }


def band_from_counts(
    edges: np.ndarray,
    counts: np.ndarray,
    sumw2: np.ndarray | None = None,
    totals: np.ndarray | None = None,
    totals_sumw2: np.ndarray | None = None,
) -> HistogramBand:
    """A :class:`HistogramBand` from per-draw bin contents of shape ``(K, bins)``.

    ``sumw2`` defaults to ``counts`` (unit weights), ``totals`` to the row sums,
    ``totals_sumw2`` to ``totals`` for unit weights (else the row sums of ``sumw2``).
    """
    edges = np.asarray(edges, dtype=np.float64)
    counts = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    if edges.ndim != 1 or counts.shape[1] != len(edges) - 1:
        raise InputError(f"counts of shape {counts.shape} do not match {len(edges) - 1} bins")
    sumw2 = counts.copy() if sumw2 is None else np.atleast_2d(np.asarray(sumw2, dtype=np.float64))
    totals = counts.sum(axis=1) if totals is None else np.asarray(totals, dtype=np.float64).reshape(-1)
    if sumw2.shape != counts.shape or totals.shape != (counts.shape[0],):
        raise InputError("sumw2 must match counts, and totals have one entry per draw")
    if np.any(totals <= 0):
        raise InputError("every draw needs a positive sum of weights")
    if totals_sumw2 is None:
        unit = np.array_equal(sumw2, counts)
        totals_sumw2 = totals.copy() if unit else sumw2.sum(axis=1)
    totals_sumw2 = np.asarray(totals_sumw2, dtype=np.float64).reshape(-1)
    if totals_sumw2.shape != totals.shape:
        raise InputError("totals_sumw2 needs one entry per draw")
    return HistogramBand(edges, counts, sumw2, totals, totals_sumw2)


def band_from_draws(
    values: Sequence[np.ndarray],
    edges: np.ndarray,
    weights: Sequence[np.ndarray | None] | None = None,
) -> HistogramBand:
    """Histogram the observable of each draw's events and build the band (Eq. 19-21).

    Parameters
    ----------
    values:
        One array of observable values per draw :math:`\\theta_k`.
    edges:
        Bin edges; events outside count in ``totals`` only.
    weights:
        Per-draw event weights (``None`` entries for unit weights).
    """
    if len(values) == 0:
        raise InputError("no draws: values is empty")
    weights = [None] * len(values) if weights is None else list(weights)
    if len(weights) != len(values):
        raise InputError(f"{len(weights)} weight arrays for {len(values)} draws")
    edges = np.asarray(edges, dtype=np.float64)
    rows, rows2, totals, totals2 = [], [], [], []
    for v, w in zip(values, weights, strict=True):
        v = np.asarray(v, dtype=np.float64).reshape(-1)
        w = np.ones_like(v) if w is None else np.asarray(w, dtype=np.float64).reshape(-1)
        if w.shape != v.shape:
            raise InputError(f"{len(w)} weights for {len(v)} values")
        rows.append(np.histogram(v, edges, weights=w)[0])
        rows2.append(np.histogram(v, edges, weights=w * w)[0])
        totals.append(w.sum())
        totals2.append(np.sum(w * w))
    return band_from_counts(edges, np.array(rows), np.array(rows2), np.array(totals), np.array(totals2))


def predictive_band(
    sampler: DrawSampler,
    n_draws: int,
    edges: np.ndarray,
    *,
    progress: bool = False,
) -> HistogramBand:
    r"""Run ``sampler(k)`` for ``k = 0 .. n_draws - 1`` and build the band.

    ``sampler(k)`` generates events with the weight draw :math:`\theta_k` (e.g. a BINN
    with :func:`evgen.nn.bayesian.fix_weights`, or ensemble member ``k``) and returns
    their observable values, or ``(values, weights)``.
    """
    if n_draws < 2:
        raise ConfigError(f"n_draws = {n_draws}: need at least 2 draws to estimate a spread")
    from tqdm.auto import tqdm

    values, weights = [], []
    for k in tqdm(range(n_draws), desc="theta draws", unit="draw", disable=not progress):
        out = sampler(k)
        if isinstance(out, tuple):
            v, w = out
        else:
            v, w = out, None
        values.append(v)
        weights.append(w)
    return band_from_draws(values, edges, weights)
