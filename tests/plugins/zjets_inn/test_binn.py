"""The binn plugin: toy BINN and Z+jets BINN (weight draws, save/load, augmentation), bands, the amplification study."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest
import torch
from evgen_datasets.toys import CamelBack
from evgen_zjets_inn.binn.config import BINNConfig
from evgen_zjets_inn.binn.toy import ToyBINN
from evgen_zjets_inn.binn.zjets import AugmentedSource, ZJetsBINN
from evgen_zjets_inn.synthetic import toy_zjets_events

from evgen.cli import main
from evgen.errors import ConfigError, InputError
from evgen.events import toy_events
from evgen.nn.bayesian import bayesian_layers
from evgen.plugins import get_dataset, get_generator
from evgen.statistics.uncertainty import band_from_draws

TOY = {
    "log_sigma2_init": -6.0,
    "net": {"blocks": 2, "bins": 12, "hidden": 16, "layers": 2, "spline": "cubic"},
    "training": {"epochs": 80, "batch_size": 250, "lr_start": 1e-3, "lr_max": 1e-2},
}
TINY_ZJETS = {
    "base": {"blocks": 2, "bins": 6, "hidden": 16, "layers": 2},
    "jets": {"blocks": 2, "bins": 6, "hidden": 8, "layers": 1},
    "training": {"epochs": 2, "batch_size": 256, "lr_start": 1e-3, "lr_max": 2e-3},
    "data": {"validation_fraction": 0.1},
}


@pytest.fixture(scope="module")
def camel_binn() -> ToyBINN:
    torch.set_num_threads(1)
    gen = ToyBINN(TOY)
    gen.fit(toy_events(CamelBack().sample(1000, np.random.default_rng(1))))
    return gen


@pytest.fixture(scope="module")
def zjets_binn() -> ZJetsBINN:
    torch.set_num_threads(1)
    gen = ZJetsBINN(TINY_ZJETS, augmentation={"enabled": True, "a_max": 10.0})
    gen.fit(toy_zjets_events(1500, seed=0), progress=False)
    return gen


def test_registered():
    assert get_generator("binn") is ZJetsBINN and get_generator("toy-binn") is ToyBINN


def test_paper_defaults_are_table_1_and_partial_sections_keep_them():
    cfg = ZJetsBINN().config
    assert (cfg.base.blocks, cfg.base.layers) == (20, 6)
    t = cfg.training
    assert (t.lr_start, t.lr_max, t.batch_size, t.schedule) == (1e-5, 1e-4, 3072, "one-cycle")
    assert cfg.magic.enabled
    partial = ZJetsBINN({"base": {"hidden": 32}, "training": {"epochs": 3}}).config
    assert (partial.base.blocks, partial.base.layers, partial.base.hidden) == (20, 6, 32)
    assert (partial.training.batch_size, partial.training.epochs) == (3072, 3)
    with pytest.raises(ConfigError, match="bayes.prior_std"):
        BINNConfig.from_mapping({"bayes": {"prior_std": -1.0}})


def test_toy_binn_learns_the_camel_back_and_its_widths_grow(camel_binn):
    toy = CamelBack()
    x = toy.sample(20_000, np.random.default_rng(5))
    nll = -camel_binn.log_prob(x).mean()
    best_gaussian = 0.5 * np.log(2 * np.pi * 17.0) + 0.5  # variance 1 + 4^2 of the camel back
    assert nll < best_gaussian - 0.1
    assert nll > -toy.log_prob(x).mean() - 0.05  # cannot beat the truth
    widths = torch.cat([layer.log_sigma2.detach().flatten() for layer in bayesian_layers(camel_binn.model)])
    assert widths.mean() > -5.0  # the KL term pulled the widths up from their start (-6)


def test_weight_draws_are_coherent_reproducible_and_differ(camel_binn):
    a = camel_binn.sample_points(5000, seed=1, theta=3)
    np.testing.assert_array_equal(a, camel_binn.sample_points(5000, seed=1, theta=3))
    assert not np.allclose(a, camel_binn.sample_points(5000, seed=1, theta=4))
    np.testing.assert_array_equal(
        camel_binn.sample_points(100, seed=2, theta="map"), camel_binn.sample_points(100, seed=2, theta="map")
    )
    # the same latent points mapped with different draws: sigma_pred > 0 in the bulk
    values = [camel_binn.sample_points(20_000, seed=k, theta=k)[:, 0] for k in range(6)]
    band = band_from_draws(values, np.linspace(-7, 7, 15))
    bulk = band.mean > 500
    assert (
        np.all(band.sigma_pred[bulk] > 0) and np.median(band.sigma_pred[bulk] / band.sigma_stoch[bulk]) > 0.5
    )
    with pytest.raises(ConfigError):
        camel_binn.sample_points(10, theta="median")
    with pytest.raises(InputError, match="without conditions"):
        camel_binn.sample(10, conditions=np.ones(10))


def test_toy_binn_round_trips_through_a_run_directory(camel_binn, tmp_path):
    camel_binn.save(tmp_path / "run")
    loaded = ToyBINN.load(tmp_path / "run")
    np.testing.assert_array_equal(
        loaded.sample_points(1000, seed=3, theta=2), camel_binn.sample_points(1000, seed=3, theta=2)
    )


def test_zjets_binn_draws_and_round_trip(zjets_binn, tmp_path):
    one = zjets_binn.sample(600, seed=1, theta=2, a=3.0)
    assert ak.array_equal(one, zjets_binn.sample(600, seed=1, theta=2, a=3.0))
    assert not ak.array_equal(one, zjets_binn.sample(600, seed=1, theta=5, a=3.0))
    assert set(zjets_binn.n_train_stage) == {"base", "j2", "j3"}
    zjets_binn.save(tmp_path / "run")
    loaded = ZJetsBINN.load(tmp_path / "run")
    assert ak.array_equal(one, loaded.sample(600, seed=1, theta=2, a=3.0))
    y = np.zeros((4, 9))
    assert np.isfinite(loaded.log_prob_network(y, 1, a=5.0)).all()


def test_generation_draws_the_nuisance_around_a(zjets_binn):
    seen = []
    original = zjets_binn.model.sample

    def spy(n, size, generator=None):
        seen.append(
            zjets_binn.model.extra_sampler(size).numpy().ravel() * zjets_binn.config.augmentation.a_max
        )
        return original(n, size, generator)

    zjets_binn.model.sample = spy
    try:
        zjets_binn.sample(3000, seed=4, a=7.0)
    finally:
        del zjets_binn.model.sample
    a = np.concatenate(seen)
    assert abs(a.mean() - 7.0) < 0.02 and a.std() == pytest.approx(0.1, rel=0.1)  # width min(a/10, 0.1)
    with pytest.raises(ConfigError, match="augmentation"):
        ZJetsBINN(TINY_ZJETS).sample(10, a=1.0)


def test_augmented_source_appends_a_and_reweights():
    class Source:
        def __len__(self):
            return 4

        def epoch(self, epoch, generator):
            x = torch.zeros(4, 2)
            return x, torch.ones(4, 1), torch.full((4,), 2.0), torch.arange(4)

    source = AugmentedSource(Source(), lambda index, a: 1.0 + a * index, np.array([0.0, 5.0]), a_scale=5.0)
    x, c, w, *rest = source.epoch(0, torch.Generator().manual_seed(0))
    assert not rest and c.shape == (4, 2)
    a = c[:, 1].numpy() * 5.0
    assert set(a.tolist()) <= {0.0, 5.0}
    np.testing.assert_allclose(w.numpy(), 2.0 * (1.0 + a * np.arange(4)))


def test_bands_command_and_held_out_validation(zjets_binn, tmp_path):
    from evgen.io import write_events

    zjets_binn.save(tmp_path / "run")
    reference = write_events(tmp_path / "ref.root", toy_zjets_events(800, seed=9))
    out = tmp_path / "bands"
    args = ["binn", "bands", str(tmp_path / "run"), "-o", str(out), "-n", "400", "--draws", "2"]
    assert main([*args, "--reference", str(reference), "--a", "0", "8", "--no-plots", "--no-progress"]) == 0
    report = json.loads((out / "binn_bands.json").read_text())
    pooled = report["validation_against_reference"]["pooled"]
    assert pooled["n_pulls"] > 50 and 0 <= pooled["coverage_68"]["value"] <= 1
    assert {"pt_j1", "m_mumu", "dR_j1j2"} <= {row["observable"] for row in report["observables"]}
    assert {row["a"] for row in report["augmentation"]} == {0.0, 8.0}
    assert (
        report["validation_against_reference"]["sigma_scale"] == 1.0 and "validation_unscaled" not in report
    )
    needed = report["sigma_scale_for_68_bulk"]
    assert needed is None or needed > 0
    assert main([*args, "--observables", "nope", "--no-plots", "--no-progress"]) == 2
    # a calibration training's factor applied: wider sigma_pred, the unscaled validation kept beside it
    scaled_out = tmp_path / "scaled"
    scaled = [*args[:3], "-o", str(scaled_out), *args[5:], "--reference", str(reference), "--no-plots"]
    assert main([*scaled, "--sigma-scale", "3", "--no-progress"]) == 0
    wide = json.loads((scaled_out / "binn_bands.json").read_text())
    assert wide["validation_against_reference"]["sigma_scale"] == 3.0
    assert (
        wide["validation_against_reference"]["pooled"]["pull_width"]["value"]
        < wide["validation_unscaled"]["pooled"]["pull_width"]["value"]
    )
    for bad in ("0", "-1", "nan", "wide", "x:2", "0:2", "2:-1"):
        with pytest.raises(SystemExit) as exit_info:
            main([*scaled, "--sigma-scale", bad, "--no-progress"])
        assert exit_info.value.code == 2
    for bad in (["1.5", "2:3"], ["2:1.5", "2:3"], ["1.5", "2"]):
        assert main([*scaled, "--sigma-scale", *bad, "--no-progress"]) == 2
    assert main([*scaled, "--sigma-scale", "1:1", "3:2.5", "--no-progress"]) == 0
    per_n = json.loads((scaled_out / "binn_bands.json").read_text())
    assert per_n["validation_against_reference"]["sigma_scale"] == {"1": 1.0, "3": 2.5}
    assert set(per_n["sigma_scale_for_68_bulk_by_multiplicity"]) <= {"1", "2", "3"}
    one_jet = {
        r["observable"]: r for r in per_n["validation_against_reference"]["observables"] if r["jets"] == 1
    }
    unscaled = {r["observable"]: r for r in per_n["validation_unscaled"]["observables"] if r["jets"] == 1}
    assert all(one_jet[o]["pull_width"] == unscaled[o]["pull_width"] for o in one_jet)  # 1-jet factor 1


@pytest.mark.slow
def test_bands_figures(zjets_binn, tmp_path):
    from evgen_zjets_inn.binn.runs import run_bands

    zjets_binn.save(tmp_path / "run")
    out = tmp_path / "bands"
    result = run_bands(
        tmp_path / "run",
        out,
        n_events=400,
        draws=2,
        observables=["pt_j1", "pt_j2"],
        a_values=[0, 8],
        small_n=200,
        formats=("png",),
        progress=False,
    )
    assert {row["observable"] for row in result["observables"]} == {"pt_j1", "pt_j2"}
    for name in ("binn_bands_1j", "binn_bands_3j", "binn_sigma_vs_count", "binn_augmentation"):
        assert (out / f"{name}.png").stat().st_size > 10_000


def test_amplification_study_runs_resumes_and_separates_methods(tmp_path):
    from evgen.studies.amplification import run_amplification

    torch.set_num_threads(1)
    settings = dict(
        n_train=300,
        trainings=2,
        draws=3,
        ensemble=2,
        n_generated=3000,
        binn_config={"training": {"epochs": 8}},
        ensemble_config={"training": {"epochs": 8}},
        plot=False,
    )
    result = run_amplification(tmp_path, **settings)
    v = result["validation"]
    assert set(v) == {"binn", "bootstrap", "ensemble", "naive", "training"}
    assert v["bootstrap"]["interval"] == "student-t, 1 dof" and v["training"]["interval"] == "gaussian"
    assert v["naive"]["coverage_68"].value < 0.3  # generated events treated as data: far too small errors
    assert v["binn"]["n_pulls"] == 2 * 20
    d = result["demonstration"]["binn"]
    assert d["amplification_predicted"].value > 0 and d["amplification_measured"].value > 0
    assert (tmp_path / "amplification.json").exists() and len(
        list((tmp_path / "trainings").glob("*.npz"))
    ) == 2
    again = run_amplification(tmp_path, **settings)  # resumes from the stored histograms
    assert again["per_training"] == result["per_training"]


def test_amplification_command(tmp_path, capsys):
    import argparse

    from evgen.cli.studies import add_amplification_command

    parser = argparse.ArgumentParser()
    groups = {"study": parser.add_subparsers().add_parser("study").add_subparsers()}
    add_amplification_command(groups)
    args = parser.parse_args(
        [
            "study",
            "amplification",
            "-o",
            str(tmp_path),
            "--n-train",
            "200",
            "--trainings",
            "2",
            "--draws",
            "3",
            "--ensemble",
            "2",
            "--n-generated",
            "2000",
            "--epochs",
            "3",
            "--ensemble-epochs",
            "3",
            "--cells",
            "10",
            "--binn-option",
            "net.hidden=8",
            "--no-plots",
        ]
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "coverage 68%" in out and "predicted amplification" in out
    report = json.loads((tmp_path / "amplification.json").read_text())
    assert report["config"]["n_cells"] == 10 and report["config"]["binn_config"]["net"]["hidden"] == 8


@pytest.mark.slow
def test_train_size_scan(tmp_path):
    from evgen_zjets_inn.binn.runs import run_train_size_scan

    from evgen.io import write_events

    torch.set_num_threads(1)
    data = write_events(tmp_path / "train.root", toy_zjets_events(1200, seed=3))
    config = {**TINY_ZJETS, "training": {**TINY_ZJETS["training"], "epochs": 1}}
    result = run_train_size_scan(
        [data],
        tmp_path / "scan",
        [400, 1200],
        config=config,
        n_events=300,
        draws=2,
        formats=("png",),
        progress=False,
    )
    assert {row["train_size"] for row in result["rows"]} == {400, 1200}
    assert (tmp_path / "scan" / "runs" / "size_400" / "model.json").exists()
    assert (tmp_path / "scan" / "binn_train_sizes.png").stat().st_size > 10_000
    again = run_train_size_scan(
        [data],
        tmp_path / "scan",
        [400, 1200],
        config=config,
        n_events=300,
        draws=2,
        plot=False,
        progress=False,
    )  # reuses the trained runs
    assert [r["train_size"] for r in again["rows"]] == [r["train_size"] for r in result["rows"]]


def test_toy_binn_learns_a_nuisance_conditionally():
    """Sec. 4.2 on the camel back: trained on a = 0, 5, 10 with w = 1 + a (x/4)^2, it follows the reweighted truth."""
    from evgen.physics.augmentation import QuadraticTailWeight, replicate, toy_coordinate

    torch.set_num_threads(1)
    toy, rng = CamelBack(), np.random.default_rng(0)
    events = toy_events(toy.sample(1500, rng))
    nuisance = QuadraticTailWeight(toy_coordinate(0), 0.0, 4.0)
    index, a, w = replicate(events, nuisance, [0.0, 5.0, 10.0])
    w /= np.array([nuisance.weight(events, v).mean() for v in a])  # every a carries the same weight
    gen = ToyBINN({**TOY, "training": {**TOY["training"], "epochs": 25, "batch_size": 300}})
    gen.fit(events[index], weights=w, conditions=a / 10.0)
    truth = toy.sample(200_000, rng)
    tails = []
    for value in (0.0, 10.0):
        x = gen.sample_points(50_000, conditions=np.full(50_000, value / 10.0), seed=1, theta="map")[:, 0]
        tw = nuisance.weight(toy_events(truth), value)
        expected = np.sum(tw * (np.abs(truth[:, 0]) > 5)) / tw.sum()
        tails.append(np.mean(np.abs(x) > 5))
        assert abs(tails[-1] - expected) < 0.04, (value, tails[-1], expected)
    assert tails[1] > tails[0] + 0.06  # truth: 0.158 -> 0.275


def test_band_validation_covers_a_reference_drawn_like_one_more_member():
    """Members scattered by s around the truth, the reference one more such draw plus its own error:
    Student-t 68 % intervals cover 68 %, in all bins and in the bulk; too narrow members do not."""
    from evgen_zjets_inn.binn.bands import band_validation

    from evgen.statistics.uncertainty import band_from_counts

    rng = np.random.default_rng(11)
    edges = np.linspace(0.0, 1.0, 21)
    shape = np.exp(-0.5 * ((edges[:-1] + 0.025 - 0.5) / 0.2) ** 2)
    shape /= shape.sum()
    k, total = 8, 1e10
    bands, narrow, reference = {}, {}, {}
    for i in range(60):
        s = 0.05 * shape  # 5 % model spread per bin
        members = shape + s * rng.standard_normal((k, shape.size))
        truth_like = shape + s * rng.standard_normal(shape.size)
        ref_error = 0.03 * shape
        observed = truth_like + ref_error * rng.standard_normal(shape.size)
        key = (1, f"obs{i}")
        bands[key] = band_from_counts(edges, members * total)
        squeezed = shape + 0.3 * (members - shape)
        narrow[key] = band_from_counts(edges, squeezed * total)
        reference[key] = {"fraction": observed, "error": ref_error}
    good = band_validation(bands, reference)
    assert abs(good["pooled"]["coverage_68"].value - 0.683) < 0.04
    assert abs(good["pooled_bulk"]["coverage_68"].value - 0.683) < 0.05
    # 8 members, the reference's error known: Welch–Satterthwaite dof above K - 1 = 7
    assert good["pooled"]["interval"].startswith("student-t, Welch–Satterthwaite dof per bin (median 1")
    row = good["observables"][0]
    assert 0 < row["bulk_bins"] < row["bins"]  # the bulk leaves out the tails
    assert good["observables_with_bulk"] == 60
    expected = good["observables_bulk_in_60_76_if_calibrated"]
    assert 0.4 * 60 < expected < 0.8 * 60
    assert abs(good["observables_bulk_in_60_76"] - expected) < 4 * np.sqrt(expected * (1 - expected / 60))
    consistent = good["observables_bulk_coverage_consistent_if_calibrated"]
    assert 0.95 * 60 <= consistent < 60
    assert good["observables_bulk_coverage_consistent"] >= consistent - 4 * np.sqrt(
        consistent * (1 - consistent / 60)
    )
    bad = band_validation(narrow, reference)
    assert bad["pooled"]["coverage_68"].value < 0.55
    assert bad["observables_bulk_coverage_consistent"] < good["observables_bulk_coverage_consistent"] - 10


def _synthetic_bands(rng, n_observables, squeeze, bias=0.0):
    """Members whose spread is ``squeeze`` x the truth's scatter around the shape (``bias`` shifts
    the reference by that many model sigmas), as in the coverage test above."""
    from evgen.statistics.uncertainty import band_from_counts

    edges = np.linspace(0.0, 1.0, 21)
    shape = np.exp(-0.5 * ((edges[:-1] + 0.025 - 0.5) / 0.2) ** 2)
    shape /= shape.sum()
    k, total = 8, 1e10
    bands, reference = {}, {}
    for i in range(n_observables):
        s = 0.05 * shape
        members = shape + squeeze * s * rng.standard_normal((k, shape.size))
        ref_error = 0.03 * shape
        observed = (
            shape + s * (bias + rng.standard_normal(shape.size)) + ref_error * rng.standard_normal(shape.size)
        )
        bands[(1, f"obs{i}")] = band_from_counts(edges, members * total)
        reference[(1, f"obs{i}")] = {"fraction": observed, "error": ref_error}
    return bands, reference


def test_sigma_scale_chosen_on_calibration_bands_restores_coverage_on_independent_ones():
    """Members 0.3 x too narrow: the factor found on one set (~1/0.3) brings an independent set's
    pooled coverage to 68 % and its observables back through the binomial test; sigma_pred scales exactly."""
    from evgen_zjets_inn.binn.bands import band_validation, scaled_member_variance, sigma_scale_for_coverage

    from evgen.errors import ConfigError

    rng = np.random.default_rng(5)
    calibration, calibration_ref = _synthetic_bands(rng, 60, squeeze=0.3)
    independent, independent_ref = _synthetic_bands(rng, 60, squeeze=0.3)
    scale = sigma_scale_for_coverage(calibration, calibration_ref)
    assert 2.6 < scale < 4.2, scale
    raw = band_validation(independent, independent_ref)
    fixed = band_validation(independent, independent_ref, sigma_scale=scale)
    assert raw["pooled_bulk"]["coverage_68"].value < 0.5
    assert abs(fixed["pooled_bulk"]["coverage_68"].value - 0.683) < 0.05
    expected = fixed["observables_bulk_coverage_consistent_if_calibrated"]
    assert fixed["observables_bulk_coverage_consistent"] >= expected - 4 * np.sqrt(
        expected * (1 - expected / 60)
    )
    assert raw["observables_bulk_coverage_consistent"] < fixed["observables_bulk_coverage_consistent"] - 10
    band = next(iter(independent.values()))
    np.testing.assert_array_equal(scaled_member_variance(band), band.fraction_sigma_tot**2)
    pred = band.fraction_sigma_pred
    assert np.all(pred > 0)
    np.testing.assert_allclose(
        np.sqrt(scaled_member_variance(band, 2.5) - band.fraction_sigma_stoch**2), 2.5 * pred
    )
    # a negative estimate of sigma_pred^2 (generated statistics above the draws' spread) is kept:
    # widening never narrows a bin
    from evgen.statistics.uncertainty import band_from_counts

    noisy = band_from_counts(np.linspace(0, 1, 4), np.array([[100.0, 500.0, 400.0], [104.0, 470.0, 426.0]]))
    excess = noisy.fraction_sigma_tot**2 - noisy.fraction_sigma_stoch**2
    assert (excess < 0).any() and (excess > 0).any()
    wider = scaled_member_variance(noisy, 3.0)
    assert np.all(wider >= noisy.fraction_sigma_tot**2)
    np.testing.assert_allclose(wider[excess < 0], noisy.fraction_sigma_tot[excess < 0] ** 2)
    # one factor per multiplicity: 1-jet members right, 3-jet ones 0.3 x too narrow
    right, right_ref = _synthetic_bands(rng, 30, squeeze=1.0)
    mixed = {(1, key[1]): band for key, band in right.items()}
    mixed_ref = {(1, key[1]): r for key, r in right_ref.items()}
    mixed.update({(3, key[1]): band for key, band in calibration.items()})
    mixed_ref.update({(3, key[1]): r for key, r in calibration_ref.items()})
    per_n = sigma_scale_for_coverage(mixed, mixed_ref, by_multiplicity=True)
    assert set(per_n) == {1, 3} and 0.75 < per_n[1] < 1.3 and 2.6 < per_n[3] < 4.2, per_n
    split = band_validation(mixed, mixed_ref, sigma_scale=per_n)
    assert split["sigma_scale"] == {"1": per_n[1], "3": per_n[3]}
    assert abs(split["pooled_bulk"]["coverage_68"].value - 0.683) < 0.05
    # a bias no spread can absorb: members identical, reference 20 sigma off
    frozen, off = _synthetic_bands(rng, 5, squeeze=0.0, bias=20.0)
    assert sigma_scale_for_coverage(frozen, off) == np.inf
    with pytest.raises(ConfigError, match="sigma_scale"):
        band_validation(independent, independent_ref, sigma_scale=0.0)
    with pytest.raises(ConfigError, match="sigma_scale"):  # a bad factor of a multiplicity not present
        band_validation(independent, independent_ref, sigma_scale={1: 1.0, 3: float("nan")})
    with pytest.raises(ConfigError, match="target"):
        sigma_scale_for_coverage(calibration, calibration_ref, target=1.2)


def test_bootstrap_members_and_an_ensemble_of_runs(tmp_path):
    """`--bootstrap SEED` trains on a resample with replacement; an ensemble samples member k as draw k."""
    from evgen_zjets_inn.binn.runs import run_bands

    from evgen.errors import ConfigError
    from evgen.generation.ensemble import RunEnsemble, bootstrap_indices
    from evgen.io import read_events, write_events
    from evgen.training.api import train_generator

    idx = bootstrap_indices(1000, 3)
    assert np.array_equal(idx, bootstrap_indices(1000, 3)) and not np.array_equal(
        idx, bootstrap_indices(1000, 4)
    )
    assert 0.55 < np.unique(idx).size / 1000 < 0.72  # 1 - 1/e of the events appear, some several times

    events = read_events(get_dataset("zjets-small").path, entry_stop=3000)
    data = tmp_path / "train.root"
    write_events(data, events)
    tiny = {
        "base": {"blocks": 2, "bins": 8, "hidden": 16, "layers": 1},
        "jets": {"blocks": 1, "bins": 8, "hidden": 16, "layers": 1},
        "training": {"epochs": 1, "batch_size": 512},
    }
    runs = []
    for b in range(3):
        run = tmp_path / f"b{b}"
        train_generator(
            "zjets-inn", [data], run, config=tiny, overrides={"seed": b}, progress=False, bootstrap=b
        )
        runs.append(run)
        info = json.loads((run / "provenance.json").read_text())
        assert info["bootstrap_seed"] == b and info["n_events"] == 3000
        # zjets-inn resamples its own training split: the validation events stay distinct
        fitted = json.loads((run / "model.json").read_text())["info"]
        assert fitted["bootstrap_seed"] == b and fitted["n_train"] + fitted["n_validation"] == 3000
        assert 0.55 < fitted["n_train_distinct"] / fitted["n_train"] < 0.72
    ensemble = RunEnsemble(runs)
    member = get_generator("zjets-inn").load(runs[1])
    assert ak.to_list(ensemble.sample(50, seed=7, theta=1).Muon.pt) == ak.to_list(
        member.sample(50, seed=7).Muon.pt
    )
    with pytest.raises(ConfigError):
        ensemble.sample(10, theta=3)
    result = run_bands(
        runs,
        tmp_path / "bands",
        n_events=2000,
        reference=[data],
        bins=10,
        observables=["pt_j1"],
        plot=False,
        progress=False,
    )
    assert result["predicted_by"] == "ensemble" and result["draws"] == 3
    # 3 members: t intervals with Welch–Satterthwaite degrees of freedom per bin
    assert result["validation_against_reference"]["pooled"]["interval"].startswith(
        "student-t, Welch–Satterthwaite dof per bin"
    )
