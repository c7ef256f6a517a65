"""Matchev et al. Appendix A: a perfect GAN's spread plateaus at 1/sqrt(n_train); reports."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest

from evgen.cli.studies import add_matchev_command
from evgen.errors import ConfigError
from evgen.interfaces import Measurement
from evgen.studies.matchev import run_matchev, sample_means, train_perfect_gans
from evgen.validation.records import markdown_table, to_jsonable, write_report


def test_gan_spread_plateaus_and_matches_prediction() -> None:
    n_train = 50
    result = run_matchev(
        None, n_train=n_train, n_gen=(10, 100, 1000, 10_000), pseudo_experiments=20_000, seed=1
    )
    rows = result["rows"]
    # true sampling keeps improving, the perfect GAN saturates at 1/sqrt(n_train)
    for r in rows:
        assert r["std_true"].value == pytest.approx(1 / math.sqrt(r["n_gen"]), rel=0.03)
        assert r["ratio_gan"].value == pytest.approx(1.0, abs=0.10)
    assert result["plateau"]["ratio"] == pytest.approx(1.0, abs=0.05)
    assert rows[-1]["std_gan"].value > 9 * rows[-1]["std_true"].value
    assert result["agreement"]["within_10_percent"]
    # the in-situ prediction (from the training sample alone) covers the truth ~68 % of the time
    for r in rows:
        assert r["coverage_1sigma"] == pytest.approx(0.683, abs=0.03)


def test_explicit_sampling_agrees_with_exact_shortcut() -> None:
    rng = np.random.default_rng(2)
    mu, sigma = train_perfect_gans(40, 4000, rng)
    assert np.std(mu) == pytest.approx(1 / math.sqrt(40), rel=0.05)
    for n_gen in (5, 200):
        exact = sample_means(mu, sigma, n_gen, np.random.default_rng(3), method="exact")
        explicit = sample_means(mu, sigma, n_gen, np.random.default_rng(4), method="explicit")
        assert np.std(explicit) == pytest.approx(np.std(exact), rel=0.06)
        # given the training, the generated means scatter by sigma_hat / sqrt(n_gen)
        assert np.std((explicit - mu) / sigma) == pytest.approx(1 / math.sqrt(n_gen), rel=0.05)


def test_funnels_converge_to_their_training_means(tmp_path) -> None:
    result = run_matchev(
        tmp_path,
        n_train=100,
        n_gen=(30, 300, 100_000),
        pseudo_experiments=2000,
        funnel_experiments=300,
        seed=3,
    )
    for f in result["funnels"]:
        assert f["final_mean"] == pytest.approx(f["training_mean"], abs=5 * f["final_std"] / math.sqrt(300))
        assert f["final_std"] == pytest.approx(f["training_sigma"] / math.sqrt(100_000), rel=0.15)
    means = sorted(f["training_mean"] for f in result["funnels"])
    assert means[0] < 0 < means[-1]  # representative: below and above the truth
    for stem in ("matchev_fig5", "matchev_fig6", "matchev_fig7"):
        for ext in ("png", "pdf"):
            assert (tmp_path / f"{stem}.{ext}").stat().st_size > 1000
    report = json.loads((tmp_path / "matchev.json").read_text())
    assert report["config"]["n_train"] == 100
    assert report["rows"][0]["std_gan"]["value"] == pytest.approx(result["rows"][0]["std_gan"].value)
    assert "| n_gen |" in (tmp_path / "matchev.md").read_text()


def test_matchev_cli_command(tmp_path, capsys) -> None:
    parser = argparse.ArgumentParser(prog="evgen")
    sub = parser.add_subparsers()
    study = sub.add_parser("study").add_subparsers()
    add_matchev_command({"study": study})
    args = parser.parse_args(
        [
            "study",
            "matchev",
            "-o",
            str(tmp_path),
            "--n-train",
            "20",
            "--pseudo-experiments",
            "500",
            "--n-gen",
            "10",
            "1000",
            "--no-plots",
        ]
    )
    assert args.func(args) == 0
    assert "plateau" in capsys.readouterr().out
    report = json.loads((tmp_path / "matchev.json").read_text())
    assert report["config"] == {
        "n_train": 20,
        "n_gen": [10, 1000],
        "pseudo_experiments": 500,
        "seed": 0,
        "method": "exact",
    }
    with pytest.raises(SystemExit):
        parser.parse_args(["study", "matchev", "-o", str(tmp_path), "--n-train", "0"])


def test_bad_matchev_options() -> None:
    with pytest.raises(ConfigError, match="n_train"):
        run_matchev(None, n_train=1)
    with pytest.raises(ConfigError, match="method"):
        sample_means(0.0, 1.0, 10, np.random.default_rng(0), size=5, method="magic")  # type: ignore[arg-type]


def test_reporting_writes_json_and_markdown(tmp_path) -> None:
    content = {
        "value": Measurement(1.5, 0.25),
        "missing": float("nan"),
        "array": np.arange(3),
        "rows": [{"a": 1, "b": Measurement(2.0, 0.5)}, {"a": 2, "b": np.float32(3.0)}],
        "nested": {"x": np.int64(4)},
    }
    paths = write_report(tmp_path, "demo", content, title="Demo")
    data = json.loads(paths["json"].read_text())
    assert data["value"] == {"value": 1.5, "error": 0.25}
    assert data["missing"] is None and data["array"] == [0, 1, 2] and data["nested"] == {"x": 4}
    md = paths["markdown"].read_text()
    assert md.startswith("# Demo") and "1.5 ± 0.25" in md and "| a | b |" in md and "## nested" in md
    assert to_jsonable([Measurement(1.0)]) == [{"value": 1.0, "error": None}]
    table = write_report(tmp_path, "table", [{"n": 1, "x": 0.5}])
    assert json.loads(table["json"].read_text())["rows"] == [{"n": 1, "x": 0.5}]
    assert markdown_table([]) == "_(no rows)_\n"
