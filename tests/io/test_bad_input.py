"""Every bad input gets an InputError that names the file, branch or value — and a CLI exit code 2."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from evgen.cli import main
from evgen.errors import InputError
from evgen.events import collider_events, toy_events
from evgen.io import Layout, iterate_events, read_events, write_events
from tests.conftest import make_collider_events


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nope\.root: file not found"):
        read_events(tmp_path / "nope.root")


def test_not_a_root_file(tmp_path):
    path = tmp_path / "text.root"
    path.write_text("this is not ROOT\n" * 100)
    with pytest.raises(InputError, match=r"text\.root: not a readable ROOT file"):
        read_events(path)


def test_truncated_file(collider_file, tmp_path):
    path, _ = collider_file
    data = path.read_bytes()
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated.root"):
        read_events(truncated)


def test_missing_tree(collider_file):
    path, _ = collider_file
    with pytest.raises(InputError, match=r"no TTree or RNTuple 'Delphes'; the file holds the TTree 'Events'"):
        read_events(path, tree="Delphes")


def test_missing_branch(tmp_path):
    with uproot.recreate(tmp_path / "nojets.root") as f:
        f.mktree("Events", {"Muon_pt": "var * float32"})
        f["Events"].extend({"Muon_pt": ak.Array([[1.0, 2.0]])})
    with pytest.raises(InputError, match=r"no branch 'Muon_eta'"):
        read_events(tmp_path / "nojets.root")


def test_wrong_branch_type(tmp_path):
    layout = Layout.from_mapping(
        {"Jet": {"pt": "jet_pt", "eta": "jet_pt", "phi": "jet_pt", "mass": "jet_pt"}}
    )
    with uproot.recreate(tmp_path / "flat.root") as f:
        f.mktree("Events", {"jet_pt": np.float32})
        f["Events"].extend({"jet_pt": np.ones(3, np.float32)})
    with pytest.raises(InputError, match=r"branch 'jet_pt' holds .*expected one list of numbers per event"):
        read_events(tmp_path / "flat.root", layout=layout)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_named(tmp_path, bad):
    events = make_collider_events(20, seed=3)
    pt = ak.to_list(events.Jet.pt)
    pt[7][0] = bad
    write_events(tmp_path / "bad.root", _replace_jet_pt(events, pt))
    with pytest.raises(InputError, match=rf"branch 'Jet_pt' has value {bad} in entry 7"):
        read_events(tmp_path / "bad.root")
    with pytest.raises(InputError, match="entry 7"):
        list(iterate_events(tmp_path / "bad.root", step_size=5))


def _replace_jet_pt(events, pt):
    jets = {f: events.Jet[f] for f in ("eta", "phi", "mass")}
    jets["pt"] = ak.values_astype(ak.Array(pt), np.float32)
    muons = {f: events.Muon[f] for f in ak.fields(events.Muon)}
    return collider_events({"Muon": muons, "Jet": jets})


def test_empty_tree(tmp_path):
    events = make_collider_events(5)
    with uproot.recreate(tmp_path / "empty.root") as f:
        f.mktree(
            "Events",
            {
                "Muon": events.Muon[["pt", "eta", "phi", "mass"]].type.content,
                "Jet": events.Jet[["pt", "eta", "phi", "mass"]].type.content,
            },
        )
    with pytest.raises(InputError, match="holds no events"):
        read_events(tmp_path / "empty.root")


def test_bad_weights_and_shapes():
    with pytest.raises(InputError, match=r"weight of event 1 is nan"):
        toy_events(np.zeros((3, 2)), weight=np.array([1.0, np.nan, 1.0]))
    with pytest.raises(InputError, match=r"weights have shape \(2,\), expected \(3,\)"):
        toy_events(np.zeros((3, 2)), weight=np.ones(2))
    with pytest.raises(InputError, match=r"shape \(n, d\)"):
        toy_events(np.zeros((3, 2, 2)))
    with pytest.raises(InputError, match="NaN or inf"):
        toy_events(np.array([[0.0], [np.inf]]))


def test_bad_branch_mapping():
    from evgen.errors import ConfigError

    with pytest.raises(ConfigError, match=r"lacks \['mass'\]"):
        Layout.from_mapping({"Jet": {"pt": "a", "eta": "b", "phi": "c"}})
    with pytest.raises(ConfigError, match="non-empty mapping"):
        Layout.from_mapping({})


def test_cli_bad_inputs_exit_2_without_output(tmp_path, capsys, collider_file):
    path, _ = collider_file
    (tmp_path / "junk.root").write_bytes(b"\x00" * 1000)
    cases = [
        ["data", "info", str(tmp_path / "missing.root")],
        ["data", "info", str(tmp_path / "junk.root")],
        ["data", "info", str(path), "--tree", "nope"],
        ["validate", str(path), str(tmp_path / "missing.root"), "-o", str(tmp_path / "val")],
        ["data", "info", str(path), "--branch-map", str(tmp_path / "missing.json")],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("evgen: error: ") and "Traceback" not in err
    assert not (tmp_path / "val").exists()


def test_cli_nonsense_options_exit_nonzero(collider_file, tmp_path):
    path, _ = collider_file
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(path), str(path), "-o", str(tmp_path / "v"), "--bins", "-3"])
    assert exc.value.code == 2
    assert not (tmp_path / "v").exists()
