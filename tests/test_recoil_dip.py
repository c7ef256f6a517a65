"""Recoil-dip weights: the power is measured, weighting fills the dip, and 1/w restores it."""

from __future__ import annotations

import numpy as np
import pytest

from evgen.errors import ConfigError, InputError
from evgen.recoil_dip import MAX_POWER, RecoilDip

DIP = RecoilDip(scale=15.0)


def _dipped(rng: np.random.Generator, n: int, power: float, fall: float = 40.0) -> np.ndarray:
    """q_T with plane density s(q)^power · e^{−q/fall}: a Γ(2, fall) proposal (the plane's q dq
    times the fall), accepted with s^power ≤ 1."""
    q = rng.gamma(2.0, fall, size=8 * n)
    keep = rng.uniform(size=len(q)) < DIP.generation_weights(q, power)
    return q[keep][:n]


@pytest.mark.parametrize(("power", "low", "high"), [(0.5, 0.2, 0.5), (1.2, 0.9, 1.3), (1.8, 1.5, 2.0)])
def test_the_power_is_the_dip_of_the_plane_density(power, low, high):
    """Recovered on a spectrum that also falls by itself (the estimator's bias is documented)."""
    q = _dipped(np.random.default_rng(0), 300_000, power)
    assert low < DIP.fit_power(q) < high
    # weights count: the same events with weight 3 below q0/2 look like a shallower dip
    assert DIP.fit_power(q, np.where(q < 7.5, 3.0, 1.0)) < DIP.fit_power(q) - 0.25 or power < 1


def test_no_dip_no_weights():
    rng = np.random.default_rng(1)
    flat_plane = np.sqrt(rng.uniform(0, 900, 200_000))  # uniform in the disc of 30 GeV
    assert DIP.fit_power(flat_plane) < 0.05  # noise about zero
    assert DIP.fit_power(flat_plane[:40]) == 0.0  # too few events in the disc
    assert RecoilDip().fit_power(flat_plane) == 0.0  # off
    np.testing.assert_array_equal(RecoilDip().training_weights(flat_plane, 1.0), 1.0)
    np.testing.assert_array_equal(DIP.training_weights(flat_plane, 0.0), 1.0)


def test_weights_fill_the_dip_and_restore_it():
    rng = np.random.default_rng(2)
    power = 1.2

    def draw(n: int, accept) -> np.ndarray:  # q_T uniform in the 30 GeV disc, accepted with accept(q)
        q = np.sqrt(rng.uniform(0, 900, 6 * n))
        return q[rng.uniform(size=len(q)) < accept(q)][:n]

    q = draw(400_000, lambda x: DIP.generation_weights(x, power))  # the dip alone, no fall
    a = DIP.fit_power(q)
    edges = np.linspace(0, 30, 13)
    area = np.pi * np.diff(edges**2)
    plane, _ = np.histogram(q, edges)
    filled, _ = np.histogram(q, edges, weights=DIP.training_weights(q, a))
    # the true plane density falls 5 × towards zero; the weighted one is flat to 25 %
    assert (plane / area)[-1] / (plane / area)[0] > 5
    assert np.ptp(filled / area) / np.mean(filled / area) < 0.25
    # a perfect network draws from the filled density; weighting with 1/w gives back the dip
    grid = np.linspace(0, 30, 3001)
    peak = np.max(DIP.generation_weights(grid, power) * DIP.training_weights(grid, a))
    generated = draw(400_000, lambda x: DIP.generation_weights(x, power) * DIP.training_weights(x, a) / peak)
    restored, _ = np.histogram(generated, edges, weights=DIP.generation_weights(generated, a))
    w2, _ = np.histogram(generated, edges, weights=DIP.generation_weights(generated, a) ** 2)
    truth = plane / plane.sum()
    pulls = (restored / restored.sum() - truth) / np.sqrt(truth / len(q) + w2 / restored.sum() ** 2)
    assert np.max(np.abs(pulls)) < 4


def test_weights_are_bounded_and_inverse():
    q = np.array([0.0, 1.0, 7.5, 15.0, 100.0, 1e4])
    w = DIP.training_weights(q, 1.5)
    assert w[0] == pytest.approx(15.0**1.5, rel=1e-3)  # (q0/q_min)^a at zero
    assert np.all(np.diff(w) < 0) and w[-1] == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(w * DIP.generation_weights(q, 1.5), 1.0)
    assert DIP.fit_power(_dipped(np.random.default_rng(3), 200_000, 3.0)) <= MAX_POWER


def test_powers_per_multiplicity_and_bad_input():
    rng = np.random.default_rng(4)
    q = np.concatenate([_dipped(rng, 100_000, 1.2), np.sqrt(rng.uniform(0, 900, 100_000))])
    k = np.repeat([1, 2], 100_000)
    powers = DIP.fit_powers(q, None, k, [1, 2, 3])
    assert powers[1] > 0.8 and powers[2] < 0.05 and powers[3] == 0.0
    assert RecoilDip().fit_powers(q, None, k, [1, 2]) == {1: 0.0, 2: 0.0}
    with pytest.raises(InputError, match="finite and non-negative"):
        DIP.fit_power(np.array([1.0, np.nan]))
    with pytest.raises(InputError, match="3 p_T values, 3 weights and 2 multiplicities"):
        DIP.fit_powers(np.ones(3), np.ones(3), np.ones(2), [1])
    with pytest.raises(ConfigError, match="recoil_dip.scale = -1"):
        RecoilDip(scale=-1)
    with pytest.raises(ConfigError, match="recoil_dip.floor = 20.*below recoil_dip.scale = 10"):
        RecoilDip(scale=10, floor=20)
