"""χ²/ndf and δ[%]: zero for identical histograms, ≈ 1 for independent samples of one density."""

from __future__ import annotations

import numpy as np

from evgen.validation.histograms import binning, compare_histograms, weighted_histogram


def test_identical_histograms_have_zero_chi2():
    x = np.random.default_rng(0).normal(size=1000)
    edges = binning(x, 20)
    h = weighted_histogram(x, None, edges)
    c = compare_histograms(h, weighted_histogram(x, None, edges))
    assert c.chi2 == 0.0 and c.ndf == np.count_nonzero(h.values()) - 1
    assert np.nanmax(c.delta_percent) == 0.0


def test_chi2_ndf_of_independent_samples_is_about_one():
    rng = np.random.default_rng(1)
    edges = np.linspace(-3, 3, 31)
    values = []
    for _ in range(200):
        a, b = rng.normal(size=2000), rng.normal(size=5000)
        wa = rng.uniform(0.5, 1.5, a.size)  # weighted reference: variances must use Σw²
        values.append(
            compare_histograms(weighted_histogram(a, wa, edges), weighted_histogram(b, None, edges)).chi2_ndf
        )
    assert abs(np.mean(values) - 1.0) < 0.05


def test_shifted_sample_has_large_chi2_and_delta():
    rng = np.random.default_rng(2)
    edges = np.linspace(-3, 3, 31)
    c = compare_histograms(
        weighted_histogram(rng.normal(size=20000), None, edges),
        weighted_histogram(rng.normal(0.2, 1, size=20000), None, edges),
    )
    assert c.chi2_ndf > 10
    assert c.bulk_delta() > c.bulk_reference_error()


def test_delta_is_eq_11():
    edges = np.array([0.0, 1.0, 2.0])
    ref = weighted_histogram(np.array([0.5, 0.5, 1.5, 1.5]), None, edges)
    gen = weighted_histogram(np.array([0.5, 1.5, 1.5, 1.5]), None, edges)
    # normalised: ref (0.5, 0.5), gen (0.25, 0.75) -> δ = 50 %
    np.testing.assert_allclose(compare_histograms(ref, gen).delta_percent, [50.0, 50.0])
