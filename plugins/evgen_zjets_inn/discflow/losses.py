r"""The DiscFlow loss of Precision Enthusiasts, Eq. (15)–(16), and its α₀ schedule.

The generator's maximum-likelihood loss is weighted per training (truth) event
with the discriminator weight raised to a power,

.. math::
    \mathcal{L}_\text{DiscFlow} = \sum_{i=1}^{B} w_D(x_i)^{\alpha}
        \Big(\frac{\psi(x_i; c_i)^2}{2} - \log J(x_i)\Big),
    \qquad \alpha = \alpha_0 \big|\tfrac12 - D(x_i)\big|,

where :math:`w_D = D/(1-D)` (Eq. 12) and α₀ rises linearly from 0 during the
joint training. Where the generator overshoots (:math:`D < ½`) the truth events
count less, where it undershoots more: training on this shifted reference
exaggerates the generator's deviations and pushes it back (Fig. 6).
"""

from __future__ import annotations

__all__ = ["alpha0_schedule", "discflow_alpha", "discflow_weights", "discflow_loss"]

import math

import torch
from torch import Tensor

from evgen.errors import ConfigError


def alpha0_schedule(step: int, total_steps: int, alpha_max: float) -> float:
    """α₀ at generator step ``step`` (0-based) of ``total_steps``: linear from 0 to ``alpha_max`` (Sec. 3.2)."""
    if total_steps < 1 or not 0 <= step < total_steps:
        raise ConfigError(f"step {step} outside the joint training's {total_steps} generator steps")
    if total_steps == 1:
        return float(alpha_max)
    return float(alpha_max) * step / (total_steps - 1)


def discflow_alpha(logits: Tensor, alpha0: float) -> Tensor:
    r""":math:`\alpha = \alpha_0 |\tfrac12 - D|` of Eq. (16), with :math:`D = \sigma(\text{logit})`."""
    return alpha0 * (0.5 - torch.sigmoid(logits)).abs()


def discflow_weights(logits: Tensor, alpha0: float, clip: tuple[float, float] = (0.01, 100.0)) -> Tensor:
    r"""Loss weights :math:`w_D^{\alpha}` of Eq. (15) with α from Eq. (16).

    :math:`w_D = D/(1-D) = e^{\text{logit}}` is clipped to ``clip`` before the power;
    α uses the unclipped :math:`D`. No gradient flows into the discriminator.
    """
    logits = logits.detach()
    lo, hi = clip
    log_w = logits.clamp(math.log(lo), math.log(hi))
    return torch.exp(discflow_alpha(logits, alpha0) * log_w)


def discflow_loss(nll: Tensor, weights: Tensor) -> Tensor:
    r"""Eq. (15) as a weighted batch mean: :math:`\sum_i v_i \ell_i / \sum_i v_i`.

    ``nll`` holds :math:`\ell_i = \psi^2/2 - \log J` (up to a constant) per event,
    ``weights`` the product of event weights and :math:`w_D^\alpha`. Normalising by
    :math:`\sum v_i` keeps the step size independent of α₀: the loss is the
    likelihood of the reweighted truth :math:`w_D^\alpha P` of Eq. (15).
    """
    weights = weights.to(nll.dtype)
    return (weights * nll).sum() / weights.sum().clamp_min(1e-30)
