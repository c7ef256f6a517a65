"""The discriminator reweighter: known density ratios, weights of identical samples, clipping,
calibration, persistence, and ``evgen reweight`` on the shipped sample."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest
import torch
from evgen_discriminator.config import DiscriminatorConfig
from evgen_discriminator.reweighter import DiscriminatorReweighter

from evgen.cli import main
from evgen.errors import ConfigError, InputError
from evgen.events import event_weights, n_jets, toy_events
from evgen.io import read_events, write_events
from evgen.plugins import get_dataset, get_reweighter
from evgen.validation.classifier import (
    ClassifierConfig,
    classifier_features,
    discriminator_weights,
    train_classifier,
)

TINY = {
    "layers": 2,
    "hidden": 32,
    "epochs": 60,
    "batch_size": 1024,
    "lr": 2e-3,
    "early_stopping": 10,
    "plateau_patience": 3,
}
DELTA = np.array([0.5, 0.0])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _true_ratio(x: np.ndarray) -> np.ndarray:
    """N(δ, 1)/N(0, 1) in 2D."""
    return np.exp(x @ DELTA - 0.5 * DELTA @ DELTA)


@pytest.fixture(scope="module")
def shifted() -> DiscriminatorReweighter:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    ref = toy_events(rng.normal(size=(20000, 2)) + DELTA)
    gen = toy_events(rng.normal(size=(20000, 2)))
    rw = DiscriminatorReweighter(classifier=TINY)
    rw.fit(ref, gen, progress=False)
    return rw


def _binned_ratio(w: np.ndarray, x: np.ndarray, bulk: float = 1.0) -> np.ndarray:
    """Mean learned weight over mean true ratio in bins of width ½ in x₀ across |x₀| < bulk."""
    edges = np.linspace(-bulk, bulk, int(round(4 * bulk)) + 1)
    idx = np.digitize(x[:, 0], edges)
    return np.array([w[idx == i].mean() / _true_ratio(x[idx == i]).mean() for i in range(1, len(edges))])


def test_registered_and_paper_defaults_are_table_2():
    assert get_reweighter("discriminator") is DiscriminatorReweighter
    c = DiscriminatorConfig().classifier
    assert (c.layers, c.hidden, c.epochs, c.batch_size, c.betas) == (8, 256, 200, 2048, (0.5, 0.9))
    assert c.lr == 1e-3  # Table 2 quotes 1e-2, which stalls on small samples (see ClassifierConfig)
    assert DiscriminatorConfig().weight_clip == (0.01, 100.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"weight_clip": [2.0, 1.0]}, r"weight_clip = \[2.0, 1.0\]"),
        ({"classifier": {"layers": 0}}, "classifier.layers = 0"),
        ({"classifier": {"activation": "tanh"}}, "classifier.activation = 'tanh'"),
        ({"test_fraction": 1.5}, "test_fraction = 1.5"),
        ({"epochs": 3}, "unknown option epochs"),
    ],
)
def test_nonsense_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        DiscriminatorReweighter(options)


def test_recovers_known_density_ratio_in_the_bulk(shifted):
    x = np.random.default_rng(1).normal(size=(40000, 2))
    w = shifted.weights(toy_events(x))
    # 16k training events per class: the per-bin statistical precision is 2–4 %
    np.testing.assert_allclose(_binned_ratio(w, x), 1.0, atol=0.04)
    np.testing.assert_allclose(_binned_ratio(w, x, bulk=1.5), 1.0, atol=0.06)
    # an event-by-event check too: the median relative error of w_D
    assert np.median(np.abs(w / _true_ratio(x) - 1)) < 0.05


def test_held_out_calibration_and_auc(shifted):
    d = shifted.diagnostics["toy"]
    curve = d["reliability"]
    assert curve.max_deviation < 0.05 and curve.chi2_ndf < 3.0, curve.to_dict()
    # the optimal AUC for a shift of 0.5: Φ(0.5/√2) = 0.638
    assert d["auc"] == pytest.approx(0.6382, abs=max(3 * d["auc_error"], 0.015))


def test_event_weights_enter_the_loss():
    # the reference is the *same* density as the generated sample but weighted with the true ratio
    rng = np.random.default_rng(2)
    x_ref = rng.normal(size=(20000, 2))
    ref = toy_events(x_ref, weight=_true_ratio(x_ref))
    gen = toy_events(rng.normal(size=(20000, 2)))
    rw = DiscriminatorReweighter(classifier=TINY, seed=3)
    rw.fit(ref, gen, progress=False)
    x = rng.normal(size=(40000, 2))
    np.testing.assert_allclose(_binned_ratio(rw.weights(toy_events(x)), x), 1.0, atol=0.05)


def test_weights_of_identical_samples_stay_near_one():
    rng = np.random.default_rng(4)
    a, b = toy_events(rng.normal(size=(10000, 2))), toy_events(rng.normal(size=(10000, 2)))
    rw = DiscriminatorReweighter(classifier=TINY)
    rw.fit(a, b, progress=False)
    w = rw.weights(b)
    assert abs(w.mean() - 1) < 0.02 and np.mean(np.abs(w - 1)) < 0.05
    assert abs(rw.diagnostics["toy"]["auc"] - 0.5) < 3 * rw.diagnostics["toy"]["auc_error"]


def test_clipping_is_as_stated():
    logits = np.array([-20.0, np.log(0.5), 0.0, np.log(3.0), 20.0])
    np.testing.assert_allclose(discriminator_weights(logits), [0.01, 0.5, 1.0, 3.0, 100.0], rtol=1e-12)
    np.testing.assert_allclose(discriminator_weights(logits, (0.2, 2.0)), [0.2, 0.5, 1.0, 2.0, 2.0])
    np.testing.assert_allclose(discriminator_weights(logits, None), np.exp(logits))
    # equivalent to clipping D to [lo/(1+lo), hi/(1+hi)]
    d = 1 / (1 + np.exp(-logits))
    d_clipped = np.clip(d, 0.01 / 1.01, 100 / 101)
    np.testing.assert_allclose(discriminator_weights(logits), d_clipped / (1 - d_clipped), rtol=1e-9)
    with pytest.raises(ConfigError, match="weight clip"):
        discriminator_weights(logits, (1.0, 0.5))


def test_reweighter_clips_far_separated_samples():
    rng = np.random.default_rng(5)
    ref = toy_events(rng.normal(size=(3000, 1)) + 6.0)
    gen = toy_events(rng.normal(size=(3000, 1)))
    rw = DiscriminatorReweighter(classifier={**TINY, "epochs": 10}, weight_clip=[0.1, 10.0])
    rw.fit(ref, gen, progress=False)
    grid = toy_events(np.linspace(-3.0, 9.0, 121))  # from the generated bulk into the reference bulk
    w, raw = rw.weights(grid, normalise=False), rw.weights(grid, clip=False, normalise=False)
    assert w.min() == pytest.approx(0.1) and w.max() == pytest.approx(10.0)
    assert raw.min() < 0.05 and raw.max() > 12  # the clip was active at both ends
    np.testing.assert_allclose(w, np.clip(raw, 0.1, 10.0), rtol=1e-9)
    # normalised weights respect the same bounds
    normalised = rw.weights(grid)
    assert normalised.min() >= 0.1 * (1 - 1e-12) and normalised.max() <= 10.0 * (1 + 1e-12)


def test_save_load_and_seed_reproducibility(shifted, tmp_path):
    x = toy_events(np.random.default_rng(6).normal(size=(500, 2)))
    shifted.save(tmp_path / "rw")
    again = DiscriminatorReweighter.load(tmp_path / "rw")
    np.testing.assert_array_equal(again.weights(x), shifted.weights(x))
    assert again.reliability["toy"].chi2 == pytest.approx(shifted.reliability["toy"].chi2)
    # a second fit from the same seed gives the same classifier
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(800, 2)) + DELTA, rng.normal(size=(800, 2))
    cfg = ClassifierConfig(**{**TINY, "epochs": 3})
    c1, c2 = (train_classifier(a, b, config=cfg, seed=11) for _ in range(2))
    np.testing.assert_array_equal(c1.logit(a), c2.logit(a))
    assert not np.array_equal(c1.logit(a), train_classifier(a, b, config=cfg, seed=12).logit(a))


def test_collider_inputs_follow_eq_14():
    events = read_events(get_dataset("zjets-small").path, entry_stop=600)
    three = events[n_jets(events) == 3]
    x, names = classifier_features(three, 3)
    assert x.shape == (len(three), 3 * 2 + 4 * 3 + 1 + 3)
    assert names[:3] == ["log_pt_mu1", "eta_mu1", "phi_mu1"] and "m_mumu" in names
    assert {"dR_j1j2", "dR_j1j3", "dR_j2j3", "mass_j3"} <= set(names)
    np.testing.assert_allclose(np.exp(x[:, 0]), ak.to_numpy(three.Muon.pt[:, 0]), rtol=1e-6)
    with pytest.raises(InputError, match=r"got events with \[1, 2, 3\] jets"):
        classifier_features(events, 2)


def _distorted_sample(tmp_path, scale: float = 1.03):
    """Truth: first half of the shipped sample; 'generated': second half with muon pT × scale."""
    events = read_events(get_dataset("zjets-small").path)
    truth, gen = events[:9000], events[15000:24000]
    gen = ak.with_field(gen, ak.with_field(gen.Muon, gen.Muon.pt * scale, "pt"), "Muon")
    return write_events(tmp_path / "truth.root", truth), write_events(tmp_path / "gen.root", gen)


def test_reweight_command_repairs_a_shifted_z_peak(tmp_path):
    truth, gen = _distorted_sample(tmp_path)
    config = tmp_path / "rw.json"
    config.write_text(json.dumps({"classifier": {**TINY, "layers": 3, "hidden": 48, "lr": 3e-3}}))
    out = tmp_path / "out"
    code = main(
        ["reweight", str(truth), str(gen), "-o", str(out), "--config", str(config), "--epochs", "25"]
        + ["--no-plots", "--no-progress"]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    rows = {(r["multiplicity"], r["observable"]): r for r in summary["chi2"]}
    m1 = rows[(1, "m_mumu")]
    assert m1["chi2_ndf_before"] > 10 and m1["chi2_ndf_after"] < m1["chi2_ndf_before"] / 3, m1
    assert summary["discriminators"]["1"]["auc"] > 0.6
    # the written weights are the originals times w_D, in event order
    events, original = read_events(out / "reweighted.root"), read_events(gen)
    w_d = np.load(out / "w_D.npy")
    np.testing.assert_allclose(event_weights(events), event_weights(original) * w_d, rtol=1e-12)
    assert (w_d >= 0.01).all() and (w_d <= 100).all()
    # the saved discriminators reproduce the weights
    reloaded = DiscriminatorReweighter.load(out / "discriminator")
    np.testing.assert_allclose(reloaded.weights(original), w_d, rtol=1e-6)
    assert "χ²/ndf against truth" in (out / "summary.md").read_text()


def test_reweight_command_errors_are_one_line(tmp_path, capsys):
    assert (
        main(["reweight", str(tmp_path / "nope.root"), str(tmp_path / "x.root"), "-o", str(tmp_path / "o")])
        == 2
    )
    assert "nope.root" in capsys.readouterr().err


@pytest.mark.slow
def test_reweight_figures(tmp_path):
    truth, gen = _distorted_sample(tmp_path)
    out = tmp_path / "out"
    code = main(
        [
            "reweight",
            str(truth),
            str(gen),
            "-o",
            str(out),
            "--epochs",
            "3",
            "--no-progress",
            "--max-events",
            "4000",
        ]
        + ["--config", str(_tiny_config(tmp_path))]
    )
    assert code == 0
    for name in ("reweighting_1j", "reweighting_3j", "weights", "weights_vs_observables", "calibration"):
        assert (out / f"{name}.png").stat().st_size > 10_000, name


def _tiny_config(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text("[classifier]\nlayers = 2\nhidden = 16\nbatch_size = 1024\n")
    return path
