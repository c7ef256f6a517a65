"""The marginal calibration of zjets-inn: fitted after training, a step of the preprocessing."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from evgen_zjets_inn.config import ZJetsINNConfig
from evgen_zjets_inn.generator import ZJetsINN
from evgen_zjets_inn.synthetic import toy_zjets_events

from evgen.cli import main
from evgen.errors import ConfigError
from evgen.io import write_events
from evgen.preprocessing.calibration import MarginalCalibration
from evgen.preprocessing.steps import Whiten, weighted_quantiles

# a network this small and short-trained leaves visible errors in its marginals
TINY = {
    "base": {"blocks": 2, "bins": 8, "hidden": 16},
    "jets": {"blocks": 2, "bins": 8, "hidden": 16},
    "training": {"epochs": 3, "batch_size": 256, "lr_max": 3e-3},
    "data": {"validation_fraction": 0.0},
    "calibration": {"samples": 20_000},
}
PROBABILITIES = np.linspace(0.05, 0.95, 19)


@pytest.fixture(scope="module")
def events():
    return toy_zjets_events(3000, seed=1)


@pytest.fixture(scope="module")
def plain(events) -> ZJetsINN:
    torch.set_num_threads(1)
    gen = ZJetsINN(TINY)
    gen.fit(events, progress=False)
    return gen


@pytest.fixture(scope="module")
def calibrated(plain, events) -> ZJetsINN:
    gen = copy.deepcopy(plain)
    gen.calibrate(events)
    return gen


def _before_whitening(gen: ZJetsINN, n: int, x: np.ndarray) -> np.ndarray:
    """Features → the space the calibration sits in (every step before it)."""
    steps = gen.preprocessing._chain(n).steps
    u = x
    for step in steps:
        if isinstance(step, (MarginalCalibration, Whiten)):
            return u
        u, _ = step.forward(u)
    return u


def _marginal_error(gen: ZJetsINN, reference: ZJetsINN, events, n: int) -> float:
    """Largest quantile difference, over columns, between ``gen``'s samples and the training
    events, both in ``reference``'s space before the whitening (unweighted: no magic weights
    in the toy's 2- and 3-jet pairs beyond R_min matter at this precision)."""
    from evgen.events import n_jets

    f = reference.preprocessing.features(n)
    data = _before_whitening(reference, n, f.to_features(events[n_jets(events) == n]))
    generator = torch.Generator().manual_seed(7)
    x = gen._sample_features(n, 20_000, generator)
    model = _before_whitening(reference, n, x)
    return max(
        float(
            np.abs(
                weighted_quantiles(model[:, j], PROBABILITIES) - weighted_quantiles(data[:, j], PROBABILITIES)
            ).max()
        )
        for j in range(data.shape[1])
    )


def test_the_step_sits_before_the_whitening_of_every_multiplicity(calibrated):
    for n in (1, 2, 3):
        steps = calibrated.preprocessing._chain(n).steps
        kinds = [type(s) for s in steps]
        assert kinds.count(MarginalCalibration) == 1
        assert kinds[kinds.index(MarginalCalibration) + 1] is Whiten
    assert set(calibrated.info["calibration_shift"]) == {"1", "2", "3"}


def test_calibration_moves_the_networks_marginals_onto_the_training_data(plain, calibrated, events):
    for n in (1, 2):
        before = _marginal_error(plain, plain, events, n)
        after = _marginal_error(calibrated, plain, events, n)
        assert before > 0.05  # the tiny network is visibly off …
        assert after < 0.5 * before  # … and the calibration removes most of it


def test_network_space_round_trip_and_finite_log_prob(calibrated):
    events = calibrated.sample(2000, seed=3)
    assert np.isfinite(calibrated.log_prob(events)).all()
    generator = torch.Generator().manual_seed(5)
    for n in (1, 2, 3):
        y = calibrated.model.sample(n, 2000, generator).double().numpy()
        x = calibrated.preprocessing.inverse(y, n)
        again, _ = calibrated.preprocessing.forward(x, n)
        ok = np.isfinite(again).all(axis=1)
        assert ok.mean() > 0.99
        np.testing.assert_allclose(again[ok], y[ok], atol=1e-6)


def test_save_load_keeps_the_calibration(calibrated, tmp_path):
    calibrated.save(tmp_path / "run")
    again = ZJetsINN.load(tmp_path / "run")
    assert again.config.calibration.marginals is False  # set by the CLI, not by calibrate()
    a, b = calibrated.sample(500, seed=11), again.sample(500, seed=11)
    np.testing.assert_array_equal(np.asarray(a.Muon.pt[:, 0]), np.asarray(b.Muon.pt[:, 0]))


def test_training_with_calibration_on_inserts_it(events):
    torch.set_num_threads(1)
    gen = ZJetsINN(
        {
            **TINY,
            "training": {**TINY["training"], "epochs": 1},
            "calibration": {"marginals": True, "multiplicities": [1], "samples": 5000},
        }
    )
    gen.fit(events[:1500], progress=False)
    assert any(isinstance(s, MarginalCalibration) for s in gen.preprocessing._chain(1).steps)
    assert not any(isinstance(s, MarginalCalibration) for s in gen.preprocessing._chain(2).steps)


def test_training_with_every_calibration_on_inserts_them_and_they_survive_save_load(events, tmp_path):
    from evgen.preprocessing.calibration import ConditionalCalibration
    from evgen.preprocessing.recoil_calibration import RecoilCalibration

    torch.set_num_threads(1)
    calibration = {"marginals": True, "recoil": True, "conditional": [["j2_pt", "j1_pt"]], "samples": 5000}
    gen = ZJetsINN({**TINY, "training": {**TINY["training"], "epochs": 1}, "calibration": calibration})
    gen.fit(events[:1500], progress=False)
    gen.save(tmp_path / "run")
    again = ZJetsINN.load(tmp_path / "run")
    assert again.config.calibration.conditional == (("j2_pt", "j1_pt"),)
    for n in (1, 2, 3):
        kinds = [type(s) for s in again.preprocessing._chain(n).steps]
        assert kinds.count(RecoilCalibration) == 1 and kinds.count(MarginalCalibration) == 1
        assert kinds.count(ConditionalCalibration) == (n > 1)
    a, b = gen.sample(500, seed=11), again.sample(500, seed=11)
    np.testing.assert_array_equal(np.asarray(a.Muon.pt[:, 1]), np.asarray(b.Muon.pt[:, 1]))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"multiplicities": [4]}, "calibration.multiplicities"),
        ({"multiplicities": []}, "calibration.multiplicities"),
        ({"samples": 10}, "calibration.samples"),
        ({"bins": 1}, "calibration.bins"),
    ],
)
def test_bad_options_are_named(options, message):
    with pytest.raises(ConfigError, match=message):
        ZJetsINNConfig.from_mapping({"calibration": options})


def test_cli_calibrates_into_a_new_run_and_refuses_bad_input(plain, events, tmp_path, capsys):
    data = tmp_path / "train.root"
    write_events(data, events)
    run = tmp_path / "run"
    plain.save(run)
    out = tmp_path / "calibrated"
    assert (
        main(["zjets-inn", "calibrate", str(run), "--data", str(data), "-o", str(out), "--samples", "5000"])
        == 0
    )
    again = ZJetsINN.load(out)
    assert again.config.calibration.marginals is True
    assert any(isinstance(s, MarginalCalibration) for s in again.preprocessing._chain(2).steps)
    capsys.readouterr()
    # the output exists: refused, nothing changed
    assert main(["zjets-inn", "calibrate", str(run), "--data", str(data), "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    # not the run's training events: refused, nothing left behind
    other = tmp_path / "other.root"
    write_events(other, events[:1000])
    bad = tmp_path / "bad"
    assert main(["zjets-inn", "calibrate", str(run), "--data", str(other), "-o", str(bad)]) == 2
    assert "training events" in capsys.readouterr().err
    assert not bad.exists() and sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert (
        main(["zjets-inn", "calibrate", str(run), "--data", str(tmp_path / "nope.root"), "-o", str(bad)]) == 2
    )
    assert "nope.root" in capsys.readouterr().err
    # a nonsense option is named as it was typed
    assert main(["zjets-inn", "calibrate", str(run), "--data", str(data), "-o", str(bad), "--bins", "1"]) == 2
    assert "--bins 1: must be at least 2" in capsys.readouterr().err
    assert not bad.exists()


def test_binn_refuses_the_calibration():
    from evgen_zjets_inn.binn.config import BINNConfig

    with pytest.raises(ConfigError, match="calibration.marginals.*weight draws"):
        BINNConfig.from_mapping({"calibration": {"marginals": True}})


def test_both_sides_are_weighted_as_the_events_they_become(plain, events, monkeypatch):
    """The training rows enter with their event weights alone (not the magic training weights
    the network learned with), the network's draws with their generation weights (Eq. 9)."""
    gen = copy.deepcopy(plain)
    seen = {}
    fit_pair = MarginalCalibration.fit_pair

    def spy(self, data, model, data_weights=None, model_weights=None):
        seen[len(seen) + 1] = (data_weights, model_weights)
        return fit_pair(self, data, model, data_weights, model_weights)

    monkeypatch.setattr(MarginalCalibration, "fit_pair", spy)
    gen.calibrate(events)
    data_2j, model_2j = seen[2]
    np.testing.assert_array_equal(data_2j, 1.0)  # unweighted toy events: every event weight is one
    assert len(model_2j) == TINY["calibration"]["samples"]
    assert model_2j.std() > 0  # Eq. (9): the draws' weights follow their jet pairs' ΔR
    rows = gen._network_tensors(gen.preprocessing, *gen._training_rows(events, None, None)[:3])
    assert not np.allclose(rows["w"].numpy()[rows["n"].numpy() == 2], 1.0)  # what the network trained with


def _log_ratio_quantiles(gen: ZJetsINN, n: int, x: np.ndarray) -> np.ndarray:
    from evgen.preprocessing.recoil_calibration import RecoilCalibration, recoil_ratio

    step = RecoilCalibration.for_features(gen.preprocessing.features(n))
    return weighted_quantiles(np.log(recoil_ratio(x, step.balance, step.jet_pt, step.further)), PROBABILITIES)


def test_the_recoil_calibration_moves_the_z_pt_over_the_jets_onto_the_training_data(plain, events):
    from evgen.events import n_jets
    from evgen.preprocessing.angular import AngularCoefficients
    from evgen.preprocessing.recoil_calibration import RecoilCalibration

    gen = copy.deepcopy(plain)
    gen.config = dataclasses.replace(
        gen.config, calibration=dataclasses.replace(gen.config.calibration, recoil=True)
    )
    gen.calibrate(events)
    errors = {}
    for n in (1, 2):
        steps = gen.preprocessing._chain(n).steps
        kinds = [type(s) for s in steps]
        assert kinds.count(RecoilCalibration) == 1 and kinds.count(MarginalCalibration) == 1
        at = kinds.index(RecoilCalibration)
        assert at == (kinds.index(AngularCoefficients) + 1 if AngularCoefficients in kinds else 0)
        data = _log_ratio_quantiles(
            gen, n, gen.preprocessing.features(n).to_features(events[n_jets(events) == n])
        )
        generator = torch.Generator().manual_seed(7)
        before = _log_ratio_quantiles(gen, n, plain._sample_features(n, 20_000, generator))
        generator = torch.Generator().manual_seed(7)
        after = _log_ratio_quantiles(gen, n, gen._sample_features(n, 20_000, generator))
        errors[n] = (np.abs(before - data).max(), np.abs(after - data).max())
    assert set(gen.info["recoil_calibration_shift"]) == {"1", "2", "3"}
    # the tiny network's Z is visibly off with 1 jet, and the map takes most of it out; with 2 jets
    # (≈ 1000 training events) the error is near the quantiles' own noise, and the map still lowers it
    assert errors[1][0] > 0.015 and errors[1][1] < 0.5 * errors[1][0], errors
    assert errors[2][1] < errors[2][0], errors
    events_out = gen.sample(2000, seed=3)
    assert np.isfinite(gen.log_prob(events_out)).all()


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"calibration": {"recoil_bins": 1}}, "calibration.recoil_bins"),
        (
            {"calibration": {"recoil": True}, "preprocessing": {"coordinates": "particles"}},
            "calibration.recoil.*needs preprocessing.coordinates = 'physics'",
        ),
    ],
)
def test_bad_recoil_options_are_named(mapping, message):
    with pytest.raises(ConfigError, match=message):
        ZJetsINNConfig.from_mapping(mapping)


def test_binn_refuses_the_recoil_calibration():
    from evgen_zjets_inn.binn.config import BINNConfig

    with pytest.raises(ConfigError, match="calibration.recoil.*weight draws"):
        BINNConfig.from_mapping({"calibration": {"recoil": True}})


def test_the_conditional_calibration_sits_before_the_marginal_one_where_both_columns_exist(plain, events):
    from evgen.preprocessing.calibration import ConditionalCalibration

    gen = copy.deepcopy(plain)
    settings = dataclasses.replace(gen.config.calibration, conditional=(("j2_pt", "j1_pt"),))
    gen.config = dataclasses.replace(gen.config, calibration=settings)
    gen.calibrate(events)
    assert not any(isinstance(s, ConditionalCalibration) for s in gen.preprocessing._chain(1).steps)
    for n in (2, 3):
        steps = gen.preprocessing._chain(n).steps
        kinds = [type(s) for s in steps]
        at = kinds.index(ConditionalCalibration)
        assert kinds[at + 1] is MarginalCalibration
        names = gen.preprocessing.features(n).names
        assert (steps[at].column, steps[at].given) == (names.index("j2_pt"), names.index("j1_pt"))
    assert set(gen.info["conditional_calibration_shift"]) == {"2", "3"}
    sample = gen.sample(2000, seed=3)
    assert np.isfinite(gen.log_prob(sample)).all()
    with pytest.raises(ConfigError, match="calibration.conditional.*no feature named 'jet_pt'"):
        dataclasses.replace(
            gen.config, calibration=dataclasses.replace(settings, conditional=(("j2_pt", "jet_pt"),))
        )


@pytest.mark.parametrize(
    "pairs", [[["j2_pt"]], [["j2_pt", "j2_pt"]], "j2_pt:j1_pt", [["j2_pt", 3]], [["j2_pt", "mu1_pt"]]]
)
def test_nonsense_conditional_pairs_are_named(pairs):
    with pytest.raises(ConfigError, match="calibration.conditional"):
        ZJetsINNConfig.from_mapping({"calibration": {"conditional": pairs}})
