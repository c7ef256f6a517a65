r"""How many truth events a histogram is worth: measured from its distance to an independent truth, and predicted.

A histogram of an observable with bin probabilities :math:`p_j`, filled from :math:`n`
truly sampled events, has fractions :math:`f_j` with
:math:`E[\sum_j (f_j - p_j)^2] = \sum_j p_j(1 - p_j)/n` (the multinomial variance, exactly).
A generated histogram :math:`\gamma_j` deviates from :math:`p_j` by the generator's error
:math:`b_j` (its bias and the fluctuation of its training sample) plus its own sampling
noise. Its **equivalent number of truth events** is the size of a truth sample with the
same expected distance,

.. math:: n_\mathrm{eq} = \frac{\sum_j p_j(1 - p_j)}{\sum_j b_j^2},

the quantile-MSE reading of *GANplifying event samples* (arXiv:2008.06545, Eq. 2) on the
observable's own bins. (Weighting the bins by :math:`1/p_j`, as a χ² does, would put noisy
estimates of :math:`p_j` in the denominators and bias the estimate by :math:`O(1/(n p_j))`
in sparse tail bins; the plain sum has no such bias.)

*Measured* (:func:`measured_equivalent_events`): against an independent truth histogram
:math:`\tau_j`,

.. math:: \widehat{\sum_j b_j^2} = \sum_j \left[(\gamma_j - \tau_j)^2
          - \mathrm{Var}\,\tau_j - \mathrm{Var}\,\gamma_j\right],

the truth file's own statistics and the generated sample's subtracted (both from the sums of
weights and squared weights, :func:`fraction_variances`); :math:`p_j` in the numerator is
the pooled shape of both histograms (as in ``evgen validate``). For truth itself (a second
independent sample of :math:`n` events) it measures :math:`n_\mathrm{eq} = n` on average.
The excess carries the Gaussian error
:math:`\mathrm{Var} = \sum_j (2 s_j^4 + 4 \hat b_j^2 s_j^2)`, :math:`s_j^2` the two
subtracted variances, so :math:`n_\mathrm{eq}` comes with a 68 % interval and a one-sided
95 % lower limit; an excess consistent with zero means the truth file cannot tell the
generated histogram from an infinitely large truth sample (the upper end is infinite).

*Predicted* (:func:`predicted_equivalent_events`): from the generator alone, its
uncertainty :math:`\sigma_j` per bin (a bootstrap ensemble's spread, a Bayesian network's
weight draws), :math:`n_\mathrm{pred} = \sum_j p_j(1-p_j)/\sum_j \sigma_j^2`.

Amplification is :math:`n_\mathrm{eq}/n_\mathrm{train}` (*GANplifying event samples*,
arXiv:2008.06545), with :math:`n_\mathrm{train}` the training events of the histogram's own
selection. Matchev, Roman, Shyamsundar (arXiv:2002.06307, Sec. 6) ask that it be predicted,
validated and demonstrated: :mod:`evgen.studies.zjets_amplification` does all three.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from evgen.errors import InputError

__all__ = [
    "EquivalentEvents",
    "fraction_variances",
    "pooled_shape",
    "measured_equivalent_events",
    "predicted_equivalent_events",
]

#: One-sided 95 % quantile of the standard normal (the lower limit on n_eq).
Z95_ONE_SIDED = 1.6448536269514722


@dataclass(frozen=True)
class EquivalentEvents:
    """A measured equivalent number of truth events (module docstring).

    ``excess`` is the estimated :math:`\\sum_j b_j^2` with its error; ``value`` is
    :math:`\\sum_j p_j(1-p_j)/\\mathrm{excess}` (``inf`` where the excess is not positive), ``low``/``high``
    the 68 % interval from ``excess ± error`` and ``lower_limit`` the one-sided 95 % limit.
    """

    value: float
    low: float
    high: float
    lower_limit: float
    excess: float
    excess_error: float
    bins: int
    #: :math:`\sum_j p_j(1 - p_j)`: the distance of a one-event truth sample.
    scale: float = 1.0

    @property
    def resolved(self) -> bool:
        """Whether the excess is above zero by two standard errors (the truth resolves the bias)."""
        return self.excess > 2 * self.excess_error

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "lower_limit": self.lower_limit,
            "excess": self.excess,
            "excess_error": self.excess_error,
            "bins": self.bins,
            "scale": self.scale,
            "resolved": self.resolved,
        }


def _checked(values: Any, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or not np.all(np.isfinite(x)) or np.any(x < 0):
        raise InputError(f"{name} must be a 1-d array of finite, non-negative bin contents")
    return x


def fraction_variances(values: np.ndarray, variances: np.ndarray) -> np.ndarray:
    r"""Variance of each bin's fraction :math:`w_j/W` of a weighted histogram (the ratio estimator).

    :math:`(v_j (1 - 2\gamma_j) + \gamma_j^2 V)/W^2` with :math:`v_j` the bin's sum of squared
    weights, :math:`V` their total and :math:`\gamma_j = w_j/W`; for unit weights
    :math:`\gamma_j(1-\gamma_j)/n`.
    """
    from evgen.statistics.uncertainty import band_from_counts

    w, v = _checked(values, "values"), _checked(variances, "variances")
    if w.shape != v.shape:
        raise InputError(f"values and variances differ in shape: {w.shape} vs {v.shape}")
    if w.sum() <= 0:
        raise InputError("a histogram with no entries has no fractions")
    # one draw of a band: its stochastic fraction error is this ratio estimator
    return band_from_counts(np.arange(len(w) + 1.0), w, v).fraction_sigma_stoch ** 2


def pooled_shape(
    truth: np.ndarray, truth_variances: np.ndarray, generated: np.ndarray, generated_variances: np.ndarray
) -> np.ndarray:
    """The effective-count weighted mean of both normalised shapes (``evgen validate``'s :math:`\\hat p`)."""
    t, g = _checked(truth, "truth"), _checked(generated, "generated")
    n_t = t.sum() ** 2 / max(float(np.sum(truth_variances)), 1e-300)
    n_g = g.sum() ** 2 / max(float(np.sum(generated_variances)), 1e-300)
    return (n_t * t / t.sum() + n_g * g / g.sum()) / (n_t + n_g)


def _n_eq(scale: float, excess: float) -> float:
    return scale / excess if excess > 0 else math.inf


def measured_equivalent_events(
    truth: np.ndarray,
    generated: np.ndarray,
    *,
    truth_variances: np.ndarray | None = None,
    generated_variances: np.ndarray | None = None,
    generated_fraction_variances: np.ndarray | None = None,
) -> EquivalentEvents:
    """Equivalent truth events of ``generated`` from its distance to the independent ``truth``.

    Parameters
    ----------
    truth, generated
        Bin contents (sums of weights) of the same binning.
    truth_variances, generated_variances
        Sums of squared weights per bin (the contents themselves for unit weights).
    generated_fraction_variances
        The generated fractions' sampling variance, where it is not that of independent
        weighted events (e.g. a mean over ensemble members); default from the weights.
    """
    t, g = _checked(truth, "truth"), _checked(generated, "generated")
    if t.shape != g.shape:
        raise InputError(f"truth and generated histograms differ in shape: {t.shape} vs {g.shape}")
    tv = t if truth_variances is None else _checked(truth_variances, "truth_variances")
    gv = g if generated_variances is None else _checked(generated_variances, "generated_variances")
    if t.sum() <= 0 or g.sum() <= 0:
        raise InputError("both histograms need entries")
    var_t = fraction_variances(t, tv)
    var_g = (
        fraction_variances(g, gv)
        if generated_fraction_variances is None
        else _checked(generated_fraction_variances, "generated_fraction_variances")
    )
    p = pooled_shape(t, tv, g, gv)
    used = p > 0
    bins = int(used.sum())
    if bins < 2:
        raise InputError(f"need at least 2 filled bins; got {bins}")
    x = (g / g.sum() - t / t.sum())[used]
    s2 = (var_t + var_g)[used]
    scale = float(np.sum(p * (1 - p)))
    excess = float(np.sum(x * x - s2))
    b2 = np.maximum(x * x - s2, 0.0)
    error = float(np.sqrt(np.sum(2 * s2 * s2 + 4 * b2 * s2)))
    return EquivalentEvents(
        value=_n_eq(scale, excess),
        low=_n_eq(scale, excess + error),
        high=_n_eq(scale, excess - error),
        lower_limit=_n_eq(scale, max(excess, 0.0) + Z95_ONE_SIDED * error),
        excess=excess,
        excess_error=error,
        bins=bins,
        scale=scale,
    )


def predicted_equivalent_events(shape: np.ndarray, sigma: np.ndarray) -> float:
    """:math:`\\sum_j p_j(1-p_j)/\\sum_j \\sigma_j^2`: the truth events whose errors match the predicted ``sigma``.

    ``shape`` are the bin probabilities (fractions summing to one), ``sigma`` the predicted
    uncertainty of each generated fraction.
    """
    p, s = _checked(shape, "shape"), _checked(sigma, "sigma")
    if p.shape != s.shape:
        raise InputError(f"shape and sigma differ in shape: {p.shape} vs {s.shape}")
    total = float(np.sum(s**2))
    return float(np.sum(p * (1 - p))) / total if total > 0 else math.inf
