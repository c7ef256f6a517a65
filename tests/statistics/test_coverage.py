"""Pulls, chi2 with predicted errors, and coverage of 68 % and 95 % intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evgen.errors import ConfigError, InputError
from evgen.statistics.coverage import (
    ONE_SIGMA,
    chi2_test,
    coverage,
    coverage_consistent_probability,
    coverage_p_value,
    coverage_window_probability,
    ensemble_pull_variance,
    interval_coverage,
    pulls,
    summarize_pulls,
    welch_satterthwaite_dof,
    z_for_level,
)


def test_calibrated_gaussian_errors_cover_68_and_95_percent():
    rng = np.random.default_rng(0)
    n = 20_000
    truth = rng.uniform(10, 100, n)
    sigma = rng.uniform(0.5, 3.0, n)
    observed = truth + sigma * rng.standard_normal(n)
    summary = summarize_pulls(pulls(observed, truth, sigma))
    binomial_68 = math.sqrt(ONE_SIGMA * (1 - ONE_SIGMA) / n)
    assert summary.coverage_68.error == pytest.approx(binomial_68, rel=0.05)
    assert abs(summary.coverage_68.value - ONE_SIGMA) < 3 * binomial_68
    assert abs(summary.coverage_95.value - 0.95) < 3 * math.sqrt(0.95 * 0.05 / n)
    assert abs(summary.width.value - 1.0) < 3 * summary.width.error
    assert abs(summary.mean.value) < 3 * summary.mean.error
    assert 0.001 < summary.chi2.p_value < 0.999
    assert summary.chi2.ndf == n


def test_underestimated_errors_undercover():
    rng = np.random.default_rng(1)
    n = 20_000
    p = pulls(2.0 * rng.standard_normal(n), 0.0, 1.0)  # quoted errors half the true ones
    expected = math.erf(0.5 / math.sqrt(2.0))  # P(|x| < 0.5 sigma)
    c = coverage(p)
    assert abs(c.value - expected) < 3 * c.error
    assert summarize_pulls(p).width.value == pytest.approx(2.0, rel=0.03)
    assert chi2_test(p, 0.0, 1.0).p_value < 1e-6


def test_levels_intervals_and_nan_handling():
    assert z_for_level(ONE_SIGMA) == pytest.approx(1.0)
    assert z_for_level(0.95) == pytest.approx(1.959964, rel=1e-6)
    p = pulls([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], [1.0, 0.0, 4.0])
    assert p[0] == 0.0 and np.isnan(p[1]) and p[2] == 0.5
    assert coverage(p).value == 1.0 and coverage(p).error > 0
    c = interval_coverage([0.5, 1.5, 2.5, 3.5], [0, 1, 3, 3], [1, 2, 4, 4])
    assert c.value == 0.75
    result = chi2_test([1.0, 3.0], [0.0, 0.0], [1.0, 1.0], constraints=1)
    assert (result.chi2, result.ndf) == (10.0, 1)
    with pytest.raises(ConfigError):
        z_for_level(1.0)
    with pytest.raises(InputError):
        coverage([np.nan])
    with pytest.raises(InputError):
        pulls(np.ones(3), np.ones(2), 1.0)


def test_student_t_intervals_cover_when_sigma_is_estimated_from_few_members():
    """σ estimated from K members: pulls follow t_{K-1}; t intervals cover at the nominal level, z ones do not."""
    rng = np.random.default_rng(7)
    n, k = 40_000, 6
    truth = 0.0
    members = rng.standard_normal((n, k))  # K ensemble members per bin, true spread 1
    estimate = members.mean(axis=1)
    sigma = members.std(axis=1, ddof=1) * math.sqrt(1.0 + 1.0 / k)  # error of the mean as a prediction
    fresh = rng.standard_normal(n)  # the "truth" is one more draw from the same distribution
    p = pulls(estimate, truth + fresh, sigma)
    for level in (ONE_SIGMA, 0.95):
        t_cov = coverage(p, level, dof=k - 1)
        z_cov = coverage(p, level)
        assert abs(t_cov.value - level) < 3 * t_cov.error
        assert z_cov.value < level - 5 * z_cov.error  # a Gaussian interval under-covers
    assert z_for_level(0.95, dof=5) == pytest.approx(2.570582, rel=1e-6)
    assert summarize_pulls(p, dof=k - 1).to_dict()["interval"] == "student-t, 5 dof"
    with pytest.raises(ConfigError):
        z_for_level(0.68, dof=0)


def test_welch_satterthwaite_dof_known_values():
    """ν_eff = ν σ⁴/s⁴: all estimated → ν; half known → 4ν; nothing estimated → ∞ (Gaussian); ≥ 1."""
    nu = welch_satterthwaite_dof(np.array([1.0, 1.0, 0.0, 4.0]), np.array([1.0, 2.0, 3.0, 1.0]), 3)
    assert nu[0] == pytest.approx(3.0) and nu[1] == pytest.approx(12.0)
    assert np.isinf(nu[2]) and nu[3] == 1.0
    with pytest.raises(ConfigError):
        welch_satterthwaite_dof(1.0, 1.0, 0)
    with pytest.raises(InputError, match="2 degrees of freedom for 3 pulls"):
        coverage(np.zeros(3), ONE_SIGMA, np.array([3.0, 3.0]))
    with pytest.raises(InputError, match="degrees of freedom"):
        summarize_pulls(np.zeros(3), dof=np.array([3.0, 3.0]))
    with pytest.raises(ConfigError):
        coverage(np.zeros(2), ONE_SIGMA, np.array([3.0, 0.0]))


@pytest.mark.parametrize(
    ("spread", "stochastic", "reference"),
    [(0.0, 1.0, 1.0), (0.0, 0.5, 1.0), (1.0, 0.5, 1.0), (3.0, 1.0, 1.0)],
)
def test_ensemble_pulls_cover_68_percent_whatever_dominates_the_variance(spread, stochastic, reference):
    """K = 4 bootstrap-like members (a shared offset and their own spread of σ_pred, plus each histogram's
    stochastic noise) against a reference with its own error. The unbiased variance with Welch–Satterthwaite
    intervals covers 68.3 %; σ_pred clipped at zero with t_{K-1} over-covers where the model is precise
    (σ_pred = 0: the φ observables), which is what the Z+jets study used to report."""
    rng = np.random.default_rng(3)
    n, k = 60_000, 4
    shared = spread * rng.standard_normal(n)
    members = (
        shared[:, None] + spread * rng.standard_normal((n, k)) + stochastic * rng.standard_normal((n, k))
    )
    observed = reference * rng.standard_normal(n)
    s2 = members.var(axis=1, ddof=1)
    variance, dof = ensemble_pull_variance(s2, stochastic**2, reference**2, k)
    p = pulls(members.mean(axis=1), observed, np.sqrt(variance))
    c = coverage(p, ONE_SIGMA, dof)
    assert abs(c.value - ONE_SIGMA) < 4 * c.error
    if spread == 0:
        clipped = np.maximum(s2 - stochastic**2, 0) * (1 + 1 / k) + stochastic**2 / k + reference**2
        old = coverage(pulls(members.mean(axis=1), observed, np.sqrt(clipped)), ONE_SIGMA, k - 1)
        assert old.value > 0.75
    summary = summarize_pulls(np.where(np.arange(n) % 10 == 0, np.nan, p), dof=dof).to_dict()
    assert summary["interval"].startswith("student-t, Welch–Satterthwaite dof per bin")
    assert abs(summary["coverage_68"].value - ONE_SIGMA) < 4 * summary["coverage_68"].error


def test_coverage_window_probability_is_the_binomial_chance_of_a_calibrated_band():
    """Monte Carlo of n calibrated Gaussian pulls: the share of coverages in [0.60, 0.76] matches."""
    rng = np.random.default_rng(5)
    for n in (10, 20, 37):
        inside = np.mean(np.abs(rng.standard_normal((20_000, n))) <= 1.0, axis=1)
        measured = np.mean((inside >= 0.60 - 1e-12) & (inside <= 0.76 + 1e-12))
        assert coverage_window_probability(n) == pytest.approx(measured, abs=0.015)
    assert coverage_window_probability(20) == pytest.approx(0.66, abs=0.01)
    assert coverage_window_probability(2) == 0.0  # neither 1/2 nor 2/2 lies in [0.60, 0.76]
    with pytest.raises(InputError):
        coverage_window_probability(0)


def test_coverage_p_value_is_the_exact_binomial_test_and_flags_a_narrow_band():
    """The p-value sums the binomial probabilities no larger than the observed one's (by hand);
    calibrated pulls are flagged at most alpha of the time, as often as 1 - the consistent
    probability says; errors 30 % too small are flagged most of the time with 40 bins."""
    from scipy.stats import binom

    n, level = 20, ONE_SIGMA
    pmf = binom.pmf(np.arange(n + 1), n, level)
    for k in (5, 9, 13, 17, 20):
        by_hand = pmf[pmf <= pmf[k] * (1 + 1e-7)].sum()
        assert coverage_p_value(k, n) == pytest.approx(by_hand, rel=1e-6)
    assert coverage_p_value(13, 20) > 0.5 and coverage_p_value(9, 20) < 0.05
    rng = np.random.default_rng(8)
    for bins in (15, 40):
        inside = np.sum(np.abs(rng.standard_normal((4000, bins))) <= 1.0, axis=1)
        flagged = np.mean([coverage_p_value(int(c), bins) < 0.05 for c in inside])
        expected = 1 - coverage_consistent_probability(bins)
        assert 0 < expected <= 0.05
        assert flagged == pytest.approx(expected, abs=0.012)
    narrow = np.sum(np.abs(rng.standard_normal((500, 40)) / 0.7) <= 1.0, axis=1)
    assert np.mean([coverage_p_value(int(c), 40) < 0.05 for c in narrow]) > 0.6
    with pytest.raises(InputError):
        coverage_p_value(5, 0)
    with pytest.raises(InputError):
        coverage_p_value(21, 20)
