"""The beam reflection (η, φ) → (−η, −φ) and the azimuthal mirror φ → −φ: involutions that keep
every rotation-invariant quantity (the mirror: every parity-invariant one)."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from evgen.errors import InputError
from evgen.physics.observables import dimuon_mass
from evgen.physics.reflection import mirror, mirror_some, reflect, reflect_some, symmetrised_log_prob
from tests.conftest import make_collider_events


def _flat(x: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(x))


def _three_vectors(particles: ak.Array) -> np.ndarray:
    pt, eta, phi = _flat(particles.pt), _flat(particles.eta), _flat(particles.phi)
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=1)


def test_reflection_is_the_rotation_by_pi_about_x_and_its_own_inverse():
    events = make_collider_events(300, seed=1)
    mirrored = reflect(events)
    for name in ("Muon", "Jet"):
        p, q = _three_vectors(events[name]), _three_vectors(mirrored[name])
        np.testing.assert_allclose(q, p * np.array([1.0, -1.0, -1.0]), rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(_flat(mirrored[name].pt), _flat(events[name].pt))
        twice = reflect(mirrored)
        np.testing.assert_array_equal(_flat(twice[name].eta), _flat(events[name].eta))
        np.testing.assert_array_equal(_flat(twice[name].phi), _flat(events[name].phi))
    np.testing.assert_allclose(dimuon_mass(mirrored), dimuon_mass(events), rtol=1e-5)
    np.testing.assert_array_equal(_flat(mirrored.Muon.charge), _flat(events.Muon.charge))
    assert mirrored.Jet.eta.type == events.Jet.eta.type  # the dtype is kept


def test_reflect_some_mirrors_about_the_requested_share_and_nothing_else():
    events = make_collider_events(4000, seed=2)
    out = reflect_some(events, np.random.default_rng(0))
    eta, eta0 = ak.to_numpy(out.Jet.eta[:, 0]), ak.to_numpy(events.Jet.eta[:, 0])
    flipped = eta == -eta0
    assert np.all(flipped | (eta == eta0))
    assert abs(flipped.mean() - 0.5) < 4 * 0.5 / np.sqrt(len(events))
    with pytest.raises(InputError, match="probability"):
        reflect_some(events, np.random.default_rng(0), probability=1.5)
    with pytest.raises(InputError, match="mask"):
        reflect(events, np.ones(3, bool))


def test_symmetrised_log_prob_is_the_log_of_the_mean_density():
    a, b = np.array([-3.0, 0.5, 2.0]), np.array([-1.0, 0.5, -40.0])
    np.testing.assert_allclose(symmetrised_log_prob(a, b), np.log(0.5 * (np.exp(a) + np.exp(b))), rtol=1e-12)
    # no underflow where both densities are tiny
    np.testing.assert_allclose(symmetrised_log_prob([-800.0], [-800.0]), [-800.0], rtol=1e-15)


def test_mirror_is_the_reflection_of_p_y_its_own_inverse_and_composes_with_r_to_eta_flip():
    events = make_collider_events(300, seed=3)
    mirrored = mirror(events)
    for name in ("Muon", "Jet"):
        p, q = _three_vectors(events[name]), _three_vectors(mirrored[name])
        np.testing.assert_allclose(q, p * np.array([1.0, -1.0, 1.0]), rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(_flat(mirror(mirrored)[name].phi), _flat(events[name].phi))
        # R ∘ M: η → −η alone
        both = reflect(mirrored)
        np.testing.assert_array_equal(_flat(both[name].eta), -_flat(events[name].eta))
        np.testing.assert_array_equal(_flat(both[name].phi), _flat(events[name].phi))
    np.testing.assert_allclose(dimuon_mass(mirrored), dimuon_mass(events), rtol=1e-5)
    np.testing.assert_array_equal(_flat(mirrored.Muon.charge), _flat(events.Muon.charge))
    out = mirror_some(make_collider_events(4000, seed=4), np.random.default_rng(1))
    flipped = ak.to_numpy(out.Jet.phi[:, 0]) != ak.to_numpy(make_collider_events(4000, seed=4).Jet.phi[:, 0])
    assert abs(flipped.mean() - 0.5) < 4 * 0.5 / np.sqrt(4000)
    with pytest.raises(InputError, match="mirror_some: probability"):
        mirror_some(events, np.random.default_rng(0), probability=-0.1)
    with pytest.raises(InputError, match="mirror: mask"):
        mirror(events, np.ones(3, bool))
