"""Optimiser and learning-rate schedule of Table 1 (Adam, one-cycle)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from evgen.training.config import TrainConfig

__all__ = ["make_optimizer", "make_scheduler"]


def make_optimizer(params: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Adam:
    """Adam with ``config.betas`` (0.9, 0.99 in Table 1), starting at ``config.lr_start``."""
    return torch.optim.Adam(
        params, lr=config.lr_start, betas=tuple(config.betas), weight_decay=config.weight_decay
    )


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule, stepped once per batch.

    ``one-cycle``: torch's ``OneCycleLR`` [Smith & Topin] from ``lr_start`` up to
    ``lr_max`` over the first ``pct_start`` of all steps, then cosine-annealed to
    ``lr_start / final_div_factor``; momentum cycling is off so Adam keeps the
    β₁ of Table 1. ``constant``: ``lr_start`` throughout. ``cosine``: cosine decay
    from ``lr_start`` to zero.
    """
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "one-cycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=config.lr_max,
            total_steps=total,
            pct_start=config.pct_start,
            div_factor=config.lr_max / config.lr_start,
            final_div_factor=config.final_div_factor,
            cycle_momentum=False,
        )
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
