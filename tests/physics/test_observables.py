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
