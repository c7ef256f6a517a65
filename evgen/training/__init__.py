"""Training building blocks shared by every generator: config, data sources, schedules, the loop.

>>> from evgen.training import Trainer, TrainConfig, TensorSource, BalancedSource
"""

from __future__ import annotations

from evgen.training.config import (
    TrainConfig,
    deep_merge,
    from_mapping,
    invalid,
    load_config_file,
    set_dotted,
    to_dict,
)
from evgen.training.data import BalancedSource, EpochSource, TensorSource
from evgen.training.loop import LossFn, Trainer, load_checkpoint, resolve_device
from evgen.training.schedules import make_optimizer, make_scheduler

__all__ = [
    "TrainConfig",
    "from_mapping",
    "to_dict",
    "invalid",
    "load_config_file",
    "deep_merge",
    "set_dotted",
    "EpochSource",
    "TensorSource",
    "BalancedSource",
    "Trainer",
    "LossFn",
    "load_checkpoint",
    "resolve_device",
    "make_optimizer",
    "make_scheduler",
]
