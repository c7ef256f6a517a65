"""The zjets-inn generator: config validation, input checks, learning, magic weights, train → generate → read."""

from __future__ import annotations

import dataclasses
import json

import awkward as ak
import numpy as np
import pytest
import torch
from evgen_zjets_inn.config import ReflectionConfig, ZJetsINNConfig
from evgen_zjets_inn.generator import ZJetsINN, check_events
from evgen_zjets_inn.synthetic import toy_zjets_events

from evgen.cli import main
from evgen.errors import ConfigError, InputError
from evgen.events import n_jets
from evgen.generation.run_dir import RunDir, load_generator
from evgen.io import read_events, read_metadata, write_events
from evgen.physics.magic import MagicTransform
from evgen.plugins import get_generator

TINY = {
    "base": {"blocks": 4, "bins": 8, "hidden": 32},
    "jets": {"blocks": 2, "bins": 8, "hidden": 16},
    "training": {"epochs": 8, "batch_size": 128, "lr_max": 3e-3},
}


@pytest.fixture(scope="module")
def train_events() -> ak.Array:
    return toy_zjets_events(4000, seed=0)


@pytest.fixture(scope="module")
def trained(train_events) -> ZJetsINN:
    # the paper's coordinates: the toy's correlations live there (in the physics coordinates,
    # the toy is nearly a product of independent Gaussians, nothing for the INN to beat)
    torch.set_num_threads(1)
    gen = ZJetsINN(TINY, data={"validation_fraction": 0.0}, preprocessing={"coordinates": "particles"})
    gen.fit(train_events, progress=False)
    return gen


@pytest.fixture(scope="module")
def trained_physics(train_events) -> ZJetsINN:
    torch.set_num_threads(1)
    gen = ZJetsINN(TINY, data={"validation_fraction": 0.0})
    assert gen.config.preprocessing.coordinates == "physics"  # the default
    gen.fit(train_events, progress=False)
    return gen


def test_registered_with_a_one_line_description():
    cls = get_generator("zjets-inn")
    assert cls is ZJetsINN
    assert cls.description and "\n" not in cls.description


def test_paper_defaults_are_table_1():
    cfg = ZJetsINNConfig()
    assert (cfg.base.blocks, cfg.base.bins, cfg.base.layers, cfg.base.spline) == (25, 60, 3, "cubic")
    t = cfg.training
    assert (t.epochs, t.batch_size, t.lr_start, t.lr_max, t.schedule, t.betas) == (
        100,
        1024,
        1e-4,
        1e-3,
        "one-cycle",
        (0.9, 0.99),
    )
    assert (cfg.magic.r_minus, cfg.magic.r_plus, cfg.magic.r_min) == (0.2, 1.5, 0.4)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"base": {"spline": "linear"}}, "base.spline = 'linear'"),
        ({"jets": {"blocks": 0}}, "jets.blocks = 0"),
        ({"training": {"batch_size": 0}}, "training.batch_size = 0"),
        ({"magic": {"r_minus": 0.5}}, "magic.r_minus=0.5"),
        ({"magic": {"enabled": "yes"}}, "magic.enabled = 'yes'"),
        ({"preprocessing": {"whitening": "zca"}}, "preprocessing.whitening = 'zca'"),
        ({"preprocessing": {"jet_eta_bound": -5.0}}, "preprocessing.jet_eta_bound = -5.0"),
        (
            {"preprocessing": {"coordinates": "particles", "angular_coefficients": True}},
            "preprocessing.angular_coefficients = True",
        ),
        ({"preprocessing": {"angular_fit": "lsq"}}, "preprocessing.angular_fit = 'lsq'"),
        (
            {"preprocessing": {"coordinates": "particles", "balance_harmonics": True}},
            "preprocessing.balance_harmonics = True",
        ),
        ({"preprocessing": {"balance_recoil": True}}, "preprocessing.balance_recoil = True"),
        ({"data": {"layout": {"Muon": {"pt": "mu_pt"}}}}, "lacks"),
        ({"epochs": 3}, "unknown option epochs"),
    ],
)
def test_nonsense_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        ZJetsINN(options)


def test_wrong_multiplicities_name_file_and_count(train_events):
    no_jets = ak.with_field(train_events[:5], train_events[:5].Jet[:, :0], "Jet")
    mixed = ak.concatenate([train_events[:10], no_jets])
    with pytest.raises(InputError, match=r"mine.root: 5 of 15 events .* entry 10 with 2 muons and 0 jets"):
        check_events(mixed, source="mine.root")
    kept, dropped = check_events(mixed, source="mine.root", drop=True)
    assert (len(kept), dropped) == (10, 5)


def test_tiny_inn_beats_independent_gaussians_on_held_out_events(trained):
    # in preprocessed space, per multiplicity, against Gaussians fitted per dimension on the training set
    held_out, train = toy_zjets_events(4000, seed=1), toy_zjets_events(4000, seed=0)
    pre = trained.preprocessing
    gains = []
    for n in (1, 2, 3):
        y_train, y_test = pre.encode(train)[n][0], pre.encode(held_out)[n][0]
        mu, sd = y_train.mean(0), y_train.std(0)
        gauss = (-0.5 * ((y_test - mu) / sd) ** 2 - np.log(sd * np.sqrt(2 * np.pi))).sum(1)
        gain = trained.log_prob_network(y_test, n) - gauss
        assert gain.mean() > 3 * gain.std() / np.sqrt(len(gain)), (n, gain.mean())
        gains.append(gain)
    assert np.concatenate(gains).mean() > 0.5


@pytest.mark.parametrize("coordinates", ["particles", "physics"])
def test_samples_carry_eq9_weights_normalised_per_multiplicity(coordinates, request):
    trained = request.getfixturevalue("trained" if coordinates == "particles" else "trained_physics")
    events = trained.sample(4000, seed=3)
    assert len(events) == 4000
    w = ak.to_numpy(events.weight)
    counts = n_jets(events)
    magic = MagicTransform()
    for k in (1, 2, 3):
        sel = counts == k
        expected = trained.magic_norm[k] * magic.event_generation_weights(events[sel])
        np.testing.assert_allclose(w[sel], expected, rtol=1e-5)
    assert np.all(w[counts == 1] == 1.0) and trained.magic_norm[1] == 1.0
    for k in (2, 3):  # mean weight one per multiplicity: the weighted fractions stay the training ones
        wk = w[counts == k]
        assert abs(wk.mean() - 1) < 4 * wk.std() / np.sqrt(len(wk)) + 0.01, (k, wk.mean())
    assert np.any(w == 0) and np.all(np.isfinite(w)) and np.all(w >= 0)
    plain = trained.sample(4000, seed=3, magic=False)
    assert np.all(ak.to_numpy(plain.weight) == 1.0)
    # the multiplicity fractions follow the training sample
    np.testing.assert_allclose(np.bincount(counts, minlength=4)[1:] / 4000, [0.7, 0.22, 0.08], atol=0.03)
    # generated jets respect the threshold the preprocessing encodes
    assert ak.min(events.Jet.pt) >= 20.0


@pytest.mark.parametrize("coordinates", ["particles", "physics"])
def test_save_load_regenerates_identically(coordinates, request, tmp_path):
    trained = request.getfixturevalue("trained" if coordinates == "particles" else "trained_physics")
    trained.save(tmp_path / "run")
    again = load_generator(tmp_path / "run")
    a, b = trained.sample(500, seed=11), again.sample(500, seed=11)
    for field in ("pt", "eta", "phi", "mass"):
        assert ak.all(a.Jet[field] == b.Jet[field]) and ak.all(a.Muon[field] == b.Muon[field])
    assert np.array_equal(ak.to_numpy(a.weight), ak.to_numpy(b.weight))
    names = {p.name for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert {"config.json", "model.json", "zjets_inn.safetensors", "preprocessing.json"} <= names
    assert not any(n.endswith((".pkl", ".pickle")) for n in names)


def test_cli_train_generate_read_round_trip(tmp_path, capsys):
    data = tmp_path / "zjets.root"
    write_events(data, toy_zjets_events(3000, seed=5))
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(
        "seed = 4\n[base]\nblocks = 2\nbins = 6\nhidden = 16\n[jets]\nblocks = 2\nbins = 6\nhidden = 16\n"
        "[training]\nepochs = 2\nbatch_size = 256\n"
    )
    run = tmp_path / "run"
    args = ["train", "zjets-inn", "--data", str(data), "-o", str(run), "--config", str(cfg), "--no-progress"]
    assert main(args) == 0
    prov = RunDir(run).read_provenance()
    assert prov["seed"] == 4 and prov["status"] == "complete"
    assert len(prov["data_files"][0]["sha256"]) == 64
    assert set(prov["multiplicity_fractions"]) == {"1", "2", "3"}
    history = json.loads((run / "history.json").read_text())
    assert [len(history[s]) for s in ("base", "j2", "j3")] == [2, 2, 2]
    weights = (run / "weights" / "zjets_inn.safetensors").read_bytes()
    # rerunning the finished command resumes from complete checkpoints: same weights, no retraining
    assert main(args) == 0
    assert (run / "weights" / "zjets_inn.safetensors").read_bytes() == weights

    out = tmp_path / "gen.root"
    assert (
        main(
            [
                "generate",
                str(run),
                "-n",
                "2500",
                "-o",
                str(out),
                "--chunk-size",
                "1000",
                "--seed",
                "1",
                "--no-progress",
            ]
        )
        == 0
    )
    events = read_events(out)
    assert len(events) == 2500
    w = ak.to_numpy(events.weight)
    assert np.all(np.isfinite(w)) and np.all(w >= 0)
    assert set(np.unique(n_jets(events))) <= {1, 2, 3}
    assert ak.all(ak.num(events.Muon) == 2)
    meta = read_metadata(out)
    assert meta["generator"] == "zjets-inn" and meta["generation"]["seed"] == 1
    assert meta["provenance"]["data_files"][0]["sha256"] == prov["data_files"][0]["sha256"]


def test_own_branch_names_through_the_config_layout(tmp_path):
    import uproot

    events = toy_zjets_events(200, seed=6)
    data = {
        "mu": ak.zip({k: ak.without_parameters(events.Muon[k]) for k in ("pt", "eta", "phi")}),
        "jet": ak.zip(
            {"pt": events.Jet.pt, "eta": events.Jet.eta, "phi": events.Jet.phi, "m": events.Jet.mass}
        ),
        "w": np.full(len(events), 2.0),
    }
    data["jet"] = ak.without_parameters(data["jet"])
    with uproot.recreate(tmp_path / "flat.root") as f:  # a TTree with mu_pt, jet_m, w, ... branches
        f.mktree(
            "tree", {k: (v.type.content if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()}
        )
        f["tree"].extend(data)
    layout = {
        "Muon": {"pt": "mu_pt", "eta": "mu_eta", "phi": "mu_phi", "mass": 0.1056584},
        "Jet": {"pt": "jet_pt", "eta": "jet_eta", "phi": "jet_phi", "mass": "jet_m"},
        "weight": "w",
    }
    gen = ZJetsINN(data={"tree": "tree", "layout": layout})
    read = gen.read_training_data([tmp_path / "flat.root"])
    assert len(read) == 200 and np.all(ak.to_numpy(read.weight) == 2.0)
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(read.Jet.mass)), ak.to_numpy(ak.flatten(events.Jet.mass)), rtol=1e-6
    )


def test_cli_errors_are_one_line(tmp_path, capsys):
    data = tmp_path / "bad.root"
    events = toy_zjets_events(50, seed=2)
    write_events(data, ak.with_field(events, events.Jet[:, :0], "Jet"))
    code = main(["train", "zjets-inn", "--data", str(data), "-o", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "bad.root: 50 of 50 events" in err and "--drop-invalid" in err
    assert main(["generate", str(tmp_path / "nothing"), "-n", "10", "-o", str(tmp_path / "x.root")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_a_run_written_before_the_coordinates_switch_loads_as_the_papers(trained, tmp_path):
    trained.save(tmp_path / "old")
    for name in ("config.json", "preprocessing.json"):  # strip what runs of the earlier release lacked
        path = tmp_path / "old" / name
        spec = json.loads(path.read_text())
        section = spec["config"]["preprocessing"] if name == "config.json" else spec["params"]
        section.pop("coordinates"), section.pop("balance_scale")
        spec.pop("charged", None)
        path.write_text(json.dumps(spec))
    old = load_generator(tmp_path / "old")
    assert old.config.preprocessing.coordinates == "particles"
    assert old.preprocessing.coordinates == "particles"
    a, b = trained.sample(300, seed=2), old.sample(300, seed=2)
    assert ak.all(a.Muon.pt == b.Muon.pt) and ak.all(a.Jet.eta == b.Jet.eta)


@pytest.mark.slow
def test_physics_coordinates_learn_the_z_peak_the_papers_do_not(one_torch_thread):
    # same small network and budget on the shipped sample's even half; M_μμ (1 jet) against the odd half
    from pathlib import Path

    from evgen import plugins
    from evgen.physics.observables import dimuon_mass
    from evgen.training.config import load_config_file
    from evgen.validation.histograms import compare_histograms, weighted_histogram

    events = read_events(plugins.get_dataset("zjets-small").path)
    train, truth = events[::2], events[1::2]
    config = load_config_file(Path(__file__).resolve().parents[3] / "configs" / "zjets-inn-small.toml")
    edges = np.linspace(50.0, 130.0, 41)
    one_jet = truth[n_jets(truth) == 1]
    reference = weighted_histogram(dimuon_mass(one_jet), None, edges)
    chi2 = {}
    for coordinates in ("particles", "physics"):
        gen = ZJetsINN(config, training={"epochs": 10}, preprocessing={"coordinates": coordinates})
        gen.fit(train, progress=False)
        sample = gen.sample(20_000, seed=1)
        sample = sample[n_jets(sample) == 1]
        generated = weighted_histogram(dimuon_mass(sample), ak.to_numpy(sample.weight), edges)
        chi2[coordinates] = compare_histograms(reference, generated).chi2_ndf
    # measured (seed 0, with the mass step of the small config): particles 175, physics 5.7 (floor ≈ 1)
    assert chi2["physics"] < 0.25 * chi2["particles"], chi2
    assert chi2["physics"] < 30, chi2


def test_mass_step_weights_are_fitted_applied_and_saved(tmp_path, one_torch_thread):
    from evgen import plugins
    from evgen.physics.observables import dimuon_mass

    events = read_events(plugins.get_dataset("zjets-small").path)[:8000]
    gen = ZJetsINN(TINY, training={"epochs": 1}, mass_step={"threshold": 50.0}, magic={"enabled": False})
    gen.fit(events, progress=False)
    m, k = dimuon_mass(events), n_jets(events)
    pooled = ((m >= 50) & (m < 52)).sum() / ((m >= 48) & (m < 50)).sum()
    one_jet = ((m >= 50) & (m < 52) & (k == 1)).sum() / ((m >= 48) & (m < 50) & (k == 1)).sum()
    # 90 % of the events train, ~30 of them in the windows at the cut
    assert gen.mass_step_ratio[1] == pytest.approx(one_jet, rel=0.3)
    # the sample's generator cut is a real jump, steepest with 1 jet
    assert gen.mass_step_ratio[1] > pooled > 2
    sample = gen.sample(4000, seed=1)
    w, ms, k = ak.to_numpy(sample.weight), dimuon_mass(sample), n_jets(sample)
    for n in (1, 2, 3):
        sel = k == n
        above = w[sel & (ms >= 50)]
        np.testing.assert_allclose(above, gen.magic_norm[n])
        np.testing.assert_allclose(w[sel & (ms < 50)], gen.magic_norm[n] / gen.mass_step_ratio[n])
    gen.save(tmp_path / "run")
    again = load_generator(tmp_path / "run")
    assert again.mass_step_ratio == gen.mass_step_ratio
    np.testing.assert_array_equal(
        ak.to_numpy(again.sample(500, seed=3).weight), ak.to_numpy(gen.sample(500, seed=3).weight)
    )
    # a run written before the per-multiplicity ratio stored one number: every multiplicity uses it
    state_file = tmp_path / "run" / "model.json"
    state = json.loads(state_file.read_text())
    state["mass_step_ratio"] = 3.25
    state_file.write_text(json.dumps(state))
    old = load_generator(tmp_path / "run")
    assert old.mass_step_ratio == {1: 3.25, 2: 3.25, 3: 3.25}
    sample = old.sample(2000, seed=4)
    w, ms, k = ak.to_numpy(sample.weight), dimuon_mass(sample), n_jets(sample)
    for n in (1, 2, 3):
        np.testing.assert_allclose(w[(k == n) & (ms < 50)], old.magic_norm[n] / 3.25)


def test_with_the_separation_map_only_the_open_jet_pair_carries_magic_weights(one_torch_thread):
    from evgen import plugins
    from evgen.physics.magic import generation_weights, jet_pair_delta_r

    events = read_events(plugins.get_dataset("zjets-small").path)[:8000]
    pre = {"gaussianize": True, "balance": "polar", "jet_eta": "relative", "jet_separation": "map"}
    gen = ZJetsINN(TINY, training={"epochs": 1}, preprocessing=pre)
    gen.fit(events, progress=False)
    sample = gen.sample(6000, seed=2)
    w, k = ak.to_numpy(sample.weight), n_jets(sample)
    assert gen.magic_norm[1] == gen.magic_norm[2] == 1.0
    np.testing.assert_array_equal(w[k <= 2], 1.0)  # no magic weights: the map closed the hole
    jets = sample.Jet[k == 3]
    eta = ak.to_numpy(ak.flatten(jets.eta)).reshape(-1, 3)
    phi = ak.to_numpy(ak.flatten(jets.phi)).reshape(-1, 3)
    pair_dr = jet_pair_delta_r(eta, phi)
    assert pair_dr[:, :2].min() >= 0.4 - 1e-6  # (1,2) and (1,3): mapped, separated by construction
    assert pair_dr[:, 2].min() < 0.4  # (2,3): the network's smoothed density, weighted below
    np.testing.assert_allclose(w[k == 3], gen.magic_norm[3] * generation_weights(pair_dr[:, 2:]), rtol=1e-5)
    # with a floor, mapped pairs carry the inverse of the linear ramp floor → 1 on [0.4, 1.5]
    soft = ZJetsINN(TINY, training={"epochs": 1}, preprocessing=pre, magic={"mapped_floor": 0.5})
    soft.fit(events, progress=False)
    sample = soft.sample(3000, seed=2)
    w, k = ak.to_numpy(sample.weight), n_jets(sample)
    jets = sample.Jet[k == 2]
    eta = ak.to_numpy(ak.flatten(jets.eta)).reshape(-1, 2)
    phi = ak.to_numpy(ak.flatten(jets.phi)).reshape(-1, 2)
    ramp = 0.5 + 0.5 * np.clip((jet_pair_delta_r(eta, phi)[:, 0] - 0.4) / 1.1, 0, 1)
    np.testing.assert_allclose(w[k == 2], soft.magic_norm[2] / ramp, rtol=1e-5)
    assert 1 <= w[k == 2].max() / soft.magic_norm[2] <= 2 + 1e-6
    with pytest.raises(ConfigError, match="mapped_floor"):
        ZJetsINN(magic={"mapped_floor": 0.0})
    with pytest.raises(ConfigError, match="jet_separation = 'map'"):
        ZJetsINN(preprocessing={"jet_separation": "map"})
    with pytest.raises(ConfigError, match="jet3_reference = 'j3'"):
        ZJetsINN(preprocessing={"jet3_reference": "j3"})


def test_with_jet3_from_the_midpoint_far_apart_jets_come_out_separated_and_unweighted(
    one_torch_thread, tmp_path
):
    from evgen import plugins
    from evgen.physics.magic import generation_weights, jet_pair_delta_r

    events = read_events(plugins.get_dataset("zjets-small").path)[:8000]
    pre = {
        "gaussianize": True,
        "balance": "polar",
        "jet_eta": "relative",
        "jet_separation": "map",
        "jet3_reference": "j1j2",
        "separation_equalize": 3.14159,  # jet 2 around jet 1, jet 3 in both of its discs
    }
    gen = ZJetsINN(TINY, training={"epochs": 1}, preprocessing=pre)
    gen.fit(events, progress=False)
    kinds = [step.kind for step in gen.preprocessing.chains[3].steps]
    assert kinds[:4] == ["relative-to", "third-jet-separation", "third-jet-equalize", "separation-map"]
    gen.save(tmp_path / "run")
    sample = load_generator(tmp_path / "run").sample(6000, seed=2)
    w, k = ak.to_numpy(sample.weight), n_jets(sample)
    jets = sample.Jet[k == 3]
    eta = ak.to_numpy(ak.flatten(jets.eta)).reshape(-1, 3)
    phi = ak.to_numpy(ak.flatten(jets.phi)).reshape(-1, 3)
    pair_dr = jet_pair_delta_r(eta, phi)
    apart = pair_dr[:, 0] >= 1.2 + 1e-6
    assert 0.5 < apart.mean() < 1 and (~apart).sum() > 10
    assert pair_dr[apart].min() >= 0.4 - 1e-6  # every pair separated by construction
    np.testing.assert_allclose(w[k == 3][apart], gen.magic_norm[3], rtol=1e-6)  # and unweighted
    # jets 1 and 2 close together: jet 3's two pairs are the magic transform's (Eq. 9)
    np.testing.assert_allclose(
        w[k == 3][~apart], gen.magic_norm[3] * generation_weights(pair_dr[~apart][:, 1:]), rtol=1e-5
    )
    with pytest.raises(ConfigError, match="jet3_reference = 'j1j2': needs jet_separation = 'map'"):
        ZJetsINN(preprocessing={"jet_eta": "relative", "jet3_reference": "j1j2"})


def test_the_radial_equaliser_trains_saves_and_samples_separated_jets(one_torch_thread, tmp_path):
    from evgen import plugins
    from evgen.physics.magic import jet_pair_delta_r

    events = read_events(plugins.get_dataset("zjets-small").path)[:8000]
    pre = {
        "gaussianize": True,
        "balance": "polar",
        "jet_eta": "relative",
        "jet_separation": "map",
        "separation_equalize": 1.5,
    }
    gen = ZJetsINN(TINY, training={"epochs": 1}, preprocessing=pre)
    gen.fit(events, progress=False)
    assert "radial-equalize" in [s.kind for s in gen.preprocessing.chains[3].steps]
    gen.save(tmp_path / "run")
    again = ZJetsINN.load(tmp_path / "run")
    assert again.config.preprocessing.separation_equalize == 1.5
    sample = again.sample(3000, seed=4)
    np.testing.assert_array_equal(ak.to_numpy(sample.weight), ak.to_numpy(gen.sample(3000, seed=4).weight))
    jets = sample.Jet[n_jets(sample) == 2]
    eta = ak.to_numpy(ak.flatten(jets.eta)).reshape(-1, 2)
    phi = ak.to_numpy(ak.flatten(jets.phi)).reshape(-1, 2)
    assert jet_pair_delta_r(eta, phi).min() >= 0.4 - 1e-6
    assert np.isfinite(again.log_prob(sample)).all()
    with pytest.raises(ConfigError, match="separation_equalize.*needs jet_separation = 'map'"):
        ZJetsINN(preprocessing={**pre, "jet_separation": "none"})
    with pytest.raises(ConfigError, match="separation_equalize"):
        ZJetsINN(preprocessing={**pre, "separation_equalize": 4.0})


def test_the_jet_networks_can_train_for_their_own_number_of_epochs(train_events, one_torch_thread):
    gen = ZJetsINN(
        TINY, training={"epochs": 1}, jets={**TINY["jets"], "epochs": 2}, data={"validation_fraction": 0.0}
    )
    history = gen.fit(train_events[:1500], progress=False)
    assert [len(history[stage]) for stage in ("base", "j2", "j3")] == [1, 2, 2]
    with pytest.raises(ConfigError, match="jets.epochs = 0"):
        ZJetsINN(jets={"epochs": 0})


def test_reflection_mirrors_half_the_generated_events_and_symmetrises_the_density(trained_physics, tmp_path):
    from evgen.physics.reflection import reflect

    trained_physics.save(tmp_path / "run")
    symmetric = load_generator(tmp_path / "run")
    symmetric.config = dataclasses.replace(symmetric.config, reflection=ReflectionConfig(generation=True))
    plain, mirrored = trained_physics.sample(3000, seed=4), symmetric.sample(3000, seed=4)
    eta, eta0 = ak.to_numpy(mirrored.Jet.eta[:, 0]), ak.to_numpy(plain.Jet.eta[:, 0])
    flipped = eta == -eta0
    assert np.all(flipped | (eta == eta0))  # the same events, some of them mirrored
    assert 0.45 < flipped.mean() < 0.55
    np.testing.assert_array_equal(ak.to_numpy(mirrored.Jet.pt[:, 0]), ak.to_numpy(plain.Jet.pt[:, 0]))
    # the density of the symmetrised generator: the same for an event and its mirror image,
    # the mean of the network's density at both
    lp, lp_mirror = symmetric.log_prob(plain[:200]), symmetric.log_prob(reflect(plain[:200]))
    np.testing.assert_allclose(lp, lp_mirror, rtol=1e-6)
    own, own_mirror = trained_physics.log_prob(plain[:200]), trained_physics.log_prob(reflect(plain[:200]))
    assert np.max(np.abs(own - own_mirror)) > 1e-3  # the network alone is not symmetric
    np.testing.assert_allclose(lp, np.logaddexp(own, own_mirror) - np.log(2), rtol=1e-9)


def test_reflection_in_training_doubles_the_rows_and_makes_the_fitted_maps_symmetric(train_events):
    pre = {"gaussianize": True, "whitening": "none"}
    gen = ZJetsINN(TINY, training={"epochs": 1}, preprocessing=pre, reflection={"training": True})
    gen.fit(train_events[:1500], progress=False)
    assert gen.info["n_train_rows"] == 2 * gen.info["n_train"]
    knots = gen.preprocessing.chains[1].steps[-1].knots
    y_col = gen.preprocessing.features(1).names.index("j1_eta")
    # an exactly mirror-symmetric sample: the leading jet's η quantiles are antisymmetric
    np.testing.assert_allclose(knots[y_col], -knots[y_col][::-1], atol=1e-6)
    with pytest.raises(ConfigError, match="reflection"):
        ZJetsINN(reflection={"training": "maybe"})


def test_mirror_for_the_jet_networks_leaves_the_base_network_as_it_was(train_events):
    """``mirror = "jets"``: the images double the jet networks' rows and never reach the base
    (bit for bit on the toy, which has no point masses to dequantise)."""
    from evgen.physics.reflection import mirror, reflect

    torch.set_num_threads(1)
    options = {**TINY, "training": {**TINY["training"], "epochs": 1}}
    plain = ZJetsINN(options, reflection={"training": True})
    plain.fit(train_events[:1500], progress=False)
    mirrored = ZJetsINN(options, reflection={"training": True, "generation": True, "mirror": "jets"})
    mirrored.fit(train_events[:1500], progress=False)
    rows, rows_plain = mirrored.info["n_train_per_network"], plain.info["n_train_per_network"]
    assert rows["base"] == rows_plain["base"]
    assert rows["j2"] == 2 * rows_plain["j2"] and rows["j3"] == 2 * rows_plain["j3"]
    base = {k: v for k, v in mirrored.model.state_dict().items() if k.startswith("base")}
    assert base
    for key, value in base.items():
        torch.testing.assert_close(value, plain.model.state_dict()[key], rtol=0, atol=0)
    # the generator samples the density averaged over R and M: log_prob is invariant under both
    events = mirrored.sample(300, seed=2)
    lp = mirrored.log_prob(events)
    np.testing.assert_allclose(mirrored.log_prob(mirror(events)), lp, rtol=1e-6)
    np.testing.assert_allclose(mirrored.log_prob(reflect(events)), lp, rtol=1e-6)
    with pytest.raises(ConfigError, match="reflection.mirror"):
        ZJetsINN(reflection={"mirror": "both"})


def test_a_runaway_network_row_is_redrawn_not_written_as_inf_or_nan(trained_physics, monkeypatch):
    """A network output far in the tail decodes to p_T ~ 1e12 GeV, which overflows float32 to inf."""
    from evgen_zjets_inn.generator import FEATURE_LIMIT

    original = trained_physics.model.sample
    calls = []

    def runaway(n, size, generator=None):
        y = original(n, size, generator)
        if not calls:
            y[0] = 60.0  # every coordinate far beyond the training range
        calls.append(size)
        return y

    monkeypatch.setattr(trained_physics.model, "sample", runaway)
    events = trained_physics.sample(500, seed=0, conditions=np.ones(500))
    assert calls[1] == 1  # the one runaway row was drawn again
    for field in ("pt", "eta", "phi", "mass"):
        for name in ("Muon", "Jet"):
            values = ak.to_numpy(ak.flatten(events[name][field]))
            assert np.all(np.isfinite(values)) and np.all(np.abs(values) < FEATURE_LIMIT)


def test_generated_jets_stay_within_the_training_samples_acceptance(trained_physics, train_events, tmp_path):
    eta_max = float(ak.max(abs(train_events.Jet.eta)))
    assert trained_physics.jet_eta_max == pytest.approx(eta_max, rel=0, abs=0.05)  # the training split's
    sample = trained_physics.sample(20_000, seed=4)
    assert float(ak.max(abs(sample.Jet.eta))) <= trained_physics.jet_eta_max
    trained_physics.save(tmp_path / "run")
    assert load_generator(tmp_path / "run").jet_eta_max == trained_physics.jet_eta_max
    # a run directory written before the cut existed samples as it did: jets beyond the edge exist
    state = json.loads((tmp_path / "run" / "model.json").read_text())
    del state["jet_eta_max"]
    (tmp_path / "run" / "model.json").write_text(json.dumps(state))
    old = load_generator(tmp_path / "run")
    assert old.jet_eta_max is None
    assert float(ak.max(abs(old.sample(20_000, seed=4).Jet.eta))) > trained_physics.jet_eta_max


def test_a_jet_beyond_jet_eta_bound_stops_training_naming_the_value_and_leaves_no_run(tmp_path, train_events):
    worst = float(np.abs(ak.to_numpy(train_events.Jet.eta[:, 0])).max())
    gen = ZJetsINN(TINY, preprocessing={"jet_eta_bound": worst / 2})
    with pytest.raises(
        InputError, match=rf"training events: a jet at \|η\| = .* jet_eta_bound = {worst / 2}"
    ):
        gen.fit(train_events, run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
