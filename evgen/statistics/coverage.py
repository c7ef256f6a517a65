r"""Validating predicted uncertainties: pulls, :math:`\chi^2` and interval coverage.

Step 2 of the protocol of Matchev et al. (arXiv:2002.06307, Sec. 6): a generator's
predicted uncertainties are right when the generated histograms agree with the
truth within them. For bins :math:`j` with generated value :math:`g_j`, true value
:math:`t_j` and predicted standard deviation :math:`\sigma_j`,

.. math::
    \mathrm{pull}_j = \frac{g_j - t_j}{\sigma_j}, \qquad
    \chi^2 = \sum_j \mathrm{pull}_j^2 .

Calibrated Gaussian errors give pulls of mean 0 and width 1, :math:`\chi^2` following a
:math:`\chi^2_\mathrm{ndf}` distribution, and a fraction :math:`\mathrm{erf}(1/\sqrt2) = 68.3\,\%`
of pulls with :math:`|\mathrm{pull}| \le 1` (95 % within 1.96). Too narrow errors show
as a width above 1 and coverage below the nominal level. Coverages come with their
binomial error :math:`\sqrt{f(1-f)/n}` for :math:`n` independent pulls; bins of one
histogram are not independent (normalisation, a shared network), so pool pulls over
independent trainings for a fair error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.interfaces import Measurement

__all__ = [
    "ONE_SIGMA",
    "TWO_SIGMA_95",
    "z_for_level",
    "pulls",
    "coverage",
    "interval_coverage",
    "Chi2Result",
    "chi2_test",
    "PullSummary",
    "summarize_pulls",
]

#: Probability content of :math:`\pm 1\sigma` of a Gaussian, :math:`\mathrm{erf}(1/\sqrt2)`.
ONE_SIGMA = math.erf(1.0 / math.sqrt(2.0))
#: The 95 % level.
TWO_SIGMA_95 = 0.95


def z_for_level(level: float, dof: float = math.inf) -> float:
    r"""Half-width in standard deviations of the central interval holding ``level``.

    Gaussian by default. With ``dof`` finite, Student's t with ``dof`` degrees of freedom:
    the right quantile when :math:`\sigma` is itself estimated from ``dof + 1`` draws or
    ensemble members (the pull then follows :math:`t_\mathrm{dof}` for Gaussian errors).
    """
    if not 0 < level < 1:
        raise ConfigError(f"level = {level!r}: must lie in (0, 1)")
    if not dof > 0:
        raise ConfigError(f"dof = {dof!r}: must be positive")
    if math.isfinite(dof):
        from scipy.stats import t

        return float(t.ppf(0.5 * (1.0 + level), dof))
    from scipy.special import erfinv

    return float(math.sqrt(2.0) * erfinv(level))


def pulls(observed: np.ndarray, predicted: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    r""":math:`(\mathrm{observed} - \mathrm{predicted})/\sigma`, elementwise; NaN where :math:`\sigma \le 0`."""
    o, p, s = (np.asarray(a, dtype=np.float64) for a in (observed, predicted, sigma))
    try:
        o, p, s = np.broadcast_arrays(o, p, s)
    except ValueError:
        raise InputError(f"shapes {o.shape}, {p.shape} and {s.shape} do not broadcast") from None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, (o - p) / s, np.nan)


def _finite(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise InputError("no finite pulls to evaluate")
    return v


def _binomial(k: int, n: int) -> Measurement:
    f = k / n
    g = (k + 0.5) / (n + 1.0)  # keeps the error finite at f = 0 or 1
    return Measurement(f, math.sqrt(g * (1.0 - g) / n))


def coverage(pull_values: np.ndarray, level: float = ONE_SIGMA, dof: float = math.inf) -> Measurement:
    """Fraction of pulls inside the central ``level`` interval, with its binomial error.

    The interval is Gaussian, or Student's t with ``dof`` degrees of freedom when the
    errors were estimated from ``dof + 1`` draws (:func:`z_for_level`). NaN pulls (bins
    without a predicted error) are ignored.
    """
    v = _finite(pull_values)
    return _binomial(int(np.sum(np.abs(v) <= z_for_level(level, dof))), v.size)


def interval_coverage(truth: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> Measurement:
    """Fraction of ``truth`` values inside ``[lower, upper]`` (e.g. quantile bands), with its binomial error."""
    t, lo, hi = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (truth, lower, upper)))
    ok = np.isfinite(t) & np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        raise InputError("no finite intervals to evaluate")
    inside = (t[ok] >= lo[ok]) & (t[ok] <= hi[ok])
    return _binomial(int(inside.sum()), int(ok.sum()))


@dataclass(frozen=True)
class Chi2Result:
    r""":math:`\chi^2` with the predicted errors, its degrees of freedom and p-value."""

    chi2: float
    ndf: int

    @property
    def chi2_ndf(self) -> float:
        return self.chi2 / self.ndf if self.ndf > 0 else math.nan

    @property
    def p_value(self) -> float:
        """Probability of a larger :math:`\\chi^2` under calibrated Gaussian errors."""
        from scipy.stats import chi2

        return float(chi2.sf(self.chi2, self.ndf)) if self.ndf > 0 else math.nan

    def to_dict(self) -> dict[str, float]:
        return {"chi2": self.chi2, "ndf": self.ndf, "chi2_ndf": self.chi2_ndf, "p_value": self.p_value}


def chi2_test(
    observed: np.ndarray, predicted: np.ndarray, sigma: np.ndarray, *, constraints: int = 0
) -> Chi2Result:
    r""":math:`\chi^2 = \sum_j ((o_j - p_j)/\sigma_j)^2` over bins with :math:`\sigma_j > 0`.

    ``constraints`` is subtracted from the number of bins for ``ndf`` (1 for histograms
    normalised to a fixed total).
    """
    v = pulls(observed, predicted, sigma).ravel()
    v = v[np.isfinite(v)]
    return Chi2Result(float(np.sum(v * v)), max(int(v.size) - int(constraints), 0))


@dataclass(frozen=True)
class PullSummary:
    """Everything step 2 (validate) reports about a set of pulls."""

    n: int
    mean: Measurement
    width: Measurement
    chi2: Chi2Result
    coverage_68: Measurement
    coverage_95: Measurement
    dof: float = math.inf

    def to_dict(self) -> dict[str, object]:
        return {
            "n_pulls": self.n,
            "pull_mean": self.mean,
            "pull_width": self.width,
            "chi2": self.chi2.chi2,
            "ndf": self.chi2.ndf,
            "chi2_per_ndf": self.chi2.chi2_ndf,
            "p_value": self.chi2.p_value,
            "coverage_68": self.coverage_68,
            "coverage_68_expected": ONE_SIGMA,
            "coverage_95": self.coverage_95,
            "coverage_95_expected": TWO_SIGMA_95,
            "interval": "gaussian" if not math.isfinite(self.dof) else f"student-t, {self.dof:g} dof",
        }


def summarize_pulls(pull_values: np.ndarray, *, constraints: int = 0, dof: float = math.inf) -> PullSummary:
    r"""Mean and width (standard deviation) of the pulls with their errors, :math:`\chi^2`, coverages.

    The width's error is :math:`s/\sqrt{2(n-1)}`; ``constraints`` as in :func:`chi2_test`;
    ``dof`` as in :func:`coverage` (errors estimated from ``dof + 1`` draws: Student-t intervals).
    """
    v = _finite(pull_values)
    n = v.size
    s = float(np.std(v, ddof=1)) if n > 1 else math.nan
    mean = Measurement(float(np.mean(v)), s / math.sqrt(n) if n > 1 else math.nan)
    width = Measurement(s, s / math.sqrt(2.0 * (n - 1)) if n > 1 else math.nan)
    chi2 = Chi2Result(float(np.sum(v * v)), max(n - int(constraints), 0))
    return PullSummary(n, mean, width, chi2, coverage(v, ONE_SIGMA, dof), coverage(v, TWO_SIGMA_95, dof), dof)
