"""RNTuples in and out: the same events, fields, metadata and errors as TTrees."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from evgen.errors import InputError
from evgen.io import (
    EventWriter,
    Layout,
    iterate_events,
    num_entries,
    open_tree,
    read_events,
    read_metadata,
    write_events,
)
from tests.conftest import make_collider_events, rntuple_copy


def _assert_identical(a: ak.Array, b: ak.Array) -> None:
    assert ak.fields(a) == ak.fields(b)
    assert len(a) == len(b)
    for name in ak.fields(a):
        assert ak.array_equal(a[name], b[name], check_parameters=False), name
        assert str(ak.type(a[name])) == str(ak.type(b[name])), name


def test_ttree_to_rntuple_to_events_is_exact(collider_file, tmp_path):
    path, original = collider_file
    from_ttree = read_events(path)
    write_events(tmp_path / "r.root", from_ttree, format="rntuple", chunk_size=128)
    assert type(uproot.open(tmp_path / "r.root")["Events"]).__name__.endswith("RNTuple")
    from_rntuple = read_events(tmp_path / "r.root")
    _assert_identical(from_ttree, from_rntuple)
    # and back: RNTuple -> TTree -> events
    write_events(tmp_path / "t.root", from_rntuple)
    _assert_identical(from_ttree, read_events(tmp_path / "t.root"))
    np.testing.assert_array_equal(ak.to_numpy(from_rntuple.weight), ak.to_numpy(original.weight))


def test_both_formats_hold_the_same_fields_and_types(collider_file, tmp_path):
    path, events = collider_file
    write_events(tmp_path / "r.root", events, format="rntuple")
    ttree, rntuple = uproot.open(path)["Events"].arrays(), uproot.open(tmp_path / "r.root")["Events"].arrays()
    assert sorted(ttree.fields) == sorted(rntuple.fields)
    assert {"nMuon", "Muon_pt", "Muon_charge", "nJet", "Jet_mass", "genWeight", "event"} <= set(
        rntuple.fields
    )
    for name in ttree.fields:
        assert str(ak.type(ttree[name])) == str(ak.type(rntuple[name])), name
        assert ak.array_equal(ttree[name], rntuple[name]), name


def test_metadata_reads_back_from_both_formats(tmp_path):
    events = make_collider_events(50, seed=4)
    for fmt in ("ttree", "rntuple"):
        path = write_events(
            tmp_path / f"{fmt}.root", events, metadata={"generator": "g", "seed": 3}, format=fmt
        )
        meta = read_metadata(path)
        assert (meta["generator"], meta["seed"], meta["n_events"]) == ("g", 3, 50)


def test_the_rntuple_uproot_documents_is_read(collider_file, tmp_path):
    """``file["Events"] = {...}`` (uproot >= 5.7) writes an RNTuple; every evgen reader takes it."""
    path, _ = collider_file
    copy = rntuple_copy(path, tmp_path / "copy.root")
    assert uproot.open(copy).classnames()["Events;1"] == "ROOT::RNTuple"
    _assert_identical(read_events(path), read_events(copy))
    assert num_entries(copy) == 600
    full = read_events(copy)
    chunks = list(iterate_events(copy, step_size=128))
    assert [len(c) for c in chunks] == [128] * 4 + [88]
    _assert_identical(ak.concatenate(chunks), full)
    assert read_events(copy, entry_stop=77).event.to_list() == list(range(1, 78))
    # mixed formats in one read
    assert len(read_events([path, copy])) == 1200


def test_branch_mapping_on_an_rntuple(tmp_path):
    events = make_collider_events(80, seed=5)
    with uproot.recreate(tmp_path / "own.root") as f:
        f["tree"] = {
            "mu_pt": ak.to_regular(events.Muon.pt, axis=1),  # fixed size: std::array<float, 2>
            "mu_eta": ak.to_regular(events.Muon.eta, axis=1),
            "mu_phi": ak.to_regular(events.Muon.phi, axis=1),
            "jet_pt": events.Jet.pt,
            "jet_eta": events.Jet.eta,
            "jet_phi": events.Jet.phi,
            "jet_m": events.Jet.mass,
            "w": np.full(80, 2.0),
        }
    layout = Layout.from_mapping(
        {
            "Muon": {"pt": "mu_pt", "eta": "mu_eta", "phi": "mu_phi", "mass": 0.1056584},
            "Jet": {"pt": "jet_pt", "eta": "jet_eta", "phi": "jet_phi", "mass": "jet_m"},
            "weight": "w",
        }
    )
    read = read_events(tmp_path / "own.root", tree="tree", layout=layout)
    assert ak.array_equal(read.Jet.mass, events.Jet.mass, check_parameters=False)
    assert ak.array_equal(read.Muon.pt, events.Muon.pt, check_parameters=False)
    assert np.all(ak.to_numpy(read.weight) == 2.0)
    with pytest.raises(
        InputError,
        match=r"RNTuple 'tree' has no field 'Muon_pt' \(for Muon.pt\); fields like it: \['mu_eta', 'mu_phi', 'mu_pt'\]",
    ):
        read_events(tmp_path / "own.root", tree="tree")


def test_nan_in_an_rntuple_is_named(tmp_path):
    events = make_collider_events(20, seed=3)
    pt = ak.to_list(events.Jet.pt)
    pt[7][0] = np.nan
    with uproot.recreate(tmp_path / "bad.root") as f:
        f["Events"] = {
            "Muon_pt": events.Muon.pt,
            "Muon_eta": events.Muon.eta,
            "Muon_phi": events.Muon.phi,
            "Muon_mass": events.Muon.mass,
            "Jet_pt": ak.values_astype(ak.Array(pt), np.float32),
            "Jet_eta": events.Jet.eta,
            "Jet_phi": events.Jet.phi,
            "Jet_mass": events.Jet.mass,
        }
    with pytest.raises(InputError, match=r"bad\.root: field 'Jet_pt' has value nan in entry 7"):
        read_events(tmp_path / "bad.root")


def test_errors_name_the_object_kind_and_list_what_the_file_holds(collider_file, tmp_path):
    path, events = collider_file
    mixed = tmp_path / "mixed.root"
    with uproot.recreate(mixed) as f:
        f["hist"] = np.histogram(np.arange(10.0))
        f["Truth"] = {"x": np.arange(3.0)}  # an RNTuple
        f.mktree("Old", {"x": np.float64})
        f["Old"].extend({"x": np.arange(3.0)})
    with pytest.raises(InputError) as exc:
        open_tree(mixed, "hist")
    message = str(exc.value)
    assert message.startswith(f"{mixed}: 'hist' is a histogram (TH1D), expected a TTree or an RNTuple")
    assert "the RNTuple 'Truth'" in message and "the TTree 'Old'" in message
    with pytest.raises(
        InputError, match=r"no TTree or RNTuple 'Events'; the file holds the TTree 'Old', the RNTuple 'Truth'"
    ):
        read_events(mixed)
    with pytest.raises(InputError, match=r"'evgen_metadata' is a string \(TObjString\)"):
        read_events(path, tree="evgen_metadata")


def test_streaming_rntuple_writer_is_atomic_and_keeps_the_schema(tmp_path):
    events = make_collider_events(300, seed=6)
    target = tmp_path / "s.root"
    with pytest.raises(RuntimeError, match="stop"):
        with EventWriter(target, format="rntuple") as writer:
            writer.extend(events[:100])
            raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    with EventWriter(target, format="rntuple", first_event=11) as writer:
        for start in range(0, 300, 100):
            writer.extend(events[start : start + 100])
    back = read_events(target)
    assert back.event.to_list() == list(range(11, 311))
    summaries = uproot.open(target)["Events"].cluster_summaries
    assert [s.num_entries for s in summaries] == [100, 100, 100]  # bounded chunks for chunked reading


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"output format 'parquet': expected one of ttree, rntuple"):
        write_events(tmp_path / "x.root", make_collider_events(5), format="parquet")
    assert not (tmp_path / "x.root").exists()
