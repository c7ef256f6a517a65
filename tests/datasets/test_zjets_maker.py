"""The Pythia 8 + FastJet Z → μμ + jets maker and the shipped small sample."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import awkward as ak
import evgen_datasets
import numpy as np
import pytest
import vector
from evgen_datasets.zjets_cli import add_zjets_command, summarize_sample
from evgen_datasets.zjets_maker import (
    JET_R,
    MUON_MASS,
    PYTHIA_SEED_MAX,
    _select_jets,
    _z_muons,
    make_zjets,
    pythia_seed,
)

from evgen.errors import ConfigError, EvgenError
from evgen.io import read_events, read_metadata

vector.register_awkward()

SEED = 7
N_EVENTS = 150
SHIPPED = Path(evgen_datasets.__file__).parent / "data" / "zjets_small.root"


def _needs_generators() -> None:
    pytest.importorskip("pythia8mc")
    pytest.importorskip("fastjet")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ak.Array]:
    _needs_generators()
    path = make_zjets(
        N_EVENTS, tmp_path_factory.mktemp("zjets") / "z.root", seed=SEED, progress=False, chunk_size=64
    )
    return path, read_events(path)


def _assert_same_events(a: ak.Array, b: ak.Array) -> None:
    assert len(a) == len(b)
    for coll in ("Muon", "Jet"):
        for field in ak.fields(a[coll]):
            assert ak.array_equal(a[coll][field], b[coll][field]), f"{coll}.{field} differs"


# -- physics of the generated events ----------------------------------------------------


def test_event_count_and_numbers(sample):
    path, events = sample
    assert len(events) == N_EVENTS
    assert np.array_equal(ak.to_numpy(events.event), np.arange(1, N_EVENTS + 1))
    assert np.all(ak.to_numpy(events.weight) == 1.0)


def test_two_opposite_charge_muons(sample):
    _, events = sample
    assert np.all(ak.to_numpy(ak.num(events.Muon, axis=1)) == 2)
    charge = events.Muon.charge
    assert set(np.unique(ak.to_numpy(ak.flatten(charge))).tolist()) == {-1, 1}
    assert np.all(ak.to_numpy(ak.sum(charge, axis=1)) == 0)
    assert np.allclose(ak.to_numpy(ak.flatten(events.Muon.mass)), MUON_MASS, rtol=1e-6)


def test_jet_multiplicity_and_acceptance(sample):
    _, events = sample
    counts = ak.to_numpy(ak.num(events.Jet, axis=1))
    assert counts.min() >= 1 and counts.max() <= 3
    assert np.mean(counts == 1) > 0.5  # most Z + jets events have one jet (README: 73 %)
    jets = ak.flatten(events.Jet)
    assert ak.all(jets.pt > 20.0)
    assert ak.all(abs(jets.eta) < 5.0)
    assert ak.all(jets.mass >= 0.0)


def test_every_jet_pair_is_separated(sample):
    _, events = sample
    first, second = ak.unzip(ak.combinations(events.Jet, 2))
    delta_r = ak.flatten(first.deltaR(second))
    assert len(delta_r) > 0  # the sample has multi-jet events
    assert ak.all(delta_r > JET_R)


def test_pt_ordering(sample):
    _, events = sample
    for coll in ("Muon", "Jet"):
        pt = events[coll].pt
        assert ak.all(pt[:, :-1] >= pt[:, 1:]), f"{coll} not pT-ordered"


def test_dimuon_mass_is_a_z_peak(sample):
    _, events = sample
    mass = ak.to_numpy((events.Muon[:, 0] + events.Muon[:, 1]).mass)
    # 23:mMin = 50 GeV; bare muons lose photons, so a small radiative tail falls below it
    assert np.mean(mass > 50.0) > 0.95
    assert np.mean((mass > 81.0) & (mass < 101.0)) > 0.7


def test_values_are_finite_float32(sample):
    path, events = sample
    for coll in ("Muon", "Jet"):
        for field in ("pt", "eta", "phi", "mass"):
            values = ak.to_numpy(ak.flatten(events[coll][field]))
            assert values.dtype == np.float32
            assert np.all(np.isfinite(values))
        phi = ak.to_numpy(ak.flatten(events[coll].phi))
        assert np.all(np.abs(phi) <= np.pi + 1e-6)


def test_metadata_records_provenance(sample):
    path, _ = sample
    meta = read_metadata(path)
    assert meta["generator"] == "pythia8"
    assert meta["seed"] == SEED and meta["jobs"] == 1
    assert meta["pythia_seeds"] == [pythia_seed(SEED, 0)]
    assert "WeakBosonAndParton:qg2gmZq = on" in meta["settings"]
    assert "23:onIfAny = 13" in meta["settings"]
    assert meta["pythia_version"].startswith("8.")
    assert 0.5 < meta["acceptance"] < 1.0
    assert meta["n_events"] == N_EVENTS


# -- reproducibility --------------------------------------------------------------------


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="evgen")
    data = parser.add_subparsers().add_parser("data")
    add_zjets_command({"data": data.add_subparsers()})
    args = parser.parse_args(["data", *argv])
    return args.func(args)


def test_cli_same_seed_gives_identical_events(sample, tmp_path, capsys):
    _, events = sample
    out = tmp_path / "again.root"
    code = _cli(
        [
            "zjets",
            "-n",
            str(N_EVENTS),
            "-o",
            str(out),
            "--seed",
            str(SEED),
            "--no-progress",
            "--chunk-size",
            "1000",
        ]
    )
    assert code == 0
    _assert_same_events(events, read_events(out))
    printed = capsys.readouterr().out
    fraction = np.mean(ak.to_numpy(ak.num(events.Jet, axis=1)) == 1)
    assert f"wrote {N_EVENTS} events" in printed
    assert f"1 jet {100 * fraction:.1f} %" in printed


def test_different_seed_gives_different_events(sample, tmp_path):
    _, events = sample
    other = read_events(make_zjets(20, tmp_path / "other.root", seed=SEED + 1, progress=False))
    assert not ak.array_equal(events.Muon.pt[:20], other.Muon.pt)


def test_two_jobs_split_the_work_deterministically(sample, tmp_path):
    _, events = sample
    out = make_zjets(12, tmp_path / "two.root", seed=SEED, jobs=2, progress=False)
    both = read_events(out)
    assert len(both) == 12
    assert np.array_equal(ak.to_numpy(both.event), np.arange(1, 13))
    # job 0 uses the same Pythia seed as a one-job run: its share is that run's start
    _assert_same_events(both[:6], events[:6])
    assert not ak.array_equal(both.Muon.pt[6:], both.Muon.pt[:6])
    assert read_metadata(out)["events_per_job"] == [6, 6]
    assert not list(tmp_path.glob(".*"))  # temporary parts are cleaned up


# -- building blocks (no Pythia needed) -----------------------------------------------


def test_pythia_seed_is_deterministic_distinct_and_in_range():
    seeds = [pythia_seed(s, j) for s in range(20) for j in range(8)]
    assert seeds == [pythia_seed(s, j) for s in range(20) for j in range(8)]
    assert len(set(seeds)) == len(seeds)
    assert all(1 <= s <= PYTHIA_SEED_MAX for s in seeds)


def test_select_jets_cuts_orders_separates_and_truncates():
    def jet(pt: float, eta: float, phi: float) -> dict[str, float]:
        return {"pt": pt, "eta": eta, "phi": phi, "mass": 5.0}

    events = ak.Array(
        [
            [jet(30, 0, 0), jet(50, 0.3, 0.1), jet(25, 2, 2), jet(19, -1, -2), jet(40, 5.2, 1)],
            [jet(21, 0, 0), jet(22, 1, 1), jet(23, -1, 2), jet(24, 3, -2), jet(60, 0.1, 3.0)],
            [jet(15, 0, 0)],
        ],
        with_name="Momentum4D",
    )
    selected = _select_jets(events)
    # event 0: 50 GeV jet shadows the 30 GeV jet at dR = 0.32; 19 GeV and |eta| = 5.2 jets cut
    assert ak.to_list(selected.pt) == [[50, 25], [60, 24, 23], []]
    assert ak.to_list(selected[0].eta) == [0.3, 2.0]


def test_z_muons_follow_same_id_ancestry():
    # 0 system, 1 Z, 2 mu- (Z), 3 mu+ (Z), 4 mu- copy of 2 after photon emission, 5 photon,
    # 6 hadron, 7 mu- from hadron decay (not a Z muon), 8 mu+ copy of 3
    pid = np.array([90, 23, 13, -13, 13, 22, 411, 13, -13])
    status = np.array([-11, -22, -23, -23, 1, 1, -91, 1, 1])
    mother1 = np.array([-1, -1, 1, 1, 2, 2, -1, 6, 3])
    mother2 = np.full(9, -1)
    assert _z_muons(pid, status, (mother1, mother2)).tolist() == [4, 8]


# -- options and missing dependencies ----------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "positive integer"),
        ({"n": -5}, "positive integer"),
        ({"n": 2.5}, "positive integer"),
        ({"jobs": 0}, "jobs"),
        ({"seed": -1}, "seed"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"ecm": -1.0}, "ecm"),
        ({"pthat_min": float("nan")}, "pthat_min"),
        ({"output": "missing_dir/z.root"}, "does not exist"),
        ({"output": "z.txt"}, ".root"),
    ],
)
def test_bad_options_raise_config_error(tmp_path, kwargs, message):
    options = {"n": 10, "output": "z.root"} | kwargs
    output = tmp_path / options.pop("output")
    with pytest.raises(ConfigError, match=message):
        make_zjets(options.pop("n"), output, progress=False, **options)


def test_output_directory_is_rejected(tmp_path):
    (tmp_path / "d.root").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        make_zjets(10, tmp_path / "d.root", progress=False)


def test_missing_pythia_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pythia8mc", None)
    with pytest.raises(EvgenError, match=r"pip install 'evgen-hep\[data\]'"):
        make_zjets(10, tmp_path / "z.root", progress=False)
    assert not (tmp_path / "z.root").exists()


# -- the shipped sample ------------------------------------------------------------------


def test_shipped_sample_matches_the_reference_sample():
    assert SHIPPED.is_file(), f"{SHIPPED} is missing"
    assert SHIPPED.stat().st_size < 8 * 1024**2
    s = summarize_sample(SHIPPED)
    assert 25_000 <= s["events"] <= 40_000
    # reference: /work/shared/data/zjets/README.md (767k events): 72.8 / 20.3 / 6.9 %, 84 % in the Z window
    assert s["1_jet_fraction"] == pytest.approx(0.728, abs=0.02)
    assert s["2_jet_fraction"] == pytest.approx(0.203, abs=0.02)
    assert s["3_jet_fraction"] == pytest.approx(0.069, abs=0.015)
    assert s["z_window_fraction"] == pytest.approx(0.84, abs=0.02)
    meta = read_metadata(SHIPPED)
    assert meta["generator"] == "pythia8" and meta["seed"] == 1 and meta["jobs"] == 2


def test_shipped_sample_physics():
    events = read_events(SHIPPED)
    assert np.all(ak.to_numpy(ak.num(events.Muon, axis=1)) == 2)
    assert np.all(ak.to_numpy(ak.sum(events.Muon.charge, axis=1)) == 0)
    counts = ak.to_numpy(ak.num(events.Jet, axis=1))
    assert counts.min() == 1 and counts.max() == 3
    assert ak.all(events.Jet.pt > 20.0) and ak.all(abs(events.Jet.eta) < 5.0)
    first, second = ak.unzip(ak.combinations(events.Jet, 2))
    assert ak.all(first.deltaR(second) > JET_R)
    assert ak.all(events.Jet.pt[:, :-1] >= events.Jet.pt[:, 1:])
    assert ak.all(events.Muon.pt[:, 0] >= events.Muon.pt[:, 1])
