"""Generated events next to the floor: pulls, ratios, the failing bins, and `evgen validate --floor`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evgen.errors import InputError
from evgen.validation.floor import floor_comparison
from evgen.validation.histograms import compare_histograms, histogram_pulls, weighted_histogram
from evgen.validation.results import ObservableResult, ValidationSummary

EDGES = np.linspace(0.0, 1.0, 21)


def _result(name: str, values: np.ndarray, reference: np.ndarray) -> ObservableResult:
    h_ref, h_gen = weighted_histogram(reference, None, EDGES), weighted_histogram(values, None, EDGES)
    return ObservableResult(name, 1, EDGES, h_ref, h_gen, compare_histograms(h_ref, h_gen))


def test_pulls_are_the_normalised_differences_and_sum_to_the_chi2():
    rng = np.random.default_rng(0)
    ref, gen = rng.uniform(size=20_000), rng.uniform(size=50_000)
    h_ref, h_gen = weighted_histogram(ref, None, EDGES), weighted_histogram(gen, None, EDGES)
    pulls = histogram_pulls(h_ref, h_gen)
    r, g = h_ref.values(), h_gen.values()
    pooled = (r + g) / (r.sum() + g.sum())  # unit weights: the pooled shape is the summed counts
    expected = (g / g.sum() - r / r.sum()) / np.sqrt(pooled * (1 / r.sum() + 1 / g.sum()))
    np.testing.assert_allclose(pulls, expected, rtol=1e-12)
    assert np.sum(pulls**2) == pytest.approx(compare_histograms(h_ref, h_gen).chi2, rel=1e-12)


def test_floor_comparison_finds_the_biased_observable_and_the_bin_that_carries_it():
    rng = np.random.default_rng(1)
    truth = rng.uniform(size=40_000)
    training = rng.uniform(size=80_000)
    good = rng.uniform(size=80_000)
    biased = np.concatenate([rng.uniform(size=78_000), rng.uniform(0.30, 0.35, 2_000)])  # +2.5 % in one bin
    generated = ValidationSummary(
        "truth", "gen", {}, [_result("a", good, truth), _result("b", biased, truth)]
    )
    floor = ValidationSummary(
        "truth", "train", {}, [_result("a", training, truth), _result("b", training, truth)]
    )
    comparison = floor_comparison(generated, floor, limit=2.0)
    by_name = {row.observable: row for row in comparison.rows}
    assert by_name["a"].ratio < 2 < by_name["b"].ratio
    assert comparison.worst.observable == "b" and [row.observable for row in comparison.above_limit] == ["b"]
    lo, hi, pull = by_name["b"].worst_bins[0]
    assert (lo, hi) == pytest.approx((0.30, 0.35)) and pull > 10
    assert comparison.median_ratio == pytest.approx(np.median([by_name["a"].ratio, by_name["b"].ratio]))
    # a generator equal to the truth reaches a's χ² easily, b's never
    assert by_name["a"].ndf == 19 and by_name["a"].p_value > 0.05
    assert by_name["b"].p_value == pytest.approx(1 / 2001)  # no replica of 2000 comes near
    from scipy.stats import chi2

    assert by_name["a"].p_value_chi2 == pytest.approx(chi2.sf(by_name["a"].generated * 19, 19), rel=1e-12)
    assert by_name["b"].p_value_chi2 < 1e-12
    assert [row.observable for row in comparison.significant] == ["b"]
    text = comparison.markdown()
    assert (
        "1 of 2 observables above 2 × the floor, 1 of them beyond what the statistics allow" in text
        and "| 1 | b |" in text
        and "**" in text
    )
    report = json.loads(json.dumps(comparison.to_dict()))
    assert report["above_limit"] == 1 and report["above_limit_significant"] == 1
    assert report["observables"][1]["ndf"] == 19
    with pytest.raises(InputError, match="same observables"):
        floor_comparison(generated, ValidationSummary("truth", "train", {}, [_result("a", training, truth)]))


def test_cli_validate_with_a_floor_writes_the_ratios(collider_file, tmp_path, capsys):
    from evgen.cli import main

    path, _ = collider_file
    out = tmp_path / "val"
    assert main(["validate", str(path), str(path), "-o", str(out), "--no-plots", "--floor", str(path)]) == 0
    report = json.loads((out / "floor.json").read_text())
    rows = report["observables"]
    assert {r["multiplicity"] for r in rows} == {1, 2, 3}
    # identical samples everywhere: χ² 0 for generated and floor alike
    assert all(r["chi2_ndf"] == 0.0 and r["floor_chi2_ndf"] == 0.0 for r in rows)
    assert "against the floor" in capsys.readouterr().out
    # a missing floor file: a clear error, and nothing written
    bad = tmp_path / "bad"
    assert (
        main(["validate", str(path), str(path), "-o", str(bad), "--floor", str(tmp_path / "nope.root")]) != 0
    )
    assert not bad.exists()


def test_how_often_a_perfect_generator_fails_is_predicted():
    # repeated experiments in which truth, training and generated events all come from the true
    # density: the fraction above the limit matches the replicas' prediction from one experiment,
    # and the p-values of the generated ratio are uniform
    rng = np.random.default_rng(7)
    limit = 1.3  # near 1, so that the prediction is a fraction well inside (0, 1)

    def experiment() -> tuple[ValidationSummary, ValidationSummary]:
        truth, training = rng.uniform(size=20_000), rng.uniform(size=60_000)
        generated = ValidationSummary("truth", "gen", {}, [_result("x", rng.uniform(size=40_000), truth)])
        return generated, ValidationSummary("truth", "train", {}, [_result("x", training, truth)])

    above, p_values = [], []
    for _ in range(300):
        comparison = floor_comparison(*experiment(), limit=limit, replicas=200, seed=1)
        above.append(len(comparison.above_limit))
        p_values.append(comparison.rows[0].p_value)
    predicted = comparison.expected_above_limit_if_perfect
    assert 0.05 < predicted < 0.95
    assert np.mean(above) == pytest.approx(
        predicted, abs=3 * np.sqrt(predicted * (1 - predicted) / 300) + 0.03
    )
    assert np.mean(np.array(p_values) < 0.2) == pytest.approx(0.2, abs=0.08)
    assert comparison.probability_none_above_if_perfect == pytest.approx(1 - predicted, rel=1e-12)
    report = comparison.to_dict()
    assert report["expected_above_limit_if_perfect"] == pytest.approx(predicted)
    assert "Such a generator would put" in comparison.markdown()
    # a biased generator: p-values at the bottom, and the same prediction for a perfect one
    truth = rng.uniform(size=20_000)
    biased = np.concatenate([rng.uniform(size=39_000), rng.uniform(0.30, 0.35, 1_000)])
    generated = ValidationSummary("truth", "gen", {}, [_result("x", biased, truth)])
    floor = ValidationSummary("truth", "train", {}, [_result("x", rng.uniform(size=60_000), truth)])
    assert floor_comparison(generated, floor, limit=limit, replicas=200, seed=1).rows[0].p_value == 1 / 201
