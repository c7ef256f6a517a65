"""The walls of the architecture (docs/architecture.md) hold: import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Every wall docs/architecture.md promises, by the start of its contract's name.
WALLS = (
    "The core never imports a plugin",
    "Layers of the core",
    "evgen.io knows nothing of torch",
    "Networks know nothing of ROOT files",
    "Figures (matplotlib, mplhep) only where figures are drawn",
    "Plugins reach not into the CLI",
    "Plugins are independent of each other",
    "No import circles",
)


def test_every_wall_has_a_contract():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    names = [c["name"] for c in config["contracts"]]
    for wall in WALLS:
        assert any(name.startswith(wall) for name in names), f"no import-linter contract for {wall!r}"


def test_import_linter_contracts_are_kept():
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_importing_the_floor_loads_neither_torch_nor_matplotlib():
    code = (
        "import sys, evgen, evgen.io, evgen.plugins, evgen.physics.observables, evgen.statistics.quantiles; "
        "loaded = {'torch', 'matplotlib'} & set(sys.modules); assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
