"""Mass-step weights: the ratio is measured right, and weighting a smoothed density restores the jump."""

from __future__ import annotations

import numpy as np
import pytest

from evgen.errors import ConfigError, InputError
from evgen.mass_step import MassStep


def _stepped(rng: np.random.Generator, n: int, ratio: float, cut: float = 50.0) -> np.ndarray:
    """A density on [30, 70): flat, ``ratio`` times higher above ``cut`` than below."""
    above = rng.uniform(size=n) < ratio / (1 + ratio)
    return np.where(above, rng.uniform(cut, cut + 20, n), rng.uniform(cut - 20, cut, n))


def test_the_ratio_is_the_density_jump():
    rng = np.random.default_rng(0)
    m = _stepped(rng, 400_000, ratio=3.7)
    assert MassStep(50.0).fit_ratio(m) == pytest.approx(3.7, rel=0.03)
    # weights count: doubling the weight of every event above the cut doubles the ratio
    w = np.where(m >= 50, 2.0, 1.0)
    assert MassStep(50.0).fit_ratio(m, w) == pytest.approx(7.4, rel=0.03)
    assert MassStep().fit_ratio(m) == 1.0  # off


def test_weights_remove_the_jump_and_restore_it():
    rng = np.random.default_rng(1)
    step = MassStep(50.0)
    m = _stepped(rng, 400_000, ratio=3.7)
    r = step.fit_ratio(m)
    edges = np.linspace(30, 70, 41)
    smoothed, _ = np.histogram(m, edges, weights=step.training_weights(m, r))
    # what a perfect network learns: flat (no jump at 50)
    assert np.std(smoothed) / np.mean(smoothed) < 0.02
    # drawing from the flat density and weighting with 1/w gives back the stepped one
    generated = rng.uniform(30, 70, 400_000)
    restored, _ = np.histogram(generated, edges, weights=step.generation_weights(generated, r))
    truth, _ = np.histogram(m, edges)
    np.testing.assert_allclose(restored / restored.sum(), truth / truth.sum(), rtol=0.06)
    np.testing.assert_allclose(step.training_weights(m, r) * step.generation_weights(m, r), 1.0)


def test_a_threshold_where_the_sample_has_no_events_is_an_error():
    m = np.random.default_rng(2).uniform(60, 120, 1000)
    with pytest.raises(InputError, match=r"mass_step.threshold = 50.0 GeV: .* 0 in \[48.0, 50.0\)"):
        MassStep(50.0).fit_ratio(m)


@pytest.mark.parametrize("options", [{"threshold": -1.0}, {"threshold": 50.0, "window": 0.0}])
def test_nonsense_options(options):
    with pytest.raises(ConfigError, match="mass_step"):
        MassStep(**options)
