"""Files evgen writes, TTree or RNTuple, are NanoAOD for coffea: its NanoAOD schema reads them with physics methods."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from evgen.io import write_events
from evgen.physics.observables import dimuon_mass
from tests.conftest import make_collider_events

coffea_nanoevents = pytest.importorskip("coffea.nanoevents")


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::DeprecationWarning", "ignore::FutureWarning")
@pytest.mark.parametrize("fmt", ["ttree", "rntuple"])
def test_coffea_reads_generated_file_and_computes_mmumu(tmp_path, fmt):
    events = make_collider_events(300, seed=11, weighted=True)
    path = write_events(tmp_path / "gen.root", events, metadata={"generator": "test"}, format=fmt)
    nano = coffea_nanoevents.NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=coffea_nanoevents.NanoAODSchema, mode="eager"
    ).events()
    assert {"Muon", "Jet", "genWeight", "run", "luminosityBlock", "event"} <= set(nano.fields)
    muons = nano.Muon
    m_coffea = ak.to_numpy((muons[:, 0] + muons[:, 1]).mass)
    np.testing.assert_allclose(m_coffea, dimuon_mass(events), rtol=1e-3)
    np.testing.assert_array_equal(ak.to_numpy(nano.genWeight), ak.to_numpy(events.weight))
    assert ak.to_numpy(nano.event).tolist() == list(range(1, 301))
    np.testing.assert_array_equal(ak.to_numpy(ak.num(nano.Jet)), ak.to_numpy(ak.num(events.Jet)))
