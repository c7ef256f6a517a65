"""`evgen study ganplify` end to end at a tiny size: figures, JSON table, amplification values."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest

pytest.importorskip("torch")

from evgen.cli.studies import add_ganplify_command  # noqa: E402
from evgen.errors import ConfigError  # noqa: E402
from evgen.statistics.quantiles import expected_quantile_mse  # noqa: E402
from evgen.studies.ganplify import default_quantiles, run_ganplify  # noqa: E402

TINY = {
    "noise_dim": 8,
    "gen_layers": 2,
    "gen_width": 16,
    "disc_layers": 2,
    "disc_width": 16,
    "embed_widths": [8, 8],
    "embed_dim": 4,
    "lr": 1e-3,
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _finite(value) -> bool:
    return value is not None and math.isfinite(value["value"]) and math.isfinite(value["error"])


def test_camel_back_end_to_end(tmp_path):
    result = run_ganplify(
        tmp_path,
        dim=1,
        trainings=3,
        n_train=30,
        epochs=2,
        n_generated=(50, 200, 800),
        reference_samples=20,
        generator_config=TINY,
        progress=False,
    )
    for name in ("ganplify_fig2.png", "ganplify_fig2.pdf", "ganplify.json", "ganplify.md"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "gan" / "model.safetensors").is_file()
    table = json.loads((tmp_path / "ganplify.json").read_text())["table"]
    assert [row["quantiles"] for row in table] == ["10", "20", "50"]
    for row in table:
        assert _finite(row["amplification_gan"]) and row["amplification_gan"]["value"] > 0
        assert _finite(row["amplification_fit"])
        # sampled truth follows the multinomial expectation (20 samples: mean within ~4 sigma)
        n_cells = row["cells"]
        expected = expected_quantile_mse(30, n_cells)
        spread = expected * math.sqrt(2 / (n_cells - 1)) / math.sqrt(3)
        assert abs(row["mse_training_sample"]["value"] - expected) < 5 * spread
    # the correct 5-parameter fit beats its own training sample (paper: ~3x at 10, ~10x at 50 quantiles)
    assert table[0]["amplification_fit"]["value"] > 1.5
    assert table[2]["amplification_fit"]["value"] > table[0]["amplification_fit"]["value"]
    curve = result["curves"]["10"]
    assert curve["n_generated"] == [50, 200, 800] and len(curve["gan_mean"]) == 3

    # resuming reuses the trained ensemble: identical numbers without retraining
    again = run_ganplify(
        tmp_path,
        dim=1,
        trainings=3,
        n_train=30,
        epochs=2,
        n_generated=(50, 200, 800),
        reference_samples=20,
        generator_config=TINY,
        progress=False,
        plot=False,
    )
    assert again["table"][0]["amplification_gan"] == result["table"][0]["amplification_gan"]


def test_ring_through_the_command_line(tmp_path):
    parser = argparse.ArgumentParser(prog="evgen")
    sub = parser.add_subparsers(dest="command")
    study = sub.add_parser("study").add_subparsers(dest="study_command")
    add_ganplify_command({"study": study})
    options = [f"--gan-option={k}={json.dumps(v)}" for k, v in TINY.items()]
    args = parser.parse_args(
        ["study", "ganplify", "--dim", "2", "--trainings", "2", "--n-train", "20", "--epochs", "1"]
        + ["--n-generated", "100", "400", "--reference-samples", "5", "-o", str(tmp_path), "--seed", "3"]
        + options
    )
    assert args.func(args) == 0
    for name in ("ganplify_fig4.png", "ganplify_fig5.png", "ganplify_fig5.pdf", "ganplify.md"):
        assert (tmp_path / name).stat().st_size > 0
    report = json.loads((tmp_path / "ganplify.json").read_text())
    assert report["config"]["generator_config"]["gen_width"] == 16
    assert [row["quantiles"] for row in report["table"]] == ["10_r", "10_phi", "7x7"]
    assert all(_finite(row["amplification_gan"]) for row in report["table"])


def test_quantile_choices_and_errors(tmp_path):
    assert [s.n_cells for s in default_quantiles(5)] == [10] * 5 + [243, 1024, 7776]
    assert [s.name for s in default_quantiles(2, ("r", "phi"))] == ["10_r", "10_phi", "7x7"]
    with pytest.raises(ConfigError, match="dim must be one of"):
        run_ganplify(tmp_path, dim=3)
    with pytest.raises(ConfigError, match="at least 2 trainings"):
        run_ganplify(tmp_path, trainings=1)
    assert not any(tmp_path.iterdir())
    np.testing.assert_equal(default_quantiles(1)[2].n_per_axis, (50,))
