"""The dask path (uproot.dask + dask-awkward + hist.dask) gives the in-memory numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evgen.cli import main
from evgen.io import read_events, write_events
from evgen.validation.compare import validate
from tests.conftest import make_collider_events

pytest.importorskip("dask_awkward")
pytest.importorskip("dask_histogram")


@pytest.fixture
def two_samples(tmp_path):
    ref = [
        write_events(tmp_path / f"ref{i}.root", make_collider_events(700, seed=20 + i, weighted=True))
        for i in range(2)
    ]
    gen = [write_events(tmp_path / "gen.root", make_collider_events(900, seed=30))]
    return ref, gen


def test_dask_and_in_memory_paths_agree(two_samples):
    from evgen.validation.dask_backend import validate_dask

    ref, gen = two_samples
    in_memory = validate(read_events(ref), read_events(gen), plots=False, bins=15)
    with_dask = validate_dask(ref, gen, plots=False, bins=15, scheduler="sync", step_size=250)
    for key in ("reference", "generated"):
        assert with_dask.counts[key] == pytest.approx(in_memory.counts[key], rel=1e-12)
    assert [(r.multiplicity, r.name) for r in with_dask.results] == [
        (r.multiplicity, r.name) for r in in_memory.results
    ]
    for a, b in zip(in_memory.results, with_dask.results, strict=True):
        np.testing.assert_array_equal(a.edges, b.edges)
        np.testing.assert_allclose(b.reference.values(), a.reference.values(), rtol=1e-12)
        np.testing.assert_allclose(b.generated.variances(), a.generated.variances(), rtol=1e-12)
        assert b.comparison.chi2 == pytest.approx(a.comparison.chi2, rel=1e-9)


def test_cli_dask_flag(two_samples, tmp_path):
    ref, gen = two_samples
    out = tmp_path / "val"
    argv = ["validate", ",".join(map(str, ref)), str(gen[0]), "-o", str(out), "--no-plots", "--bins", "10"]
    assert main([*argv, "--dask", "--scheduler", "sync", "--step-size", "300"]) == 0
    dask_rows = json.loads((out / "summary.json").read_text())["observables"]
    assert main(argv) == 0
    memory_rows = json.loads((out / "summary.json").read_text())["observables"]
    assert [r["chi2"] for r in dask_rows] == pytest.approx([r["chi2"] for r in memory_rows], rel=1e-9)
