"""Conditional augmentation: Eq. (23) weights, the nuisance protocol, generation-time smearing."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from evgen.errors import ConfigError, InputError
from evgen.events import collider_events, toy_events
from evgen.physics.augmentation import (
    NuisanceWeight,
    QuadraticTailWeight,
    augmented_weights,
    generation_width,
    leading_jet_pt,
    nuisance_grid,
    pt_j1_tail,
    replicate,
    sample_nuisance,
    toy_coordinate,
)


def _events(jet_pt: list[list[float]], weight: np.ndarray | None = None) -> ak.Array:
    counts = [len(j) for j in jet_pt]
    flat = np.concatenate([np.asarray(j, dtype=np.float32) for j in jet_pt])

    def jag(values: np.ndarray) -> ak.Array:
        return ak.unflatten(values.astype(np.float32), counts)

    jets = {
        "pt": jag(flat),
        "eta": jag(np.zeros_like(flat)),
        "phi": jag(np.zeros_like(flat)),
        "mass": jag(np.ones_like(flat)),
    }
    two = [2] * len(jet_pt)
    muons = {
        k: ak.unflatten(np.full(2 * len(jet_pt), v, np.float32), two)
        for k, v in (("pt", 30.0), ("eta", 0.0), ("phi", 0.0), ("mass", 0.1057))
    }
    return collider_events({"Muon": muons, "Jet": jets}, weight)


def test_eq_23_weights():
    events = _events([[15.0, 12.0], [115.0], [215.0, 30.0, 25.0], [65.0]])
    nuisance = pt_j1_tail()
    np.testing.assert_allclose(leading_jet_pt(events), [15.0, 115.0, 215.0, 65.0])
    np.testing.assert_allclose(nuisance.weight(events, 0.0), 1.0)
    np.testing.assert_allclose(nuisance.weight(events, 30.0), [1.0, 31.0, 121.0, 8.5])
    np.testing.assert_allclose(nuisance.weight(events, np.array([1.0, 2.0, 3.0, 4.0])), [1.0, 3.0, 13.0, 2.0])
    # the training weights multiply the events' own weights
    weighted = _events([[15.0], [115.0]], weight=np.array([2.0, 0.5]))
    np.testing.assert_allclose(augmented_weights(weighted, nuisance, 10.0), [2.0, 5.5])


def test_any_per_event_function_is_a_nuisance():
    class Flat:
        name = "flat"

        def weight(self, events, a):
            return np.full(len(events), 1.0 + np.mean(a))

    assert isinstance(Flat(), NuisanceWeight) and isinstance(pt_j1_tail(), NuisanceWeight)
    events = toy_events(np.array([[0.0], [2.0], [4.0]]))
    np.testing.assert_allclose(augmented_weights(events, Flat(), 2.0), 3.0)
    tail = QuadraticTailWeight(toy_coordinate(0), offset=0.0, scale=2.0, name="x-tail")
    np.testing.assert_allclose(augmented_weights(events, tail, 1.0), [1.0, 2.0, 5.0])

    class Broken:
        name = "broken"

        def weight(self, events, a):
            return -np.ones(len(events))

    with pytest.raises(InputError, match="broken"):
        augmented_weights(events, Broken(), 1.0)


def test_grid_and_replication():
    grid = nuisance_grid()
    np.testing.assert_array_equal(grid, np.arange(31.0))  # a = 0 ... 30 in steps of one
    events = toy_events(np.array([[1.0], [3.0]]))
    tail = QuadraticTailWeight(toy_coordinate(0), 1.0, 1.0)
    index, a, w = replicate(events, tail, [0.0, 2.0])
    np.testing.assert_array_equal(index, [0, 1, 0, 1])
    np.testing.assert_array_equal(a, [0.0, 0.0, 2.0, 2.0])
    np.testing.assert_allclose(w, [1.0, 1.0, 1.0, 9.0])
    with pytest.raises(ConfigError):
        nuisance_grid(3.0, 1.0)


def test_generation_draws_a_around_its_value_with_width_min_a_over_10_and_0_1():
    np.testing.assert_allclose(generation_width([0.0, 0.5, 1.0, 12.0]), [0.0, 0.05, 0.1, 0.1])
    rng = np.random.default_rng(0)
    for a, width in ((0.5, 0.05), (12.0, 0.1)):
        draws = sample_nuisance(a, 50_000, rng)
        assert abs(draws.mean() - a) < 4 * width / np.sqrt(50_000)
        assert draws.std() == pytest.approx(width, rel=0.02)
    np.testing.assert_array_equal(sample_nuisance(0.0, 10, rng), 0.0)
    with pytest.raises(ConfigError):
        sample_nuisance(-1.0, 3, rng)
    with pytest.raises(InputError):
        pt_j1_tail().weight(_events([[20.0]]), -2.0)
