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


def test_each_multiplicity_gets_its_own_jump_and_its_weighted_density_is_continuous():
    """Two multiplicities with jumps 5.4 and 1.6 (the shared sample's 1 and 3 jets): the pooled
    ratio leaves each with a step, the per-multiplicity ratios smooth both."""
    rng = np.random.default_rng(3)
    m = np.concatenate([_stepped(rng, 300_000, ratio=5.4), _stepped(rng, 100_000, ratio=1.6)])
    k = np.repeat([1, 3], [300_000, 100_000])
    ratios = MassStep(50.0).fit_ratios(m, None, k, (1, 2, 3))
    assert ratios[1] == pytest.approx(5.4, rel=0.05)
    assert ratios[3] == pytest.approx(1.6, rel=0.05)
    pooled = MassStep(50.0, by_multiplicity=False).fit_ratios(m, None, k, (1, 2, 3))
    assert pooled[1] == pooled[3] == pooled[2] == pytest.approx(MassStep(50.0).fit_ratio(m))
    assert ratios[2] == pooled[2]  # no events of its own: the pooled ratio

    def step_left(r: dict[int, float], n: int) -> float:
        """Weighted density just above / just below the cut for multiplicity ``n``."""
        mn = m[k == n]
        w = MassStep(50.0).training_weights(mn, r[n])
        return w[(mn >= 50) & (mn < 52)].sum() / w[(mn >= 48) & (mn < 50)].sum()

    for n in (1, 3):
        assert step_left(ratios, n) == pytest.approx(1.0, abs=0.05)
    assert step_left(pooled, 3) < 0.6  # the pooled ratio: a jump up by ~2 below the 3-jet cut


def test_a_multiplicity_with_few_events_at_the_cut_takes_the_pooled_ratio():
    rng = np.random.default_rng(4)
    m = np.concatenate([_stepped(rng, 100_000, ratio=3.0), rng.uniform(51, 70, 30), [49.0] * 5])
    k = np.repeat([1, 2], [100_000, 35])
    ratios = MassStep(50.0).fit_ratios(m, None, k, (1, 2))
    assert ratios[2] == MassStep(50.0).fit_ratio(m)
    with pytest.raises(InputError, match="multiplicities"):
        MassStep(50.0).fit_ratios(m, None, k[:10], (1, 2))
    assert MassStep().fit_ratios(m, None, k, (1, 2)) == {1: 1.0, 2: 1.0}
