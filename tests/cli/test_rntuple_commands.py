"""Every command that reads events takes an RNTuple (as uproot >= 5.7 writes it by default)."""

from __future__ import annotations

import json

import pytest

from evgen.cli import main
from evgen.io import write_events
from tests.conftest import make_collider_events, rntuple_copy


@pytest.fixture
def files(tmp_path):
    ttree = write_events(tmp_path / "sample_ttree.root", make_collider_events(600, seed=2, weighted=True))
    return ttree, rntuple_copy(ttree, tmp_path / "sample.root")


def test_data_info(files, capsys):
    ttree, rntuple = files
    assert main(["data", "info", str(ttree), "--json"]) == 0
    from_ttree = json.loads(capsys.readouterr().out)
    assert main(["data", "info", str(rntuple), "--json"]) == 0
    from_rntuple = json.loads(capsys.readouterr().out)
    for key in ("events", "jet_multiplicity", "weights", "kinematics"):
        assert from_rntuple[key] == from_ttree[key], key


@pytest.mark.parametrize("dask", [False, True])
def test_validate(files, tmp_path, dask):
    ttree, rntuple = files
    out = tmp_path / "val"
    extra = ["--dask", "--scheduler", "sync"] if dask else []
    assert (
        main(["validate", str(rntuple), str(ttree), "-o", str(out), "--bins", "8", "--no-plots", *extra]) == 0
    )
    rows = json.loads((out / "summary.json").read_text())["observables"]
    assert {r["multiplicity"] for r in rows} == {1, 2, 3}
    assert all(r["chi2"] == 0.0 for r in rows)  # the same events in both formats
    assert (out / "report.html").exists()


def test_reweight(files, tmp_path):
    pytest.importorskip("evgen_discriminator")
    ttree, rntuple = files
    out = tmp_path / "rw"
    code = main(
        ["reweight", str(rntuple), str(ttree), "-o", str(out), "--epochs", "1", "--no-plots", "--no-progress"]
    )
    assert code == 0
    assert (out / "summary.json").exists()


def test_a_histogram_is_refused_by_name(files, tmp_path, capsys):
    import numpy as np
    import uproot

    with uproot.recreate(tmp_path / "h.root") as f:
        f["Events"] = np.histogram(np.arange(5.0))
    assert main(["data", "info", str(tmp_path / "h.root")]) == 2
    err = capsys.readouterr().err
    assert "'Events' is a histogram (TH1D), expected a TTree or an RNTuple" in err


def test_train_and_discflow_study(tmp_path):
    """Training and a study from RNTuples only (training half and truth half of the shipped sample)."""
    pytest.importorskip("evgen_zjets_inn.discflow")
    from evgen.io import read_events
    from evgen.plugins import get_dataset

    events = read_events(get_dataset("zjets-small").path, entry_stop=4000)
    train = write_events(tmp_path / "train.root", events[0::2], format="rntuple")
    truth = write_events(tmp_path / "truth.root", events[1::2], format="rntuple")
    tiny = {
        "base": {"blocks": 2, "bins": 8, "hidden": 16, "layers": 1},
        "jets": {"blocks": 1, "bins": 8, "hidden": 16, "layers": 1},
        "training": {"epochs": 1, "batch_size": 512},
    }
    (tmp_path / "inn.json").write_text(json.dumps(tiny))
    args = ["train", "zjets-inn", "--data", str(train), "-o", str(tmp_path / "inn"), "--config"]
    assert main([*args, str(tmp_path / "inn.json"), "--no-progress"]) == 0
    study = {
        **tiny,
        "discflow": {"epochs": 1, "batch_size": 512, "discriminator_pretrain_epochs": 1},
        "discriminator": {"layers": 2, "hidden": 16, "batch_size": 1024},
        "reweighter": {"classifier": {"epochs": 1}, "min_events": 20},
    }
    (tmp_path / "study.json").write_text(json.dumps(study))
    code = main(
        ["discflow", "study", "--data", str(train), "--truth", str(truth), "--inn", str(tmp_path / "inn")]
        + [
            "-o",
            str(tmp_path / "study"),
            "--config",
            str(tmp_path / "study.json"),
            "-n",
            "1000",
            "--no-progress",
        ]
    )
    assert code == 0
    assert (tmp_path / "study" / "discflow_study.md").exists()
