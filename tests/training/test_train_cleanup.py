"""A training refused for bad input leaves nothing behind; an existing run directory is never deleted."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from evgen.cli import main
from evgen.events import collider_events
from evgen.io import write_events
from tests.conftest import make_collider_events


@pytest.fixture
def nan_file(tmp_path):
    events = make_collider_events(200, seed=3)
    pt = ak.to_list(events.Jet.pt)
    pt[11][0] = float("nan")
    jets = {f: events.Jet[f] for f in ("eta", "phi", "mass")}
    jets["pt"] = ak.values_astype(ak.Array(pt), np.float32)
    muons = {f: events.Muon[f] for f in ak.fields(events.Muon)}
    return write_events(tmp_path / "nan.root", collider_events({"Muon": muons, "Jet": jets}))


def test_nan_input_leaves_no_run_directory(nan_file, tmp_path, capsys):
    run = tmp_path / "runs" / "z"
    code = main(["train", "zjets-inn", "--data", str(nan_file), "-o", str(run), "--no-progress"])
    assert code == 2
    assert "nan.root: branch 'Jet_pt' has value nan in entry 11" in capsys.readouterr().err
    assert not run.exists()


def test_an_existing_directory_is_kept(nan_file, tmp_path):
    run = tmp_path / "mine"
    run.mkdir()
    (run / "notes.txt").write_text("keep me")
    assert main(["train", "zjets-inn", "--data", str(nan_file), "-o", str(run), "--no-progress"]) == 2
    assert (run / "notes.txt").read_text() == "keep me"


def test_a_run_with_a_checkpoint_is_kept(tmp_path, monkeypatch):
    """Interrupted after the first checkpoint: the directory stays so that rerunning resumes."""
    from evgen_zjets_inn.generator import ZJetsINN
    from evgen_zjets_inn.synthetic import toy_zjets_events

    from evgen.training.api import train_generator

    data = write_events(tmp_path / "z.root", toy_zjets_events(600, seed=1))

    def fit_then_fail(self, events, run_dir=None, progress=True, **_):
        (run_dir / "checkpoints").mkdir(parents=True)
        (run_dir / "checkpoints" / "base.pt").write_bytes(b"state")
        raise KeyboardInterrupt

    monkeypatch.setattr(ZJetsINN, "fit", fit_then_fail)
    with pytest.raises(KeyboardInterrupt):
        train_generator("zjets-inn", [data], tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "checkpoints" / "base.pt").exists()
    assert (tmp_path / "run" / "config.json").exists()
