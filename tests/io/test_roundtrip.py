"""ROOT I/O: exact round trips, NanoAOD names, chunking, layouts, atomic writes."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from evgen.errors import InputError
from evgen.io import EventWriter, Layout, iterate_events, read_events, read_metadata, write_events
from tests.conftest import make_collider_events


def _assert_same_events(a: ak.Array, b: ak.Array) -> None:
    assert len(a) == len(b)
    for coll in ("Muon", "Jet"):
        for field in ak.fields(a[coll]):
            assert ak.all(ak.num(a[coll], axis=1) == ak.num(b[coll], axis=1))
            assert ak.array_equal(a[coll][field], b[coll][field]), (coll, field)
    np.testing.assert_array_equal(ak.to_numpy(a.weight), ak.to_numpy(b.weight))


def test_read_write_read_is_exact(collider_file, tmp_path):
    path, original = collider_file
    first = read_events(path)
    write_events(tmp_path / "again.root", first)
    second = read_events(tmp_path / "again.root")
    _assert_same_events(first, second)
    np.testing.assert_array_equal(ak.to_numpy(first.event), ak.to_numpy(second.event))
    # float32 kinematics are stored exactly; weights in float64
    _assert_same_events(first, original)


def test_nanoaod_branch_names_and_metadata(collider_file):
    path, events = collider_file
    tree = uproot.open(path)["Events"]
    names = set(tree.keys())
    for branch in (
        "nMuon",
        "Muon_pt",
        "Muon_eta",
        "Muon_phi",
        "Muon_mass",
        "Muon_charge",
        "nJet",
        "Jet_pt",
        "Jet_mass",
        "genWeight",
        "run",
        "luminosityBlock",
        "event",
    ):
        assert branch in names
    np.testing.assert_array_equal(tree["nJet"].array(library="np"), ak.to_numpy(ak.num(events.Jet, axis=1)))
    assert tree["event"].array(library="np").tolist() == list(range(1, len(events) + 1))
    meta = read_metadata(path)
    assert meta["generator"] == "test" and meta["n_events"] == len(events) and "evgen_version" in meta


def test_vector_behaviour_after_read(collider_file):
    path, _ = collider_file
    events = read_events(path)
    mass = ak.to_numpy((events.Muon[:, 0] + events.Muon[:, 1]).mass)
    pt, eta, phi, m = (ak.to_numpy(events.Muon[f]).astype(np.float64) for f in ("pt", "eta", "phi", "mass"))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    expected = np.sqrt(e.sum(1) ** 2 - px.sum(1) ** 2 - py.sum(1) ** 2 - pz.sum(1) ** 2)
    np.testing.assert_allclose(mass, expected, rtol=1e-3)


def test_chunked_iteration_equals_full_read(collider_file):
    path, _ = collider_file
    full = read_events(path)
    chunks = list(iterate_events(path, step_size=128))
    assert [len(c) for c in chunks] == [128] * 4 + [88]
    _assert_same_events(ak.concatenate(chunks), full)


def test_several_files_and_entry_stop(tmp_path):
    a, b = make_collider_events(50, seed=3), make_collider_events(70, seed=4)
    write_events(tmp_path / "a.root", a)
    write_events(tmp_path / "b.root", b)
    both = read_events([tmp_path / "a.root", tmp_path / "b.root"])
    assert len(both) == 120
    assert len(read_events([tmp_path / "a.root", tmp_path / "b.root"], entry_stop=60)) == 60


def test_user_layout_fixed_size_muons_and_jagged_jets(tmp_path):
    rng = np.random.default_rng(5)
    n = 40
    counts = rng.integers(1, 4, n)
    jets = ak.unflatten(rng.uniform(20, 100, counts.sum()), counts)
    with uproot.recreate(tmp_path / "flat.root") as f:
        f.mktree(
            "tree",
            {
                "mu_pt": np.dtype((np.float32, (2,))),
                "mu_eta": np.dtype((np.float32, (2,))),
                "mu_phi": np.dtype((np.float32, (2,))),
                "jet_pt": "var * float64",
                "jet_eta": "var * float64",
                "jet_phi": "var * float64",
                "jet_m": "var * float64",
                "w": np.float64,
            },
        )
        mu = rng.uniform(1, 2, (n, 2)).astype(np.float32)
        f["tree"].extend(
            {
                "mu_pt": mu,
                "mu_eta": mu,
                "mu_phi": mu,
                "jet_pt": jets,
                "jet_eta": jets * 0,
                "jet_phi": jets * 0,
                "jet_m": jets * 0 + 5,
                "w": np.arange(n, dtype=float),
            }
        )
    layout = Layout.from_mapping(
        {
            "Muon": {"pt": "mu_pt", "eta": "mu_eta", "phi": "mu_phi", "mass": 0.1056584},
            "Jet": {"pt": "jet_pt", "eta": "jet_eta", "phi": "jet_phi", "mass": "jet_m"},
            "weight": "w",
        }
    )
    events = read_events(tmp_path / "flat.root", tree="tree", layout=layout)
    assert ak.all(ak.num(events.Muon, axis=1) == 2)
    np.testing.assert_array_equal(ak.to_numpy(ak.num(events.Jet, axis=1)), counts)
    np.testing.assert_allclose(ak.to_numpy(events.Muon.mass[:, 1]), 0.1056584, rtol=1e-6)
    np.testing.assert_array_equal(ak.to_numpy(events.weight), np.arange(n))
    assert ak.all(events.Jet.pt == jets)


def test_writer_streams_chunks_and_numbers_events(tmp_path):
    with EventWriter(tmp_path / "s.root", metadata={"seed": 7}, first_event=1001) as w:
        for seed in range(3):
            w.extend(make_collider_events(100, seed=seed))
    events = read_events(tmp_path / "s.root")
    assert len(events) == 300
    assert ak.to_numpy(events.event).tolist() == list(range(1001, 1301))
    assert read_metadata(tmp_path / "s.root")["seed"] == 7


def test_failed_write_leaves_no_file_and_keeps_old_one(tmp_path):
    target = tmp_path / "out.root"
    with pytest.raises(RuntimeError):
        with EventWriter(target) as w:
            w.extend(make_collider_events(10))
            raise RuntimeError("crash in the middle")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    write_events(target, make_collider_events(10))
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        with EventWriter(target) as w:
            w.extend(make_collider_events(20))
            raise RuntimeError("crash")
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.root"]


def test_empty_write_is_refused(tmp_path):
    with pytest.raises(InputError, match="no events"):
        write_events(tmp_path / "e.root", make_collider_events(10)[:0])
    assert not (tmp_path / "e.root").exists()
