"""The README's main job, at a tiny size: train → generate → validate end to end."""

from __future__ import annotations

import json

import numpy as np

from evgen.cli import main
from evgen.io import read_events, read_metadata


def test_demo_quick_runs_the_whole_chain(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "-o", str(out), "--seed", "3"]) == 0
    report = json.loads((out / "demo_report.json").read_text())
    generated = read_events(out / "generated.root")
    assert len(generated) == report["events_generated"] == 4000
    assert np.isfinite(generated.weight.to_numpy()).all() and (generated.weight.to_numpy() >= 0).all()
    assert read_metadata(out / "generated.root")["generator"] == "zjets-inn"
    # the training half against the independent truth half is the statistical floor: χ²/ndf ≈ 1
    floor = report["median_chi2_ndf_training_sample"]
    assert set(floor) == {"1", "2", "3"} and all(0.4 < v < 2.0 for v in floor.values())
    assert (out / "validation" / "summary.md").exists()
    assert "zjets-inn" in (out / "validation" / "report.html").read_text()
    assert (out / "run" / "provenance.json").exists()
