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

When :math:`\sigma_j` is estimated from :math:`K` draws or ensemble members the pull follows
Student's t with :math:`K - 1` degrees of freedom, but only if *all* of :math:`\sigma_j^2` is
estimated. Where a known variance (a reference sample's own statistics) is added, the
effective degrees of freedom are Welch–Satterthwaite's (:func:`welch_satterthwaite_dof`):
the interval shrinks from :math:`t_{K-1}` towards the Gaussian one as the known part takes over.
A :math:`t_{K-1}` interval there over-covers: with 4 members, :math:`\pm 1.197\sigma` holds
76.9 % of a Gaussian instead of 68.3 %.
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
    "z_for_levels",
    "welch_satterthwaite_dof",
    "ensemble_pull_variance",
    "coverage_window_probability",
    "COVERAGE_TEST_ALPHA",
    "coverage_p_value",
    "coverage_consistent_probability",
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


def welch_satterthwaite_dof(
    estimated_variance: np.ndarray, total_variance: np.ndarray, dof: float
) -> np.ndarray:
    r"""Effective degrees of freedom of a variance of which one term is estimated (Satterthwaite 1946).

    For :math:`\sigma^2 = s^2 + c` with :math:`s^2` estimated with :math:`\nu` degrees of
    freedom (:math:`\mathrm{Var}\, s^2 = 2 s^4/\nu`) and :math:`c` known (possibly negative,
    e.g. a subtracted Poisson variance), :math:`\sigma^2` is approximately a scaled
    :math:`\chi^2` with :math:`\nu_\mathrm{eff} = \nu\, \sigma^4 / s^4` degrees of freedom
    (Welch 1947, Biometrika 34, 28, Eq. 10 with a single estimated term). :math:`s^2 = 0`
    gives :math:`\infty` (the Gaussian interval); the result is at least 1.
    """
    if not dof > 0:
        raise ConfigError(f"dof = {dof!r}: must be positive")
    s2, total = np.broadcast_arrays(
        np.asarray(estimated_variance, dtype=np.float64), np.asarray(total_variance, dtype=np.float64)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        nu = np.where(s2 > 0, dof * total**2 / np.where(s2 > 0, s2, 1.0) ** 2, np.inf)
    return np.maximum(nu, 1.0)


def ensemble_pull_variance(
    member_variance: np.ndarray,
    stochastic_variance: np.ndarray,
    reference_variance: np.ndarray,
    members: int,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Variance of an ensemble mean's pull against a reference, and its degrees of freedom.

    :math:`K` members (bootstrap resamples or BINN weight draws, Eq. 19-21 of arXiv:2110.13632)
    with per-bin sample variance :math:`s^2` (``member_variance``), each histogram carrying the
    stochastic variance :math:`\sigma_\mathrm{stoch}^2`; the reference (truth) has
    :math:`\sigma_\mathrm{ref}^2`. The mean :math:`\bar g` errs by
    :math:`\sigma_\mathrm{pred}^2 (1 + 1/K) + \sigma_\mathrm{stoch}^2/K` with
    :math:`\sigma_\mathrm{pred}^2 = s^2 - \sigma_\mathrm{stoch}^2`, so

    .. math::
        \mathrm{Var}(\bar g - r) = s^2 (1 + 1/K) - \sigma_\mathrm{stoch}^2 + \sigma_\mathrm{ref}^2 ,

    an unbiased estimate whose only estimated term, :math:`s^2(1 + 1/K)`, has :math:`K - 1`
    degrees of freedom: the pull's interval is Student's t with
    :func:`welch_satterthwaite_dof`. :math:`\sigma_\mathrm{pred}^2` is *not* clipped at zero
    here: clipping biases the variance up where the model is precise (φ, flat by construction)
    and those pulls over-cover (0.77-0.81 instead of 0.68 with 4 members). Where the estimate is
    not positive, the clipped one is used.
    """
    k = int(members)
    if k < 2:
        raise ConfigError(f"members = {members!r}: a spread needs at least 2")
    s2, stoch, ref = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (member_variance, stochastic_variance, reference_variance))
    )
    estimated = s2 * (1.0 + 1.0 / k)
    total = estimated - stoch + ref
    clipped = np.maximum(s2 - stoch, 0.0) * (1.0 + 1.0 / k) + stoch / k + ref
    total = np.where(total > 0, total, clipped)
    return total, welch_satterthwaite_dof(estimated, total, k - 1)


def coverage_window_probability(
    n: int, low: float = 0.60, high: float = 0.76, level: float = ONE_SIGMA
) -> float:
    r"""Probability that ``n`` calibrated pulls give a coverage of ``level`` within ``[low, high]``.

    The number of pulls inside a calibrated interval is binomial :math:`B(n, \mathrm{level})`
    (bins taken as independent). It is the reference for a per-observable coverage target: with
    20 bins a calibrated band lands in [0.60, 0.76] with probability 0.66, with 40 bins 0.76,
    so "every observable in the window" fails by chance alone for most sets of observables.
    """
    if n < 1:
        raise InputError(f"n = {n!r}: needs at least one pull")
    from scipy.stats import binom

    k_low = math.ceil(low * n - 1e-9)
    k_high = math.floor(high * n + 1e-9)
    if k_high < k_low:
        return 0.0
    return float(binom.cdf(k_high, n, level) - binom.cdf(k_low - 1, n, level))


#: Significance of the per-observable coverage test: a coverage whose two-sided binomial p-value is
#: below it is not the nominal level's (:func:`coverage_p_value`).
COVERAGE_TEST_ALPHA = 0.05


def coverage_p_value(covered: int, n: int, level: float = ONE_SIGMA) -> float:
    r"""Two-sided binomial p-value of ``covered`` of ``n`` pulls inside an interval of content ``level``.

    Under a calibrated band the count is :math:`B(n, \mathrm{level})` (bins taken as independent);
    the p-value is the probability of a count no more likely than the observed one (the exact
    two-sided test of :func:`scipy.stats.binomtest`). It separates an
    observable whose coverage is off from one that missed [0.60, 0.76] by chance: with 20 bins
    13 covered (0.65) gives p = 0.81, 9 (0.45) p = 0.03. Bins of one histogram share a network
    and a normalisation, so the test is approximate: correlated pulls scatter more than a
    binomial and it flags a calibrated band somewhat more often than ``alpha``.
    """
    if n < 1:
        raise InputError(f"n = {n!r}: needs at least one pull")
    if not 0 <= covered <= n:
        raise InputError(f"covered = {covered!r}: must lie in [0, n = {n}]")
    from scipy.stats import binomtest

    return float(binomtest(int(covered), int(n), level).pvalue)


def coverage_consistent_probability(
    n: int, alpha: float = COVERAGE_TEST_ALPHA, level: float = ONE_SIGMA
) -> float:
    r"""Probability that a calibrated band's ``n`` pulls pass :func:`coverage_p_value` at ``alpha``.

    At least :math:`1 - \alpha` (the test is exact and discrete); the expected number of
    observables a calibrated band passes is the sum of it over the observables.
    """
    if n < 1:
        raise InputError(f"n = {n!r}: needs at least one pull")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha = {alpha!r}: must lie in (0, 1)")
    from scipy.stats import binom

    counts = np.arange(n + 1)
    passing = np.array([coverage_p_value(int(k), n, level) >= alpha for k in counts])
    return float(np.sum(binom.pmf(counts[passing], n, level)))


def z_for_levels(level: float, dof: float | np.ndarray) -> float | np.ndarray:
    """:func:`z_for_level` for one ``dof`` or one per pull (infinite entries: Gaussian)."""
    if np.ndim(dof) == 0:
        return z_for_level(level, float(dof))
    from scipy.stats import t

    gaussian = z_for_level(level)  # also checks the level
    d = np.asarray(dof, dtype=np.float64)
    if not np.all(d > 0):
        raise ConfigError("dof: every entry must be positive")
    return np.where(np.isfinite(d), t.ppf(0.5 * (1.0 + level), np.where(np.isfinite(d), d, 1.0)), gaussian)


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


def coverage(
    pull_values: np.ndarray, level: float = ONE_SIGMA, dof: float | np.ndarray = math.inf
) -> Measurement:
    """Fraction of pulls inside the central ``level`` interval, with its binomial error.

    The interval is Gaussian, or Student's t with ``dof`` degrees of freedom when the
    errors were estimated from ``dof + 1`` draws (:func:`z_for_level`). ``dof`` may also
    be one value per pull (:func:`welch_satterthwaite_dof`). NaN pulls (bins without a
    predicted error) are ignored.
    """
    v = np.asarray(pull_values, dtype=np.float64).ravel()
    z = z_for_levels(level, dof)
    if np.ndim(z) > 0:
        z = np.asarray(z).ravel()
        if z.size != v.size:
            raise InputError(
                f"{z.size} degrees of freedom for {v.size} pulls: give one per pull or one in all"
            )
        ok = np.isfinite(v)
        v, z = _finite(v), z[ok]
    else:
        v = _finite(v)
    return _binomial(int(np.sum(np.abs(v) <= z)), v.size)


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
    #: ``dof`` is the median of per-pull degrees of freedom (:func:`welch_satterthwaite_dof`)
    dof_per_pull: bool = False

    def _interval(self) -> str:
        if self.dof_per_pull:
            return f"student-t, Welch–Satterthwaite dof per bin (median {self.dof:.3g})"
        return "gaussian" if not math.isfinite(self.dof) else f"student-t, {self.dof:g} dof"

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
            "interval": self._interval(),
        }


def summarize_pulls(
    pull_values: np.ndarray, *, constraints: int = 0, dof: float | np.ndarray = math.inf
) -> PullSummary:
    r"""Mean and width (standard deviation) of the pulls with their errors, :math:`\chi^2`, coverages.

    The width's error is :math:`s/\sqrt{2(n-1)}`; ``constraints`` as in :func:`chi2_test`;
    ``dof`` as in :func:`coverage` (errors estimated from ``dof + 1`` draws: Student-t intervals;
    or one value per pull).
    """
    raw = np.asarray(pull_values, dtype=np.float64).ravel()
    per_pull = np.ndim(dof) > 0
    if per_pull:
        dof = np.asarray(dof, dtype=np.float64).ravel()
        if dof.size != raw.size:
            raise InputError(
                f"{dof.size} degrees of freedom for {raw.size} pulls: give one per pull or one in all"
            )
        dof = dof[np.isfinite(raw)]
    v = _finite(raw)
    n = v.size
    s = float(np.std(v, ddof=1)) if n > 1 else math.nan
    mean = Measurement(float(np.mean(v)), s / math.sqrt(n) if n > 1 else math.nan)
    width = Measurement(s, s / math.sqrt(2.0 * (n - 1)) if n > 1 else math.nan)
    chi2 = Chi2Result(float(np.sum(v * v)), max(n - int(constraints), 0))
    c68, c95 = coverage(v, ONE_SIGMA, dof), coverage(v, TWO_SIGMA_95, dof)
    shown = float(np.median(dof)) if per_pull else float(dof)
    return PullSummary(n, mean, width, chi2, c68, c95, shown, per_pull)
