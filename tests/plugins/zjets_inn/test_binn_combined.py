"""Fig. 14 combined view (``evgen binn combined``): histograms, bands, envelope, chi2, figure, bad input."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest
import torch
from evgen_zjets_inn.binn.combined import (
    augmentation_envelope,
    combined_view,
    leading_jet_pt,
    ptj1_edges,
    shape_chi2,
)
from evgen_zjets_inn.binn.toy import ToyBINN
from evgen_zjets_inn.binn.zjets import ZJetsBINN
from evgen_zjets_inn.synthetic import toy_zjets_events

from evgen.cli import main
from evgen.errors import ConfigError, InputError
from evgen.events import toy_events
from evgen.io import write_events
from evgen.plugins import get_reweighter
from evgen.statistics.uncertainty import band_from_counts

TINY = {
    "base": {"blocks": 2, "bins": 6, "hidden": 16, "layers": 2},
    "jets": {"blocks": 2, "bins": 6, "hidden": 8, "layers": 1},
    "training": {"epochs": 2, "batch_size": 256, "lr_start": 1e-3, "lr_max": 2e-3},
    "data": {"validation_fraction": 0.1},
    "bayes": {"draws": 3},
}
N = 600  # events per draw


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An augmented binn run, a plain one, a truth file and a saved discriminator (as `evgen reweight` OUT)."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("combined")
    train = toy_zjets_events(1500, seed=0)
    augmented = ZJetsBINN(TINY, augmentation={"enabled": True, "a_max": 12.0})
    augmented.fit(train, progress=False)
    augmented.save(root / "augmented")
    plain = ZJetsBINN(TINY, seed=1)
    plain.fit(train, progress=False)
    plain.save(root / "plain")
    truth = toy_zjets_events(3000, seed=9)
    write_events(root / "truth.root", truth)
    rw = get_reweighter("discriminator")(
        {"classifier": {"layers": 2, "hidden": 16, "epochs": 2}, "min_events": 20}
    )
    rw.fit(truth, plain.sample(3000, seed=5, theta="map"), progress=False)
    rw.save(root / "reweight" / "discriminator")
    return {"root": root, "augmented": augmented, "plain": plain, "truth": truth}


class PtWeights:
    """A reweighter whose weights are known: w = 1 + pT,j1 / 100 GeV."""

    def weights(self, events):
        return 1.0 + ak.to_numpy(events.Jet.pt[:, 0]).astype(np.float64) / 100.0


def test_central_histogram_is_the_mean_of_normalised_draws_and_matches_numpy(runs, tmp_path):
    result = combined_view(
        runs["root"] / "plain",
        tmp_path,
        reference=runs["root"] / "truth.root",
        reweighter=PtWeights(),
        n_events=N,
        bins=12,
        seed=4,
        formats=(),
    )
    assert result["draws"] == 3 and result["augmented_run"] is None  # the run's bayes.draws; not augmented
    rows = result["per_bin"]
    edges = np.array([r["pt_low"] for r in rows] + [rows[-1]["pt_high"]])
    truth_pt = ak.to_numpy(runs["truth"].Jet.pt[:, 0]).astype(np.float64)
    np.testing.assert_allclose(edges, ptj1_edges(truth_pt, None, 12))
    assert edges[0] == pytest.approx(np.quantile(truth_pt, 0.001), abs=0.5)
    truth = np.histogram(truth_pt, edges)[0]
    np.testing.assert_allclose([r["truth_fraction"] for r in rows], truth / truth.sum())

    shapes, raw = [], []
    for k in range(3):
        events = runs["plain"].sample(N, seed=4 + k, theta=k)
        pt = ak.to_numpy(events.Jet.pt[:, 0]).astype(np.float64)
        w = ak.to_numpy(events.weight)
        for out, weight in ((shapes, w * (1 + pt / 100)), (raw, w)):
            h = np.histogram(pt, edges, weights=weight)[0]
            out.append(h / h.sum())
    generated = np.array([r["generated_fraction"] for r in rows])
    np.testing.assert_allclose(generated, np.mean(shapes, axis=0), rtol=1e-10)
    np.testing.assert_allclose([r["generated_fraction_not_reweighted"] for r in rows], np.mean(raw, axis=0))
    assert generated.sum() == pytest.approx(1.0)
    assert not np.allclose(np.mean(shapes, axis=0), np.mean(raw, axis=0))  # the weights did something
    # mean D per bin is w/(1+w) of the known weights, averaged over the generated events of the bin
    d = np.array([r["mean_D"] for r in rows], dtype=float)
    centers = 0.5 * (edges[1:] + edges[:-1])
    expected = (1 + centers / 100) / (2 + centers / 100)
    filled = np.isfinite(d)
    assert filled.sum() >= 10
    np.testing.assert_allclose(d[filled], expected[filled], atol=0.5 * np.diff(edges).max() / 100 / 4)


def test_without_reweighter_both_chi2_agree_and_no_d_panel(runs, tmp_path):
    result = combined_view(
        runs["root"] / "plain",
        tmp_path,
        reference=[runs["root"] / "truth.root"],
        n_events=N,
        draws=2,
        bins=10,
        formats=("png",),
    )
    s = result["summary"]
    assert np.isfinite(s["chi2_ndf_reweighted"]) and s["chi2_ndf_reweighted"] == s["chi2_ndf_not_reweighted"]
    assert all(r["mean_D"] is None for r in json.loads((tmp_path / "combined.json").read_text())["per_bin"])
    assert (tmp_path / "combined_ptj1.png").stat().st_size > 10_000
    assert np.isnan(s["median_augmentation_spread_percent"])  # plain run: no augmentation band


def test_augmentation_envelope_contains_the_nominal_shape(runs):
    gen = runs["augmented"]
    pt, w = leading_jet_pt(toy_zjets_events(2000, seed=3))
    edges = ptj1_edges(pt, w, 10)
    env = augmentation_envelope(gen, [12.0, 0.0, 4.0, 4.0], N, edges, seed=2)
    assert env["a_values"] == [0.0, 4.0, 12.0] and env["a_nominal"] == 0.0
    nominal = env["shapes"][0]
    assert np.all(env["low"] <= nominal) and np.all(nominal <= env["high"])
    finite = np.isfinite(env["rel_low"])
    assert np.all(env["rel_low"][finite] <= 0) and np.all(env["rel_high"][finite] >= 0)
    np.testing.assert_allclose(env["shapes"].sum(axis=1), 1.0)
    assert not np.allclose(env["shapes"][0], env["shapes"][2])  # same seed: only a differs
    # the a = 0 shape is exactly a sample at a = 0 with that seed
    pt0, w0 = leading_jet_pt(gen.sample(N, seed=2, a=0.0))
    h = np.histogram(pt0, edges, weights=w0)[0]
    np.testing.assert_allclose(nominal, h / h.sum())


def test_shape_chi2_by_hand():
    edges = np.linspace(0.0, 3.0, 4)
    counts = np.array([[50.0, 30.0, 20.0], [40.0, 40.0, 20.0]])
    band = band_from_counts(edges, counts)
    truth, err = np.array([0.5, 0.3, 0.2]), np.array([0.02, 0.02, 0.01])
    var = err**2 + band.fraction_sigma_stoch**2 / 2 + band.fraction_sigma_pred**2
    chi2, ndf = shape_chi2(truth, err, band)
    assert ndf == 2 and chi2 == pytest.approx(np.sum((band.mean_fraction - truth) ** 2 / var))
    chi2_no_pred, _ = shape_chi2(truth, err, band, sigma_pred=False)
    assert chi2_no_pred >= chi2


def test_trained_discriminator_and_augmentation_in_one_figure(runs, tmp_path):
    out = tmp_path / "fig14"
    result = combined_view(
        runs["root"] / "plain",
        out,
        reference=runs["root"] / "truth.root",
        reweighter=runs["root"] / "reweight",  # the OUT of `evgen reweight`; its discriminator/ is found
        augmented_run=runs["root"] / "augmented",
        a_values=(0, 6, 12),
        n_events=N,
        bins=12,
        formats=("png",),
    )
    s = result["summary"]
    assert np.isfinite(s["chi2_ndf_reweighted"]) and np.isfinite(s["chi2_ndf_not_reweighted"])
    assert s["ndf"] > 0 and s["median_rel_sigma_pred_percent"] >= 0
    assert s["median_augmentation_spread_percent"] > 0
    assert result["reweighter"].endswith("discriminator") and result["a_values"] == [0.0, 6.0, 12.0]
    d = np.array([r["mean_D"] for r in result["per_bin"]], dtype=float)
    assert np.all((d[np.isfinite(d)] > 0) & (d[np.isfinite(d)] < 1))
    for r in result["per_bin"]:
        if np.isfinite(r["augmentation_rel_low"]):
            assert r["augmentation_rel_low"] <= 0 <= r["augmentation_rel_high"]
    assert (out / "combined_ptj1.png").stat().st_size > 10_000
    report = json.loads((out / "combined.json").read_text())
    assert len(report["per_bin"]) == 12 and "combined_ptj1.png" in result["files"]
    assert "chi2_ndf_reweighted" in (out / "combined.md").read_text()


def test_cli(runs, tmp_path, capsys):
    out = tmp_path / "cli"
    args = [
        "binn",
        "combined",
        str(runs["root"] / "augmented"),
        "--reference",
        str(runs["root"] / "truth.root"),
    ]
    opts = ["-n", "300", "--draws", "2", "--bins", "8", "--a", "0", "8", "-o", str(out), "--no-progress"]
    assert main([*args, *opts, "--formats", ""]) == 0
    assert "chi2/ndf vs truth" in capsys.readouterr().out
    report = json.loads((out / "combined.json").read_text())
    assert report["augmented_run"] == str(runs["root"] / "augmented")  # the run itself is augmented
    assert report["a_values"] == [0.0, 8.0] and report["draws"] == 2
    assert main([*args[:4], str(tmp_path / "nope.root"), *opts]) == 2
    assert "nope.root" in capsys.readouterr().err


def test_bad_inputs_name_what_is_wrong(runs, tmp_path):
    root = runs["root"]
    kw = {"reference": root / "truth.root", "n_events": 200, "formats": ()}
    with pytest.raises(InputError, match="missing_run"):
        combined_view(tmp_path / "missing_run", tmp_path, **kw)
    toy = ToyBINN({"training": {"epochs": 1}})
    toy.fit(toy_events(np.random.default_rng(0).normal(size=(200, 2))))
    toy.save(tmp_path / "toy")
    with pytest.raises(InputError, match="toy-binn"):
        combined_view(tmp_path / "toy", tmp_path, **kw)
    with pytest.raises(InputError, match="missing.root"):
        combined_view(root / "plain", tmp_path, **{**kw, "reference": [tmp_path / "missing.root"]})
    with pytest.raises(InputError, match="reference"):
        combined_view(root / "plain", tmp_path, **{**kw, "reference": []})
    with pytest.raises(ConfigError, match="without augmentation"):
        combined_view(root / "augmented", tmp_path, augmented_run=root / "plain", **kw)
    with pytest.raises(ConfigError, match="draws = 1"):
        combined_view(root / "plain", tmp_path, draws=1, **kw)
    with pytest.raises(InputError, match="no_rw"):
        combined_view(root / "plain", tmp_path, reweighter=tmp_path / "no_rw", **kw)
    (tmp_path / "empty_rw").mkdir()
    with pytest.raises(InputError, match="not a discriminator directory"):
        combined_view(root / "plain", tmp_path, reweighter=tmp_path / "empty_rw", **kw)
    with pytest.raises(ConfigError, match="must be >= 0"):
        combined_view(root / "augmented", tmp_path, a_values=(-1.0,), **kw)

    class Broken:
        def weights(self, events):
            return np.full(len(events), np.nan)

    with pytest.raises(InputError, match="finite, non-negative"):
        combined_view(root / "plain", tmp_path, reweighter=Broken(), **kw)
