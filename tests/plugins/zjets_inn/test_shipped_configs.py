"""Every Z+jets config the project ships parses into its generator's options (a misspelt key is an error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evgen.training.config import load_config_file

ROOT = Path(__file__).resolve().parents[3]
ZJETS_INN = sorted((ROOT / "configs").glob("zjets-inn-*.toml"))
BINN = sorted((ROOT / "configs").glob("binn-*.toml")) + sorted(
    (ROOT / "plugins" / "evgen_zjets_inn" / "binn" / "configs").glob("binn-*.toml")
)


@pytest.mark.parametrize("path", ZJETS_INN, ids=lambda p: p.name)
def test_zjets_inn_configs_parse(path):
    from evgen_zjets_inn.config import ZJetsINNConfig

    ZJetsINNConfig.from_mapping(load_config_file(path))


@pytest.mark.parametrize("path", BINN, ids=lambda p: p.name)
def test_binn_configs_parse(path):
    from evgen_zjets_inn.binn.config import BINNConfig

    BINNConfig.from_mapping(load_config_file(path))


def test_the_cpu_binn_is_the_cpu_recipe_with_bayesian_subnets():
    """configs/binn-cpu.toml keeps the recipe's coordinates, preprocessing and networks (docs/uncertainties.md)."""
    from evgen_zjets_inn.binn.config import BINNConfig
    from evgen_zjets_inn.config import ZJetsINNConfig

    recipe = ZJetsINNConfig.from_mapping(load_config_file(ROOT / "configs" / "zjets-inn-cpu.toml"))
    binn = BINNConfig.from_mapping(load_config_file(ROOT / "configs" / "binn-cpu.toml"))
    # every coordinate and preprocessing option, the reflection and the mirror are the recipe's
    assert binn.preprocessing == recipe.preprocessing
    assert recipe.preprocessing.angular_fit == "likelihood"
    assert binn.reflection == recipe.reflection and binn.reflection.mirror == "jets"
    assert binn.mass_step == recipe.mass_step
    # the jet networks see four times the rows (reflection and mirror): the 30k members' epochs
    assert (binn.training.epochs, binn.jets.epochs) == (125, 100)
    assert not binn.calibration.marginals  # binn refuses calibrations: they would hide the draws' spread
    assert (binn.base.blocks, binn.base.hidden, binn.jets.hidden) == (
        recipe.base.blocks,
        recipe.base.hidden,
        recipe.jets.hidden,
    )
    assert binn.bayes.prior == "empirical" and binn.bayes.kl_weight == 0.1
    assert len(ZJETS_INN) >= 3 and len(BINN) >= 3
