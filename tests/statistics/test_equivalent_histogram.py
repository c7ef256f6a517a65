"""Equivalent truth events of a histogram: synthetic cases with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from evgen.errors import InputError
from evgen.statistics.equivalent_histogram import (
    fraction_variances,
    measured_equivalent_events,
    predicted_equivalent_events,
)

B = 40
P = np.exp(-0.5 * ((np.arange(B) - 15.0) / 7.0) ** 2)
P /= P.sum()


def test_a_copy_of_n_truth_events_is_worth_n_truth_events_and_its_interval_covers():
    """A 'generator' that reproduces its n-event training histogram (sampled at 1M events) is worth n."""
    rng = np.random.default_rng(0)
    n_model, n_truth, n_gen = 20_000, 100_000, 1_000_000
    excess, error, covered = [], [], []
    for _ in range(300):
        model = rng.multinomial(n_model, P) / n_model
        realised = np.sum((model - P) ** 2)  # this model's own error, known here
        generated = rng.multinomial(n_gen, model).astype(float)
        truth = rng.multinomial(n_truth, P).astype(float)
        eq = measured_equivalent_events(truth, generated)
        excess.append(eq.excess - realised)
        error.append(eq.excess_error)
        covered.append(eq.low <= np.sum(P * (1 - P)) / realised <= eq.high)
    # on average worth n_model events: the excess estimates the realised error without bias
    assert abs(np.mean(excess)) < 3 * np.std(excess) / np.sqrt(len(excess))
    assert 0.6 < np.mean(covered) < 0.76  # a 68 % interval for this model's equivalent events
    assert 0.8 < np.mean(error) / np.std(excess) < 1.25  # the estimator's error is its scatter


def test_a_known_bias_gives_its_equivalent_events_and_weights_are_accounted_for():
    rng = np.random.default_rng(1)
    bias = 0.004 * np.sin(np.arange(B) / 3.0) * np.sqrt(P)
    q = np.clip(P + bias - np.sum(bias) / B, 0, None)
    q /= q.sum()
    n_expected = np.sum(P * (1 - P)) / np.sum((q - P) ** 2)
    values = []
    for _ in range(50):
        # generated events with weights 0.5 and 1.5: twice as noisy as unit weights per event
        cells = rng.choice(B, size=400_000, p=q)
        w = rng.choice([0.5, 1.5], size=len(cells))
        g, gv = np.bincount(cells, w, B), np.bincount(cells, w * w, B)
        truth = rng.multinomial(2_000_000, P).astype(float)
        values.append(measured_equivalent_events(truth, g, generated_variances=gv).excess)
    assert abs(np.sum(P * (1 - P)) / np.mean(values) / n_expected - 1) < 0.05


def test_an_unresolved_bias_gives_an_infinite_upper_end_and_a_finite_lower_limit():
    rng = np.random.default_rng(2)
    truth = rng.multinomial(10_000, P).astype(float)
    generated = rng.multinomial(10_000, P).astype(float)  # the truth itself: no bias at all
    eq = measured_equivalent_events(truth, generated)
    assert not eq.resolved
    assert eq.high == np.inf
    assert 1_000 < eq.lower_limit < np.inf


def test_predicted_from_multinomial_errors_is_the_sample_size_and_variances_are_the_ratio_estimator():
    n = 12_345
    assert predicted_equivalent_events(P, np.sqrt(P * (1 - P) / n)) == pytest.approx(n, rel=1e-12)
    counts = P * 1000
    np.testing.assert_allclose(fraction_variances(counts, counts), P * (1 - P) / 1000, rtol=1e-12)
    with pytest.raises(InputError, match="shape"):
        measured_equivalent_events(np.ones(3), np.ones(4))
    with pytest.raises(InputError, match="finite"):
        measured_equivalent_events(np.array([1.0, np.nan]), np.ones(2))
