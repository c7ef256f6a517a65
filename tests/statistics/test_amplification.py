"""Equivalent sample size, the saturation fit and the amplification factor."""

from __future__ import annotations

import numpy as np
import pytest
from evgen_datasets.toys import CamelBack

from evgen.errors import ConfigError, InputError
from evgen.statistics.amplification import (
    amplification_factor,
    amplification_summary,
    asymptotic_mse,
    equivalent_events,
    equivalent_sample_size,
    saturation_fit,
)
from evgen.statistics.fits import fit_quantile_mse, fit_two_gaussians
from evgen.statistics.quantiles import expected_quantile_mse, quantile_fractions, quantile_mse


@pytest.mark.parametrize("n_cells", [10, 49, 243])
def test_equivalent_sample_size_inverts_expectation(n_cells: int) -> None:
    n = np.array([30.0, 100.0, 1234.5, 1e6])
    np.testing.assert_allclose(equivalent_sample_size(expected_quantile_mse(n, n_cells), n_cells), n)
    assert equivalent_sample_size(0.0, n_cells) == np.inf
    with pytest.raises(InputError):
        equivalent_sample_size(-1e-3, n_cells)


def test_saturation_fit_recovers_synthetic_curve() -> None:
    n = np.array([100, 300, 1000, 3000, 10_000, 30_000])
    truth_inf, truth_c = 2e-5, 0.018
    exact = saturation_fit(n, truth_inf + truth_c / n)
    assert exact.mse_inf == pytest.approx(truth_inf, rel=1e-6)
    assert exact.c == pytest.approx(truth_c, rel=1e-6)
    rng = np.random.default_rng(0)
    noisy = (truth_inf + truth_c / n) * (1 + 0.05 * rng.standard_normal(n.size))
    m = asymptotic_mse(n, noisy)
    assert abs(m.value - truth_inf) < 4 * m.error


def test_saturation_fit_pulls_for_a_fixed_model() -> None:
    """MSE_inf of a fixed (fitted) density is known exactly from its CDF: the fit error is calibrated."""
    toy = CamelBack()
    rng = np.random.default_rng(3)
    model = fit_two_gaussians(toy.sample(100, rng))
    n_cells = 20
    exact = fit_quantile_mse(model, toy, n_cells)
    n = np.array([100, 300, 1000, 3000, 10_000, 30_000])
    pulls = []
    for _ in range(60):
        mse = [quantile_mse(quantile_fractions(toy, model.sample(int(k), rng), (n_cells,))) for k in n]
        m = asymptotic_mse(n, mse, n_cells=n_cells)
        pulls.append((m.value - exact) / m.error)
    pulls = np.array(pulls)
    assert abs(pulls.mean()) < 0.45
    assert 0.7 < pulls.std() < 1.5


def test_amplification_factor_of_known_equivalent_size() -> None:
    n_cells, n_train = 20, 100
    mse = np.full(50, expected_quantile_mse(350, n_cells))
    a = amplification_factor(mse, n_cells, n_train)
    assert a.value == pytest.approx(3.5)
    assert a.error == pytest.approx(0.0, abs=1e-12)
    assert equivalent_events(mse, n_cells).value == pytest.approx(350)


def test_amplification_averages_and_spread() -> None:
    rng = np.random.default_rng(1)
    n_cells, n_train = 10, 100
    mse = expected_quantile_mse(300, n_cells) * rng.lognormal(0.0, 0.5, size=400)
    by_mse = amplification_factor(mse, n_cells, n_train)
    by_ratio = amplification_factor(mse, n_cells, n_train, average="ratio")
    assert by_mse.value == pytest.approx(equivalent_sample_size(mse.mean(), n_cells) / n_train)
    ratios = equivalent_sample_size(mse, n_cells) / n_train
    assert by_ratio.value == pytest.approx(ratios.mean())
    assert by_ratio.error == pytest.approx(ratios.std(ddof=1))  # spread, not error of the mean
    assert by_ratio.value > by_mse.value  # Jensen: 1/MSE is convex
    summary = amplification_summary(mse, n_cells, n_train)
    assert summary["amplification_error_of_mean"] == pytest.approx(summary["amplification_spread"] / 20)
    assert summary["amplification_p16"] < summary["amplification_median"] < summary["amplification_p84"]
    with pytest.raises(ConfigError):
        amplification_factor(mse, n_cells, n_train, average="median")  # type: ignore[arg-type]
