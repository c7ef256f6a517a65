"""Observables against hand-written formulas."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from evgen.errors import InputError
from evgen.physics.observables import (
    dimuon_mass,
    jet_pair_separations,
    multiplicity_observables,
    observable_spec,
    select_multiplicity,
    sum_pt,
)
from tests.conftest import make_collider_events


def _np(events, coll, field):
    return ak.to_numpy(ak.pad_none(events[coll][field], 3, axis=1)).astype(np.float64)


def test_dimuon_mass_matches_formula():
    ev = make_collider_events(300, seed=4)
    pt, eta, phi, m = (_np(ev, "Muon", f)[:, :2] for f in ("pt", "eta", "phi", "mass"))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    m2 = e.sum(1) ** 2 - px.sum(1) ** 2 - py.sum(1) ** 2 - pz.sum(1) ** 2
    np.testing.assert_allclose(dimuon_mass(ev), np.sqrt(m2), rtol=1e-9)


def test_jet_pair_separations_wrap_phi():
    ev = select_multiplicity(make_collider_events(600, seed=5), 3)
    seps = jet_pair_separations(ev, 3)
    assert set(seps) == {f"{k}_j{i}j{j}" for k in ("deta", "dphi", "dR") for i, j in ((1, 2), (1, 3), (2, 3))}
    eta, phi = _np(ev, "Jet", "eta"), _np(ev, "Jet", "phi")
    dphi = (phi[:, 0] - phi[:, 2] + np.pi) % (2 * np.pi) - np.pi
    np.testing.assert_allclose(np.abs(seps["dphi_j1j3"]), np.abs(dphi), atol=1e-5)
    assert np.all(np.abs(seps["dphi_j1j3"]) <= np.pi + 1e-6)
    np.testing.assert_allclose(seps["dR_j1j3"], np.hypot(eta[:, 0] - eta[:, 2], dphi), atol=1e-5)


def test_sum_pt_of_back_to_back_is_zero():
    from evgen.events import collider_events

    muons = {
        "pt": ak.Array([[40.0, 10.0]]),
        "eta": ak.Array([[0.3, -1.0]]),
        "phi": ak.Array([[0.0, np.pi]]),
        "mass": ak.Array([[0.1, 0.1]]),
    }
    jets = {
        "pt": ak.Array([[30.0]]),
        "eta": ak.Array([[2.0]]),
        "phi": ak.Array([[np.pi]]),
        "mass": ak.Array([[5.0]]),
    }
    assert sum_pt(collider_events({"Muon": muons, "Jet": jets}))[0] == pytest.approx(0.0, abs=1e-9)


def test_multiplicity_observables_names_and_check():
    ev = make_collider_events(300, seed=6)
    obs = multiplicity_observables(select_multiplicity(ev, 2), 2)
    assert {"pt_mu1", "pt_j2", "mass_j2", "m_mumu", "sum_pt", "dR_j1j2"} <= set(obs)
    assert "mass_mu1" not in obs and "pt_j3" not in obs
    with pytest.raises(InputError, match=r"got events with \[1, 2, 3\] jets"):
        multiplicity_observables(ev, 2)
    assert observable_spec("dR_j1j2").range == (0.0, 8.0)


def test_dimuon_pt_and_rapidity_against_hand_computed_four_vectors():
    """p_T,μμ and y_μμ from px, py, pz, E summed by hand (m_μ = 0.10566 GeV)."""
    from evgen.physics.observables import dimuon_pt, dimuon_rapidity

    ev = make_collider_events(500, seed=11)
    mu = ev["Muon"]
    pt, eta, phi = (ak.to_numpy(mu[f][:, :2]).astype(np.float64) for f in ("pt", "eta", "phi"))
    m = ak.to_numpy(mu["mass"][:, :2]).astype(np.float64)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    px, py, pz, e = (a.sum(axis=1) for a in (px, py, pz, e))
    np.testing.assert_allclose(dimuon_pt(ev), np.hypot(px, py), rtol=1e-12)
    np.testing.assert_allclose(dimuon_rapidity(ev), 0.5 * np.log((e + pz) / (e - pz)), rtol=1e-9, atol=1e-12)
    obs = multiplicity_observables(select_multiplicity(ev, 1), 1)
    np.testing.assert_array_equal(obs["pt_mumu"], dimuon_pt(select_multiplicity(ev, 1)))
    assert observable_spec("pt_mumu").log and observable_spec("y_mumu").range == (-5.0, 5.0)
    one_muon = ak.with_field(ev, ev["Muon"][:, :1], "Muon")
    for f, what in ((dimuon_pt, "p_T,μμ"), (dimuon_rapidity, "y_μμ")):
        with pytest.raises(InputError, match=f"{what} needs at least two muons"):
            f(one_muon)


def test_classifier_inputs_leave_out_the_dimuon_system():
    """Eq. (14)'s inputs unchanged by the added observables: saved reweighters keep their width."""
    from evgen.validation.classifier import classifier_features

    ev = select_multiplicity(make_collider_events(200, seed=3), 2)
    _, names = classifier_features(ev, 2)
    assert not {"log_pt_mumu", "pt_mumu", "y_mumu"} & set(names)
    assert len(names) == 3 * 2 + 4 * 2 + 1 + 1  # μ: log p_T, η, φ; j: log p_T, η, φ, m; M_μμ; ΔR_j1j2
