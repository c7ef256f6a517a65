"""Plugin discovery: built-ins through entry points, restriction by env var, a third-party plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evgen import plugins
from evgen.errors import PluginNotFoundError
from evgen.interfaces import Dataset, Generator, Metric, Reweighter

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "evgen-example-plugin"


def _evgen(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "evgen", *args], capture_output=True, text=True, env=full_env, timeout=300
    )


def test_builtin_plugins_load_through_entry_points():
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group=plugins.ENTRY_POINT_GROUP)}
    assert {"datasets", "quantiles", "toy_gan", "zjets_inn"} <= names
    pm = plugins.plugin_manager()
    assert {name for name, _ in pm.list_name_plugin()} >= {"datasets"}
    assert "zjets-small" in plugins.datasets()


def test_registered_components_have_the_right_kind():
    for cls in plugins.generators().values():
        assert issubclass(cls, Generator) and cls.description
    for cls in plugins.reweighters().values():
        assert issubclass(cls, Reweighter) and cls.description
    for cls in plugins.metrics().values():
        assert issubclass(cls, Metric) and cls.description
    for ds in plugins.datasets().values():
        assert isinstance(ds, Dataset) and ds.description


def test_unknown_name_lists_known_ones():
    with pytest.raises(PluginNotFoundError, match=r"no generator named 'nope'; known generators: ") as exc:
        plugins.get_generator("nope")
    for name in plugins.generators():
        assert name in str(exc.value)
    with pytest.raises(PluginNotFoundError, match=r"known data sets: .*zjets-small"):
        plugins.get_dataset("nope")


def test_env_var_restricts_loading():
    result = _evgen("plugins", env={plugins.ONLY_ENV: "datasets", plugins.TRACE_ENV: "1"})
    assert result.returncode == 0, result.stderr
    assert "zjets-small" in result.stdout
    assert "[datasets]" in result.stdout
    assert all(line.rstrip().endswith("[datasets]") for line in result.stdout.splitlines())
    assert "skipping plugin toy_gan" in result.stderr


def test_cli_lists_every_plugin_with_kind_and_description():
    result = _evgen("plugins")
    assert result.returncode == 0, result.stderr
    for info in plugins.list_plugins():
        line = next(line for line in result.stdout.splitlines() if line.startswith(info.name + " "))
        assert info.kind in line and info.description in line


def test_third_party_plugin_shows_up_next_to_builtins(tmp_path):
    """Install the example distribution into a separate directory and find it via entry points."""
    import shutil

    target = tmp_path / "site"
    source = shutil.copytree(EXAMPLE, tmp_path / "src", ignore=shutil.ignore_patterns("build", "*.egg-info"))
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    env = {"PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    result = _evgen("plugins", env=env)
    assert result.returncode == 0, result.stderr
    assert "gaussian" in result.stdout and "[example]" in result.stdout
    assert "zjets-small" in result.stdout  # built-ins still there
    # and it works through the registry like a built-in
    code = (
        "import numpy as np; from evgen import plugins; from evgen.events import toy_events;"
        "g = plugins.get_generator('gaussian')(); g.fit(toy_events(np.random.default_rng(0).normal(3, 2, (4000, 1))));"
        "m = plugins.get_metric('mean-difference')().compare(toy_events(np.full((10, 1), 3.0)), g.sample(4000, seed=1));"
        "print(abs(m['difference'].value) < 4 * m['difference'].error + 0.2)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=300
    )
    assert run.stdout.strip() == "True", run.stderr
