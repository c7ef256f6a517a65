"""Two-sample classifier test and reliability curves against exact answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from evgen.errors import InputError
from evgen.events import toy_events
from evgen.validation.calibration import ReliabilityCurve, reliability_curve
from evgen.validation.consistency import (
    bootstrap_auc,
    classifier_two_sample_test,
    consistency_report,
    weighted_auc,
)
from tests.conftest import make_collider_events

TINY = {"layers": 2, "hidden": 32, "epochs": 15, "batch_size": 512, "lr": 3e-3, "early_stopping": 5}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _brute_auc(s, y, w):
    pos, neg = y == 1, y == 0
    diff = s[pos][:, None] - s[neg][None, :]
    ww = w[pos][:, None] * w[neg][None, :]
    return float(np.sum(ww * ((diff > 0) + 0.5 * (diff == 0))) / ww.sum())


def test_weighted_auc_matches_pairwise_definition_with_ties_and_weights():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 15, 400).astype(float)  # many ties
    y = rng.integers(0, 2, 400)
    w = rng.uniform(0.1, 3.0, 400)
    assert weighted_auc(s, y, w) == pytest.approx(_brute_auc(s, y, w), rel=1e-12)
    # integer weights are the same as repeated events
    k = rng.integers(1, 4, 400)
    assert weighted_auc(s, y, k) == pytest.approx(weighted_auc(np.repeat(s, k), np.repeat(y, k)), rel=1e-12)
    # perfect separation and its mirror
    assert weighted_auc(np.arange(10.0), np.r_[np.zeros(5), np.ones(5)]) == 1.0
    assert weighted_auc(-np.arange(10.0), np.r_[np.zeros(5), np.ones(5)]) == 0.0


def test_bootstrap_error_matches_spread_over_independent_test_sets():
    # a fixed score (x itself) on N(0.3, 1) vs N(0, 1): the AUC's true spread is known by repetition
    rng = np.random.default_rng(1)
    n = 1500
    values = []
    for _ in range(60):
        s = np.r_[rng.normal(0.3, 1, n), rng.normal(0, 1, n)]
        values.append(weighted_auc(s, np.r_[np.ones(n), np.zeros(n)]))
    s = np.r_[rng.normal(0.3, 1, n), rng.normal(0, 1, n)]
    m = bootstrap_auc(s, np.r_[np.ones(n), np.zeros(n)], n_bootstrap=300, seed=2)
    assert m.value == pytest.approx(norm.cdf(0.3 / math.sqrt(2)), abs=4 * m.error)
    assert 0.7 < m.error / np.std(values, ddof=1) < 1.4


def test_two_sample_auc_of_identical_samples_is_one_half():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(4000, 3)), rng.normal(size=(4000, 3))
    result = classifier_two_sample_test(a, b, config=TINY, seed=0, n_bootstrap=200)
    assert result.n_test == 4000 and result.n_train == 4000
    assert 0.005 < result.auc_error < 0.02
    assert abs(result.auc - 0.5) < 2.5 * result.auc_error, result
    assert result.measurement.value == result.auc


def test_two_sample_auc_of_shifted_gaussians_is_the_optimal_one():
    # optimal AUC for a mean shift δ along one axis: Φ(δ/√2)
    rng = np.random.default_rng(4)
    delta = 0.4
    a = toy_events(rng.normal(size=(4000, 2)) + [delta, 0.0])
    b = toy_events(rng.normal(size=(4000, 2)))
    report = consistency_report(a, b, config=TINY, seed=1, n_bootstrap=100)
    result = report.results[None]
    assert result.significance > 5
    assert result.auc == pytest.approx(norm.cdf(delta / math.sqrt(2)), abs=0.025)
    assert "two_sample_auc" in report.to_dict() and "| — |" in report.markdown()


def test_consistency_report_per_multiplicity_on_collider_events():
    ref, gen = make_collider_events(1800, seed=10), make_collider_events(1800, seed=11)
    report = consistency_report(ref, gen, config={**TINY, "epochs": 5}, n_bootstrap=50, seed=2)
    assert sorted(report.results) == [1, 2, 3]
    for n, r in report.results.items():
        assert r.multiplicity == n and abs(r.auc - 0.5) < 4 * r.auc_error
    with pytest.raises(InputError, match="toy points with toy points"):
        consistency_report(ref, toy_events(np.zeros((10, 2))))


def test_reliability_curve_of_the_exact_posterior_is_diagonal_and_of_a_sharpened_one_is_not():
    rng = np.random.default_rng(5)
    n, delta = 20000, 0.8
    x = np.r_[rng.normal(delta, 1, n), rng.normal(0, 1, n)]
    y = np.r_[np.ones(n), np.zeros(n)]
    logit = delta * x - delta**2 / 2  # exact log density ratio
    good = reliability_curve(1 / (1 + np.exp(-logit)), y, bins=10)
    assert good.ndf == 10 and good.chi2_ndf < 2.5 and good.max_deviation < 0.03
    bad = reliability_curve(1 / (1 + np.exp(-3 * logit)), y, bins=10)
    assert bad.chi2_ndf > 20 and bad.max_deviation > 0.1
    # round trip through the JSON form
    again = ReliabilityCurve.from_dict(good.to_dict())
    np.testing.assert_array_equal(again.true_fraction, good.true_fraction)
    assert again.chi2 == pytest.approx(good.chi2)


def test_reliability_curve_balances_unequal_classes():
    # 3x more generated events: without balancing the fractions drop, with it the curve stays diagonal
    rng = np.random.default_rng(6)
    delta = 0.8
    x = np.r_[rng.normal(delta, 1, 10000), rng.normal(0, 1, 30000)]
    y = np.r_[np.ones(10000), np.zeros(30000)]
    d = 1 / (1 + np.exp(-(delta * x - delta**2 / 2)))
    assert reliability_curve(d, y, strategy="uniform", bins=8).max_deviation < 0.05
    assert reliability_curve(d, y, strategy="uniform", bins=8, balance=False).max_deviation > 0.1
    with pytest.raises(InputError, match="probabilities"):
        reliability_curve(d * 2, y)


def test_validate_consistency_flag_writes_aucs(tmp_path):
    import json

    from evgen.cli import main
    from evgen.io import write_events
    from tests.conftest import make_collider_events

    ref = write_events(tmp_path / "ref.root", make_collider_events(600, seed=40))
    gen = write_events(tmp_path / "gen.root", make_collider_events(600, seed=41))
    out = tmp_path / "val"
    assert main(["validate", str(ref), str(gen), "-o", str(out), "--no-plots", "--consistency"]) == 0
    rows = json.loads((out / "consistency.json").read_text())["two_sample_auc"]
    assert sorted(r["multiplicity"] for r in rows) == [1, 2, 3]
    # both samples come from one distribution: every AUC is compatible with 1/2
    for r in rows:
        assert 0 < r["auc_error"] < 0.2 and abs(r["auc"] - 0.5) < 4 * r["auc_error"] + 0.03, r
