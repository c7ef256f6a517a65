"""Histogram bands from weight draws, Eq. (19)-(22): sigma_stoch, sigma_pred, sigma_tot."""

from __future__ import annotations

import numpy as np
import pytest

from evgen.errors import ConfigError, InputError
from evgen.statistics.uncertainty import band_from_counts, band_from_draws, predictive_band

EDGES = np.linspace(-3.0, 3.0, 13)


def test_sigma_stoch_of_a_fixed_model_scales_as_sqrt_n():
    rng = np.random.default_rng(0)
    bands = {}
    for n in (1_000, 16_000):
        bands[n] = predictive_band(lambda k, n=n: rng.standard_normal(n), 300, EDGES)
    small, large = bands[1_000], bands[16_000]
    # Eq. (20): sigma_stoch^2 = <n>, so a 16 times larger sample has a 4 times larger sigma_stoch
    np.testing.assert_allclose(small.sigma_stoch, np.sqrt(small.mean))
    np.testing.assert_allclose(large.sigma_stoch / small.sigma_stoch, 4.0, rtol=0.02)
    # a fixed model has no predictive spread: sigma_tot is the Poisson/binomial sigma_stoch
    bulk = small.mean > 25
    np.testing.assert_allclose(large.sigma_tot[bulk] / small.sigma_tot[bulk], 4.0, rtol=0.2)
    ratio = large.sigma_tot[bulk] / large.sigma_stoch[bulk]
    assert 0.85 < ratio.mean() < 1.05  # binomial spread is slightly below Poisson
    assert np.all(large.sigma_pred[bulk] < 0.5 * large.sigma_stoch[bulk])
    # normalised shapes: the binomial sqrt(f(1-f)/N), and no predictive spread left for a fixed model
    f = large.fractions
    np.testing.assert_allclose(large.fraction_sigma_stoch, np.sqrt((f * (1 - f) / 16_000).mean(axis=0)))
    np.testing.assert_allclose(
        large.fraction_sigma_tot[bulk] / large.fraction_sigma_stoch[bulk], 1.0, atol=0.2
    )
    assert np.median(large.fraction_sigma_pred[bulk] / large.fraction_sigma_stoch[bulk]) < 0.35


def test_sigma_pred_recovers_a_known_spread_of_the_model():
    rng = np.random.default_rng(1)
    draws, bins = 4000, 6
    lam = np.linspace(200.0, 2000.0, bins)
    spread = 0.05  # every draw theta scales the expected counts by (1 + 0.05 g), g ~ N(0, 1)
    expected = lam * (1.0 + spread * rng.standard_normal((draws, 1)))
    counts = rng.poisson(expected).astype(float)
    band = band_from_counts(np.arange(bins + 1.0), counts)
    np.testing.assert_allclose(band.mean, lam, rtol=0.01)
    np.testing.assert_allclose(band.sigma_stoch, np.sqrt(lam), rtol=0.01)
    np.testing.assert_allclose(band.sigma_pred, spread * lam, rtol=0.06)  # Eq. (21)
    np.testing.assert_allclose(band.sigma_tot**2, band.sigma_stoch**2 + band.sigma_pred**2, rtol=1e-9)


def test_normalised_shapes_and_density():
    rng = np.random.default_rng(2)
    values = [rng.normal(0.1 * k, 1.0, 5000) for k in range(5)]
    band = band_from_draws(values, EDGES)
    inside = np.array([np.mean((v >= EDGES[0]) & (v <= EDGES[-1])) for v in values])
    np.testing.assert_allclose(band.fractions.sum(axis=1), inside)
    np.testing.assert_allclose(np.sum(band.density * band.widths), inside.mean())
    np.testing.assert_allclose(band.density_sigma_pred, band.fraction_sigma_pred / band.widths)
    lo, hi = band.quantile_band(0.683)
    assert np.all(lo <= band.mean_fraction + 1e-12) and np.all(hi >= band.mean_fraction - 1e-12)
    assert set(band.to_dict()) >= {"mean", "sigma_tot", "sigma_stoch", "sigma_pred", "density"}


def test_weighted_events_use_the_sum_of_squared_weights():
    values = [np.array([0.1, 0.2, 1.5]), np.array([0.1, 1.6, 1.7])]
    weights = [np.array([2.0, 3.0, 1.0]), np.array([1.0, 2.0, 2.0])]
    band = band_from_draws(values, np.array([0.0, 1.0, 2.0]), weights)
    np.testing.assert_allclose(band.counts, [[5.0, 1.0], [1.0, 4.0]])
    np.testing.assert_allclose(band.sumw2, [[13.0, 1.0], [1.0, 8.0]])
    np.testing.assert_allclose(band.sigma_stoch, np.sqrt([7.0, 4.5]))
    # fraction errors by the delta method: [(1 - f)^2 S2_bin + f^2 S2_rest] / W^2
    f0 = 5.0 / 6.0
    expected = ((1 - f0) ** 2 * 13.0 + f0**2 * 1.0) / 36.0
    f1 = 1.0 / 5.0
    expected_1 = ((1 - f1) ** 2 * 1.0 + f1**2 * 8.0) / 25.0
    assert band.fraction_sigma_stoch[0] ** 2 == pytest.approx(0.5 * (expected + expected_1))


def test_bad_input_fails_clearly():
    with pytest.raises(InputError, match="do not match"):
        band_from_counts(EDGES, np.ones((3, 4)))
    with pytest.raises(InputError, match="weight arrays"):
        band_from_draws([np.ones(3)], EDGES, [None, None])
    with pytest.raises(ConfigError, match="at least 2 draws"):
        predictive_band(lambda k: np.ones(3), 1, EDGES)
    with pytest.raises(InputError, match="no draws"):
        band_from_draws([], EDGES)
