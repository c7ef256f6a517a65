"""Quantile fractions and the quantile MSE against the multinomial expectation of true samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from evgen_datasets.toys import CamelBack, GaussianRing, GaussianShell

from evgen.errors import ConfigError, InputError
from evgen.statistics.quantiles import (
    expected_quantile_mse,
    expected_quantile_mse_spread,
    kish_sample_size,
    quantile_fractions,
    quantile_mse,
    quantile_mse_with_error,
    truth_quantile_edges,
)


def test_expected_quantile_mse_formula() -> None:
    assert expected_quantile_mse(100, 10) == pytest.approx(0.1 * 0.9 / 100)
    np.testing.assert_allclose(expected_quantile_mse(np.array([100, 200]), 10), [9e-4, 4.5e-4])
    with pytest.raises(ConfigError):
        expected_quantile_mse(0, 10)


def test_quantile_mse_of_exact_fractions_is_zero_and_eq2() -> None:
    assert quantile_mse(np.full((7, 7), 1 / 49)) == 0.0
    x = np.array([0.5, 0.25, 0.25, 0.0])
    assert quantile_mse(x) == pytest.approx(np.mean((x - 0.25) ** 2))


def test_fractions_shape_sum_and_weights() -> None:
    toy = GaussianRing()
    rng = np.random.default_rng(0)
    x = toy.sample(300, rng)
    f = quantile_fractions(toy, x, (7, 7))
    assert f.shape == (7, 7)
    assert f.sum() == pytest.approx(1.0)
    # an integer weight equals repeating the point
    w = rng.integers(1, 4, size=len(x))
    np.testing.assert_allclose(
        quantile_fractions(toy, x, (7, 7), weights=w.astype(float)),
        quantile_fractions(toy, np.repeat(x, w, axis=0), (7, 7)),
    )
    # one axis only: the radius marginal
    fr = quantile_fractions(toy, x, (10,), axes=(0,))
    assert fr.shape == (10,)
    np.testing.assert_allclose(
        fr,
        np.bincount(
            np.minimum((toy.truth_cdf(toy.to_truth_coordinates(x))[:, 0] * 10).astype(int), 9), minlength=10
        )
        / 300,
    )


@pytest.mark.parametrize(
    ("toy", "n_events", "n_per_axis", "axes", "repetitions"),
    [
        (CamelBack(), 100, (10,), None, 3000),
        (CamelBack(), 100, (50,), None, 1500),
        (GaussianRing(), 100, (7, 7), None, 1500),
        (GaussianRing(), 100, (10,), (1,), 1500),
        (GaussianShell(), 500, (3,) * 5, None, 600),
    ],
    ids=["camel10", "camel50", "ring7x7", "ring-phi10", "shell3^5"],
)
def test_true_samples_match_multinomial_expectation(toy, n_events, n_per_axis, axes, repetitions) -> None:
    rng = np.random.default_rng(11)
    mse = np.array(
        [
            quantile_mse(quantile_fractions(toy, toy.sample(n_events, rng), n_per_axis, axes))
            for _ in range(repetitions)
        ]
    )
    n_cells = math.prod(n_per_axis)
    expected = expected_quantile_mse(n_events, n_cells)
    assert mse.mean() == pytest.approx(expected, rel=0.03)
    assert mse.std() == pytest.approx(expected_quantile_mse_spread(n_events, n_cells), rel=0.12)


def test_mse_error_matches_scatter_of_a_biased_model() -> None:
    """For samples from a wrong density, the propagated error matches the observed scatter."""
    toy = CamelBack()
    rng = np.random.default_rng(5)
    values, errors = [], []
    for _ in range(600):
        x = 1.15 * toy.sample(400, rng)  # too wide: a real bias
        mse, err = quantile_mse_with_error(toy, x, (20,))
        values.append(mse)
        errors.append(err)
    assert np.mean(values) > 2 * expected_quantile_mse(400, 20)
    assert np.mean(errors) == pytest.approx(np.std(values), rel=0.15)


def test_kish_sample_size() -> None:
    assert kish_sample_size(np.ones(10)) == pytest.approx(10)
    assert kish_sample_size(np.array([1.0, 0.0, 0.0, 1.0])) == pytest.approx(2)
    with pytest.raises(InputError):
        kish_sample_size(np.zeros(3))


def test_truth_quantile_edges_invert_the_cdf() -> None:
    camel = CamelBack()
    edges = truth_quantile_edges(camel, 10)
    assert edges[0] == -np.inf and edges[-1] == np.inf
    np.testing.assert_allclose(camel.truth_cdf(edges[1:-1])[:, 0], np.arange(1, 10) / 10, atol=1e-12)
    np.testing.assert_allclose(edges[1:-1], -edges[1:-1][::-1], atol=1e-9)  # symmetric camel
    phi_edges = truth_quantile_edges(GaussianRing(), 8, axis=1)
    np.testing.assert_allclose(phi_edges[1:-1], -np.pi + 2 * np.pi * np.arange(1, 8) / 8, atol=1e-9)
    theta = truth_quantile_edges(GaussianShell(), 4, axis=1)  # density sin^3 on [0, pi]
    c = np.cos(theta[1:-1])
    np.testing.assert_allclose((2 - 3 * c + c**3) / 4, [0.25, 0.5, 0.75], atol=1e-12)
    np.testing.assert_allclose(theta[1] + theta[3], np.pi, atol=1e-9)


def test_bad_options_are_rejected() -> None:
    toy = GaussianRing()
    x = toy.sample(10, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="same length"):
        quantile_fractions(toy, x, (7, 7), axes=(0,))
    with pytest.raises(ConfigError, match="axes"):
        quantile_fractions(toy, x, (7,), axes=(2,))
    with pytest.raises(InputError, match="dimension 2"):
        quantile_fractions(toy, np.zeros((4, 3)), (7, 7))
    with pytest.raises(InputError, match="sum to"):
        quantile_fractions(toy, x, (7, 7), weights=np.zeros(10))


def test_quantile_mse_metric_plugin() -> None:
    from evgen_quantiles import plugin
    from evgen_quantiles.metric import QuantileMSE

    from evgen.events import toy_events

    assert QuantileMSE in plugin.evgen_register_metrics()
    toy = GaussianRing()
    metric = QuantileMSE(n_per_axis=7)
    rng = np.random.default_rng(8)
    results = [metric.compare(toy, toy_events(toy.sample(1000, rng))) for _ in range(300)]
    mse = np.array([r["mse"].value for r in results])
    expected = expected_quantile_mse(1000, 49)
    assert results[0]["n_cells"].value == 49
    assert results[0]["expected_mse_same_n"].value == pytest.approx(expected)
    assert results[0]["expected_mse_same_n"].error == pytest.approx(mse.std(), rel=0.15)
    assert mse.mean() == pytest.approx(expected, rel=0.05)
    assert np.mean([r["mse"].error for r in results]) == pytest.approx(mse.std(), rel=0.2)
    # a true sample is worth about as many events as it has
    assert np.median([r["equivalent_events"].value for r in results]) == pytest.approx(1000, rel=0.1)

    # weights enter through the fractions and the Kish effective size
    x = toy.sample(500, rng)
    weighted = metric.compare(toy, toy_events(x, weight=np.full(500, 2.0)))
    assert weighted["mse"].value == pytest.approx(metric.compare(toy, toy_events(x))["mse"].value)
    assert weighted["expected_mse_same_n"].value == pytest.approx(expected_quantile_mse(500, 49))

    radius = QuantileMSE(n_per_axis=(10,), axes=(0,)).compare(toy, toy_events(x))
    assert radius["n_cells"].value == 10
    with pytest.raises(ConfigError, match="exact truth"):
        metric.compare(toy_events(x), toy_events(x))
