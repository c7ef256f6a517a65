"""The Z+jets amplification study: a bootstrap of histograms with a known answer, and the report of a tiny run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evgen.cli import main
from evgen.errors import ConfigError, InputError
from evgen.studies.zjets_amplification import observable_group, parse_members, size_report

B = 30
P = np.exp(-0.5 * ((np.arange(B) - 12.0) / 6.0) ** 2)
P /= P.sum()


def _bootstrap_histograms(rng: np.random.Generator, n: int, members: int, n_gen: int, observables: int):
    """Per observable: a truth sample, a training sample of n events and ``members`` bootstrap 'models'
    (each its resample's histogram, sampled with n_gen events): the empirical distribution as generator."""
    truth, training, member_hists = {}, {}, [{} for _ in range(members)]
    for o in range(observables):
        key = (1, f"pt_j{o}")
        t = rng.multinomial(200_000, P).astype(float)
        sample = rng.multinomial(n, P)
        truth[key], training[key] = (t, t), (sample.astype(float), sample.astype(float))
        for k in range(members):
            resample = rng.multinomial(n, sample / n) / n
            g = rng.multinomial(n_gen, resample).astype(float)
            member_hists[k][key] = (g, g)
    return truth, training, member_hists


def test_a_bootstrap_of_the_training_histogram_is_worth_k_over_k_plus_1_of_it_predicted_and_measured():
    """The mean of K bootstrap resamples errs by the training sample's fluctuation plus 1/K of the
    resampling noise: worth n K/(K+1) truth events; one member n/2. Prediction, measurement and the
    training sample's own measurement (n) must all come out so, and the 68 % coverage must hold."""
    rng = np.random.default_rng(0)
    n, k = 20_000, 8
    truth, training, members = _bootstrap_histograms(rng, n, k, 2_000_000, observables=60)
    report = size_report(truth, training, members, {1: n})
    rows = report["observables"]
    predicted = np.median([r["amplification_predicted"] for r in rows])
    excess = np.mean([r["measured"]["excess"] for r in rows])
    scale = np.mean([r["measured"]["scale"] for r in rows])
    assert predicted == pytest.approx(k / (k + 1), rel=0.15)
    assert scale / excess / n == pytest.approx(k / (k + 1), rel=0.1)
    training_excess = np.mean([r["training"]["excess"] for r in rows])
    assert scale / training_excess / n == pytest.approx(1.0, rel=0.1)
    single = np.mean([r["amplification_single"] for r in rows])
    assert 0.4 < single < 0.62
    assert 0.6 < report["coverage_68_pooled"] < 0.76
    assert np.mean([abs(r["predicted_minus_measured_sigma"]) < 2 for r in rows]) > 0.85
    covered = [r for r in rows if 0.60 <= r["coverage_68"] <= 0.76]
    assert len(report["covered_observables"]) == len(covered) == report["observables_with_coverage_in_60_76"]
    assert report["covered_observables_agreeing"] == sum(r["agree"] for r in covered)
    assert {"coverage_68", "amplification_low", "amplification_high", "agree", "bulk_bins"} <= set(rows[0])


def test_coverage_holds_where_the_truth_files_statistics_dominate_the_band():
    """A training sample 10 × the truth file: the members' spread is small next to the truth's own noise.
    Intervals of t_{K-1} on the whole variance over-cover there (0.77 with 4 members); Welch–Satterthwaite
    degrees of freedom and the unclipped variance cover 68 %, and the number of observables in
    [0.60, 0.76] is what a calibrated band scores by chance."""
    rng = np.random.default_rng(4)
    n, k = 2_000_000, 4
    truth, training, members = _bootstrap_histograms(rng, n, k, 2_000_000, observables=60)
    report = size_report(truth, training, members, {1: n})
    assert abs(report["coverage_68_pooled"] - 0.683) < 0.03
    expected = report["observables_with_coverage_in_60_76_if_calibrated"]
    assert 0.5 * 60 < expected < 0.85 * 60
    assert abs(report["observables_with_coverage_in_60_76"] - expected) < 4 * np.sqrt(
        expected * (1 - expected / 60)
    )
    assert np.median([r["t68"] for r in report["observables"]]) < 1.1  # nearly Gaussian, not t_3's 1.197
    # the binomial test: a calibrated band passes about 95 % of the observables
    consistent = report["observables_with_coverage_consistent_if_calibrated"]
    assert 0.95 * 60 <= consistent < 60
    assert report["observables_with_coverage_consistent"] >= consistent - 4 * np.sqrt(
        consistent * (1 - consistent / 60)
    )
    assert len(report["coverage_off"]) == 60 - report["observables_with_coverage_consistent"]
    assert report["member_to_truth_events"]["1"] == pytest.approx(10.0, rel=0.01)
    assert report["too_few_generated"] == []


def test_groups_members_and_bad_input():
    assert observable_group("dR_j1j2") == "jet pairs" and observable_group("m_mumu") == "Z and balance"
    assert observable_group("pt_mu2") == "muons" and observable_group("mass_j3") == "jets"
    # the dimuon system is the Z, not a muon: p_T,μμ and y_μμ sit with M_μμ
    assert observable_group("pt_mumu") == observable_group("y_mumu") == "Z and balance"
    with pytest.raises(ConfigError, match="N:RUN_GLOB"):
        parse_members("runs/a*")
    with pytest.raises(InputError, match="no run directory"):
        parse_members("100:/nonexistent/run*")
    rng = np.random.default_rng(1)
    truth, training, members = _bootstrap_histograms(rng, 1000, 1, 10_000, observables=1)
    with pytest.raises(ConfigError, match="at least 2 members"):
        size_report(truth, training, members, {1: 1000})


@pytest.mark.usefixtures("one_torch_thread")
def test_the_study_on_two_tiny_members_writes_a_report_a_user_can_read(tmp_path, capsys):
    from evgen import plugins
    from evgen.io import read_events, write_events
    from evgen.training.api import train_generator

    events = read_events(plugins.get_dataset("zjets-small").path)
    training, truth = tmp_path / "train.root", tmp_path / "truth.root"
    write_events(training, events[:4000])
    write_events(truth, events[4000:8000])
    tiny = {
        "base": {"blocks": 2, "bins": 8, "hidden": 16, "layers": 1},
        "jets": {"blocks": 1, "bins": 8, "hidden": 16, "layers": 1},
        "training": {"epochs": 2, "batch_size": 512},
    }
    for b in range(2):
        train_generator("zjets-inn", [training], tmp_path / f"m{b}", config=tiny, progress=False, bootstrap=b)
    argv = ["study", "amplification-zjets", str(truth), "--training", str(training), "--members"]
    argv += [f"3000:{tmp_path}/m*", "-o", str(tmp_path / "out"), "-n", "5000", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "n_train 3000: median amplification measured" in out
    result = json.loads((tmp_path / "out" / "amplification.json").read_text())
    report = result["sizes"]["3000"]
    # 5000 generated events per member against 4000 truth events: the members' own noise is the truth's
    assert 0.5 < report["member_to_truth_events"]["1"] < 1.6 and "1" in report["too_few_generated"]
    assert "Warning: each member generated fewer than 2 × the truth's events" in out
    assert "Generate more events per member (-n)" in (tmp_path / "out" / "amplification.md").read_text()
    assert report["members"] == 2 and sum(report["n_train_per_multiplicity"].values()) == 3000
    names = {(r["multiplicity"], r["observable"]) for r in report["observables"]}
    assert (1, "m_mumu") in names and (2, "dR_j1j2") in names
    text = (tmp_path / "out" / "amplification.md").read_text()
    assert "| jets | observable | A predicted |" in text and "| p (binomial) |" in text
    assert "Coverage consistent with 68 % (binomial p ≥ 0.05): " in text
    assert (
        f"consistent with 68 % (binomial p >= 0.05) for {report['observables_with_coverage_consistent']}"
        in out
    )
    assert (tmp_path / "out" / "amplification_vs_ntrain.png").stat().st_size > 10_000
    stored = sorted((tmp_path / "out" / "n3000").glob("member_*.npz"))
    assert len(stored) == 2
    # a second call reuses the stored member histograms: the same numbers
    assert main([*argv, "--no-plots"]) == 0
    again = json.loads((tmp_path / "out" / "amplification.json").read_text())
    assert again["sizes"]["3000"]["observables"] == report["observables"]
    # a training size larger than the training files: a clear error, exit code non-zero
    bad = ["study", "amplification-zjets", str(truth), "--training", str(training)]
    bad += ["--members", f"9000:{tmp_path}/m*", "-o", str(tmp_path / "bad"), "-n", "5000"]
    assert main(bad) != 0
    assert "fewer than n_train" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "amplification.json").exists()


def test_the_binomial_test_names_an_observable_whose_members_share_a_bias():
    """Every member of one observable shifted by the same 4 σ_pred in each bulk bin: the bootstrap
    cannot see it, its coverage falls far below 68 % and the report names it as under-covered,
    while the untouched observables pass."""
    rng = np.random.default_rng(2)
    n, k = 20_000, 8
    truth, training, members = _bootstrap_histograms(rng, n, k, 2_000_000, observables=10)
    key = (1, "pt_j3")
    shift = 4 * np.sqrt(P * (1 - P) / n) * np.where(np.arange(B) % 2 == 0, 1.0, -1.0)
    for m in members:
        w = m[key][0]
        biased = np.maximum(w + shift * w.sum(), 0.0)
        m[key] = (biased, biased)
    report = size_report(truth, training, members, {1: n})
    rows = {r["observable"]: r for r in report["observables"]}
    assert rows["pt_j3"]["coverage_68"] < 0.4
    assert rows["pt_j3"]["coverage_p_value"] < 1e-3
    assert any(
        entry.startswith("1 j pt_j3 (") and entry.endswith("under)") for entry in report["coverage_off"]
    )
    assert report["observables_with_coverage_consistent"] >= 8
