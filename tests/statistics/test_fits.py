"""The two-Gaussian fit benchmark: unbiased with calibrated errors, and it beats the sample."""

from __future__ import annotations

import numpy as np
import pytest
from evgen_datasets.toys import CamelBack
from scipy import stats

from evgen.errors import InputError
from evgen.statistics.fits import PARAMETERS, TwoGaussianFit, fit_quantile_mse, fit_two_gaussians
from evgen.statistics.fits.benchmark import fit_benchmark
from evgen.statistics.fits.two_gaussians import two_means_split
from evgen.statistics.quantiles import expected_quantile_mse, quantile_fractions, quantile_mse

TRUE = {"mu1": -4.0, "sigma1": 1.0, "mu2": 4.0, "sigma2": 1.0, "frac": 0.5}


def test_fit_pulls_on_the_camel_back() -> None:
    toy = CamelBack()
    rng = np.random.default_rng(0)
    pulls = {k: [] for k in PARAMETERS}
    for _ in range(80):
        fit = fit_two_gaussians(toy.sample(400, rng))
        assert fit.valid
        for k in PARAMETERS:
            pulls[k].append((getattr(fit, k) - TRUE[k]) / fit.errors[k])
    for k, p in pulls.items():
        assert abs(np.mean(p)) < 0.4, k
        assert 0.7 < np.std(p) < 1.35, k


def test_fit_recovers_asymmetric_parameters() -> None:
    rng = np.random.default_rng(1)
    truth = TwoGaussianFit(mu1=-1.0, sigma1=0.5, mu2=2.5, sigma2=1.5, frac=0.3)
    fit = fit_two_gaussians(truth.sample(20_000, rng))
    for k in PARAMETERS:
        assert abs(getattr(fit, k) - getattr(truth, k)) < 4 * fit.errors[k], k
    # a swapped start gives the same, ordered, result with consistent covariance
    swapped = fit_two_gaussians(
        truth.sample(20_000, np.random.default_rng(1))[:, 0], start=(2.5, 1.5, -1.0, 0.5, 0.7)
    )
    np.testing.assert_allclose(swapped.values, fit.values, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(swapped.covariance, fit.covariance, rtol=0.05, atol=1e-7)


def test_pdf_cdf_sample_agree() -> None:
    fit = TwoGaussianFit(mu1=-3.0, sigma1=0.8, mu2=1.0, sigma2=2.0, frac=0.4)
    x = np.linspace(-8, 8, 41)
    h = 1e-5
    np.testing.assert_allclose((fit.cdf(x + h) - fit.cdf(x - h)) / (2 * h), fit.pdf(x), rtol=1e-5, atol=1e-12)
    assert fit.cdf(np.array([-np.inf, np.inf])).tolist() == [0.0, 1.0]
    s = fit.sample(5000, np.random.default_rng(2))[:, 0]
    assert stats.kstest(s, fit.cdf).pvalue > 1e-3
    again = TwoGaussianFit.from_dict(fit.to_dict())
    assert again.values == fit.values


def test_two_means_split_separates_modes() -> None:
    x = CamelBack().sample(500, np.random.default_rng(3))[:, 0]
    assert abs(two_means_split(x)) < 1.5


def test_fit_quantile_mse_is_exact() -> None:
    """The CDF-based MSE equals the large-sample limit of the fit's sampled MSE."""
    toy = CamelBack()
    rng = np.random.default_rng(4)
    fit = fit_two_gaussians(toy.sample(100, rng))
    exact = fit_quantile_mse(fit, toy, 20)
    n = 200_000
    sampled = [quantile_mse(quantile_fractions(toy, fit.sample(n, rng), (20,))) for _ in range(10)]
    noise = expected_quantile_mse(n, 20)
    assert np.mean(sampled) - noise == pytest.approx(exact, rel=0.1)


def test_fit_on_100_points_beats_the_sample() -> None:
    result = fit_benchmark(n_train=100, n_samples=40, n_quantiles=(10, 20, 50), seed=5)
    assert result["n_invalid_fits"] == 0
    for row, fit_mse, sample_mse in zip(result["rows"], result["fit_mse"], result["sample_mse"], strict=True):
        assert fit_mse.mean() < 0.7 * sample_mse.mean()
        assert row["amplification"] > 1.5
    # more quantiles: larger amplification (paper: ~3, 5, 10 for 10, 20, 50)
    amps = [row["amplification"] for row in result["rows"]]
    assert amps[0] < amps[1] < amps[2]


def test_bad_input() -> None:
    with pytest.raises(InputError, match="at least 5"):
        fit_two_gaussians(np.zeros(3))
    with pytest.raises(InputError, match="all data points are equal"):
        fit_two_gaussians(np.ones(10))


def test_fit_generator_plugin_roundtrip(tmp_path) -> None:
    from evgen_quantiles import plugin
    from evgen_quantiles.fit_generator import TwoGaussianFitGenerator as cls

    from evgen.events import toy_events, toy_points

    assert cls in plugin.evgen_register_generators()
    assert cls.name == "two-gaussian-fit"
    x = CamelBack().sample(200, np.random.default_rng(6))
    gen = cls()
    info = gen.fit(toy_events(x))
    assert info["valid"]
    gen.save(tmp_path)
    loaded = cls.load(tmp_path)
    assert loaded.result.values == gen.result.values
    a, b = toy_points(gen.sample(100, seed=3)), toy_points(loaded.sample(100, seed=3))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(InputError, match="fit.json"):
        cls.load(tmp_path / "missing")
