"""Amplification: how many truly sampled events a generated sample is worth.

*GANplifying event samples* (arXiv:2008.06545, Sec. 2) measures a generator trained
on :math:`n_\\mathrm{train}` events by the quantile MSE (Eq. 2, :mod:`evgen.statistics.quantiles`)
of ever larger generated samples. The MSE saturates at :math:`\\mathrm{MSE}_\\infty`;
the *equivalent sample size* is the number of truly sampled events with that same
expected MSE, and the *amplification factor* is its ratio to :math:`n_\\mathrm{train}`.

Saturation model
----------------
For :math:`n` events drawn from a fixed model with cell probabilities :math:`q_j`,

.. math:: E[\\mathrm{MSE}(n)] = \\underbrace{\\frac1N\\sum_j (q_j - \\tfrac1N)^2}_{\\mathrm{MSE}_\\infty}
          + \\frac1n\\,\\underbrace{\\frac1N\\sum_j q_j(1-q_j)}_{c},

exactly, so :func:`saturation_fit` fits :math:`\\mathrm{MSE}(n) = \\mathrm{MSE}_\\infty + c/n`
(:math:`c \\approx (1-1/N)/N` for a model close to the truth). Matchev et al.
(arXiv:2002.06307) warn that this needs the exact truth: without a predicted and
validated uncertainty for the generator, the amplification cannot be used in an
analysis (``docs/amplification.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.interfaces import Measurement
from evgen.statistics.quantiles import expected_quantile_mse

__all__ = [
    "equivalent_sample_size",
    "SaturationFit",
    "saturation_fit",
    "asymptotic_mse",
    "amplification_factor",
    "equivalent_events",
    "amplification_summary",
]


def equivalent_sample_size(mse: float | np.ndarray, n_cells: int) -> float | np.ndarray:
    """Number of truly sampled events whose expected quantile MSE equals ``mse``.

    Inverts :func:`evgen.statistics.quantiles.expected_quantile_mse`:
    :math:`n_\\mathrm{eq} = \\frac1N(1-\\frac1N)/\\mathrm{MSE}` (infinite for MSE = 0).
    """
    m = np.asarray(mse, dtype=np.float64)
    if np.any(m < 0) or np.any(~np.isfinite(m)):
        raise InputError(f"a quantile MSE must be finite and non-negative; got {mse}")
    with np.errstate(divide="ignore"):
        out = expected_quantile_mse(1.0, n_cells) / m
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True)
class SaturationFit:
    """Fit of :math:`\\mathrm{MSE}(n) = \\mathrm{MSE}_\\infty + c/n` (module docstring)."""

    mse_inf: float
    c: float
    #: 2x2 covariance of ``(mse_inf, c)``.
    covariance: np.ndarray
    #: :math:`\\chi^2` per degree of freedom of the fit (in units of the given or estimated errors).
    chi2_ndf: float

    @property
    def asymptote(self) -> Measurement:
        """:math:`\\mathrm{MSE}_\\infty` with its error."""
        return Measurement(self.mse_inf, math.sqrt(max(self.covariance[0, 0], 0.0)))

    def __call__(self, n: float | np.ndarray) -> float | np.ndarray:
        """Model MSE at ``n`` generated events."""
        return self.mse_inf + self.c / np.asarray(n, dtype=np.float64)


def saturation_fit(
    n_generated: np.ndarray,
    mse: np.ndarray,
    errors: np.ndarray | None = None,
    n_cells: int | None = None,
) -> SaturationFit:
    """Least-squares fit of the saturation curve :math:`\\mathrm{MSE}(n) = \\mathrm{MSE}_\\infty + c/n`.

    Parameters
    ----------
    n_generated
        Numbers of generated events at which the MSE was measured (at least 2, positive).
    mse
        Quantile MSE measured at each ``n_generated``.
    errors
        Absolute one-sigma errors of ``mse``.
    n_cells
        Number of quantile cells :math:`N`. When given (and ``errors`` is not), each
        point gets the sampling error of a fixed model's MSE (iteratively reweighted),

        .. math:: \\sigma^2(n) = \\frac{4p(1-p)\\,\\mathrm{MSE}_\\infty}{N n}
                  + \\frac{2p^2(1-p)^2}{N n^2}, \\qquad p = 1/N,

        the second-order propagation of multinomial cell fractions; the fit error is
        then absolute. When neither is given the errors are taken proportional to the
        model value and scaled so that :math:`\\chi^2/\\mathrm{ndf} = 1` (conservative).

    Notes
    -----
    The model is linear in its parameters; it is solved by weighted least squares with
    :math:`\\mathrm{MSE}_\\infty \\ge 0` enforced (:func:`scipy.optimize.lsq_linear`).
    """
    from scipy.optimize import lsq_linear

    n = np.asarray(n_generated, dtype=np.float64).ravel()
    y = np.asarray(mse, dtype=np.float64).ravel()
    if n.shape != y.shape:
        raise InputError(f"n_generated has {n.size} entries but mse has {y.size}")
    if n.size < 2:
        raise InputError(f"a saturation fit needs at least 2 points; got {n.size}")
    if np.any(n <= 0) or not np.all(np.isfinite(y)):
        raise InputError("n_generated must be positive and mse finite")
    design = np.column_stack([np.ones_like(n), 1.0 / n])

    def solve(sigma: np.ndarray) -> np.ndarray:
        a = design / sigma[:, None]
        return lsq_linear(a, y / sigma, bounds=([0.0, -np.inf], [np.inf, np.inf])).x

    if errors is not None:
        sigma = np.asarray(errors, dtype=np.float64).ravel()
        if sigma.shape != y.shape or np.any(sigma <= 0):
            raise InputError("errors must be positive, one per mse value")
        params = solve(sigma)
    elif n_cells is not None:
        p = 1.0 / int(n_cells)
        params = solve(np.maximum(np.abs(y), 1e-300))
        for _ in range(5):
            var = 4.0 * p * (1.0 - p) * params[0] / (n_cells * n) + 2.0 * (p * (1.0 - p)) ** 2 / (
                n_cells * n * n
            )
            sigma = np.sqrt(var)
            params = solve(sigma)
    else:
        sigma = np.maximum(np.abs(y), np.max(np.abs(y)) * 1e-12 + 1e-300)
        for _ in range(5):
            params = solve(sigma)
            model = design @ params
            sigma = np.maximum(model, np.max(np.abs(y)) * 1e-6 + 1e-300)
    a = design / sigma[:, None]
    resid = (y - design @ params) / sigma
    ndf = n.size - 2
    chi2_ndf = float(resid @ resid / ndf) if ndf > 0 else math.nan
    cov = np.linalg.pinv(a.T @ a)
    if errors is None and n_cells is None:
        cov = cov * (chi2_ndf if ndf > 0 else math.nan)
    return SaturationFit(float(params[0]), float(params[1]), cov, chi2_ndf)


def asymptotic_mse(
    n_generated: np.ndarray,
    mse: np.ndarray,
    errors: np.ndarray | None = None,
    n_cells: int | None = None,
) -> Measurement:
    """Saturated quantile MSE :math:`\\mathrm{MSE}_\\infty` with its fit error.

    Fits :math:`\\mathrm{MSE}(n) = \\mathrm{MSE}_\\infty + c/n` (:func:`saturation_fit`) to
    the MSE of one generator measured at several numbers of generated events; pass
    ``n_cells`` for calibrated errors.
    """
    return saturation_fit(n_generated, mse, errors, n_cells).asymptote


def _mse_array(mse_per_training: np.ndarray) -> np.ndarray:
    m = np.asarray(mse_per_training, dtype=np.float64).ravel()
    if m.size == 0:
        raise InputError("no trainings: mse_per_training is empty")
    if np.any(m <= 0) or not np.all(np.isfinite(m)):
        raise InputError(f"asymptotic MSEs must be positive and finite; got {m}")
    return m


def equivalent_events(
    mse_per_training: np.ndarray, n_cells: int, average: Literal["mse", "ratio"] = "mse"
) -> Measurement:
    """Equivalent number of truly sampled events, averaged over independent trainings.

    Parameters
    ----------
    mse_per_training
        Asymptotic quantile MSE of each independent training (or fit).
    n_cells
        Number of quantile cells :math:`N`.
    average
        ``"mse"`` (default, the paper's reading of its Fig. 2): the equivalent size of
        the mean MSE over trainings, :math:`n_\\mathrm{eq}(\\overline{\\mathrm{MSE}})`; its
        ``error`` is the spread over trainings propagated linearly,
        :math:`n_\\mathrm{eq}\\,\\mathrm{std}(\\mathrm{MSE})/\\overline{\\mathrm{MSE}}`.
        ``"ratio"``: mean and standard deviation of the per-training
        :math:`n_\\mathrm{eq}(\\mathrm{MSE}_i)`. Since :math:`1/\\mathrm{MSE}` is convex this
        is larger than ``"mse"`` (by about 60 % for the camel-back fit).

    Returns
    -------
    Measurement
        ``error`` is the spread over trainings (one training's scatter), not the error
        of the mean; divide by :math:`\\sqrt{k}` for the latter (``k`` trainings).
    """
    m = _mse_array(mse_per_training)
    spread = float(np.std(m, ddof=1)) if m.size > 1 else math.nan
    if average == "mse":
        mean = float(np.mean(m))
        n_eq = float(equivalent_sample_size(mean, n_cells))
        return Measurement(n_eq, n_eq * spread / mean)
    if average == "ratio":
        per = np.asarray(equivalent_sample_size(m, n_cells))
        return Measurement(float(np.mean(per)), float(np.std(per, ddof=1)) if m.size > 1 else math.nan)
    raise ConfigError(f"average must be 'mse' or 'ratio'; got {average!r}")


def amplification_factor(
    mse_per_training: np.ndarray,
    n_cells: int,
    n_train: int,
    average: Literal["mse", "ratio"] = "mse",
) -> Measurement:
    """Amplification factor: equivalent sample size over training size (GANplifying Sec. 2).

    :func:`equivalent_events` divided by ``n_train``; ``error`` is the spread over the
    independent trainings (the band of the paper's figures), not the error of the mean.
    """
    if n_train <= 0:
        raise ConfigError(f"n_train must be positive; got {n_train}")
    eq = equivalent_events(mse_per_training, n_cells, average)
    return Measurement(eq.value / n_train, eq.error / n_train)


def amplification_summary(mse_per_training: np.ndarray, n_cells: int, n_train: int) -> dict[str, float]:
    """Every reading of the amplification over trainings, for reports.

    Keys: ``n_trainings``, ``mse_mean``, ``mse_std``, ``equivalent_events`` (of the mean
    MSE), ``equivalent_events_spread``, ``equivalent_events_error_of_mean``,
    ``amplification`` (of the mean MSE), ``amplification_spread``,
    ``amplification_error_of_mean``, ``amplification_mean_ratio`` (mean of per-training
    ratios), ``amplification_median`` and ``amplification_p16`` / ``amplification_p84``
    (percentiles of the per-training ratios).
    """
    m = _mse_array(mse_per_training)
    eq = equivalent_events(m, n_cells, "mse")
    per = np.asarray(equivalent_sample_size(m, n_cells)) / n_train
    k = m.size
    return {
        "n_trainings": k,
        "mse_mean": float(np.mean(m)),
        "mse_std": float(np.std(m, ddof=1)) if k > 1 else math.nan,
        "equivalent_events": eq.value,
        "equivalent_events_spread": eq.error,
        "equivalent_events_error_of_mean": eq.error / math.sqrt(k),
        "amplification": eq.value / n_train,
        "amplification_spread": eq.error / n_train,
        "amplification_error_of_mean": eq.error / n_train / math.sqrt(k),
        "amplification_mean_ratio": float(np.mean(per)),
        "amplification_median": float(np.median(per)),
        "amplification_p16": float(np.percentile(per, 16)),
        "amplification_p84": float(np.percentile(per, 84)),
    }
