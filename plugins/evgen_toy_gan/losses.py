"""GAN losses of the toy GAN, with the Roth et al. gradient penalty.

Sec. 2 of arXiv:2008.06545: standard GAN (sigmoid discriminator), strictly
alternating updates, "gradient penalty [55] with :math:`\\gamma = 0.01`", where
[55] is Roth, Lucchi, Nowozin, Hofmann, arXiv:1705.09367. We use their
regulariser of the Jensen-Shannon GAN (Algorithm 1 there): with
:math:`D = \\sigma(\\varphi)`,

.. math::
    \\Omega = E_{P}\\big[(1 - D(x))^2\\,|\\nabla_x \\varphi(x)|^2\\big]
            + E_{Q}\\big[D(\\tilde x)^2\\,|\\nabla_{\\tilde x} \\varphi(\\tilde x)|^2\\big],
    \\qquad
    L_D = -E_P[\\log D(x)] - E_Q[\\log(1 - D(\\tilde x))] + \\frac{\\gamma}{2}\\,\\Omega,

P the (noised) training data, Q the generated points. The gradient is taken with
respect to the judged point with its batch :math:`B` held fixed. The generator
minimises the non-saturating :math:`L_G = -E_Q[\\log D(\\tilde x)]`.

The ensemble losses are pure functions of stacked parameters (leading axis E)
returning one loss per model; their sum has, for every model, exactly the
gradient of that model's own loss, so one optimiser trains E independent GANs.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from evgen_toy_gan.config import ToyGANConfig
from evgen_toy_gan.networks import discriminator_forward, generator_forward, uniform_noise

__all__ = [
    "roth_penalty",
    "discriminator_bce",
    "generator_bce",
    "ensemble_discriminator_loss",
    "ensemble_generator_loss",
]


def roth_penalty(logit_real: Tensor, grad_real: Tensor, logit_fake: Tensor, grad_fake: Tensor) -> Tensor:
    """:math:`\\Omega` of Roth et al. (module docstring), averaged over the last batch axis.

    ``logit_*`` have shape ``[..., n]``, ``grad_*`` (gradients of the logits with
    respect to the points) ``[..., n, d]``.
    """
    real = torch.sigmoid(-logit_real).square() * grad_real.square().sum(-1)
    fake = torch.sigmoid(logit_fake).square() * grad_fake.square().sum(-1)
    return real.mean(-1) + fake.mean(-1)


def discriminator_bce(logit_real: Tensor, logit_fake: Tensor) -> Tensor:
    """:math:`-E_P[\\log D] - E_Q[\\log(1 - D)]` from logits, over the last axis."""
    return F.softplus(-logit_real).mean(-1) + F.softplus(logit_fake).mean(-1)


def generator_bce(logit_fake: Tensor) -> Tensor:
    """Non-saturating generator loss :math:`-E_Q[\\log D]` from logits, over the last axis."""
    return F.softplus(-logit_fake).mean(-1)


def ensemble_discriminator_loss(
    disc: Mapping[str, Tensor], gen: Mapping[str, Tensor], batch: Tensor, config: ToyGANConfig
) -> tuple[Tensor, Tensor]:
    """Summed discriminator loss of E models and the per-model losses ``[E]``.

    Draws, in this order, the data noise (uniform in ``[-data_noise, data_noise]``),
    the generator noise, the generator's dropout masks and the discriminator's
    (real, then generated batch); the reference loop draws in the same order.
    """
    n_models, n, _ = batch.shape
    real = batch + uniform_noise(batch.shape, config.data_noise, batch.device)
    z = uniform_noise((n_models, n, config.noise_dim), 1.0, batch.device)
    fake = generator_forward(gen, z, config)

    def logits_of(points: Tensor, context: Tensor) -> tuple[Tensor, Tensor]:
        logits = discriminator_forward(disc, points, context, config)
        return logits.sum(), logits

    grad_x = torch.func.grad(logits_of, argnums=0, has_aux=True)
    grad_real, logit_real = grad_x(real, real)
    grad_fake, logit_fake = grad_x(fake, fake)
    losses = discriminator_bce(logit_real, logit_fake)
    losses = losses + 0.5 * config.gp_gamma * roth_penalty(logit_real, grad_real, logit_fake, grad_fake)
    return losses.sum(), losses


def ensemble_generator_loss(
    gen: Mapping[str, Tensor],
    disc: Mapping[str, Tensor],
    n_models: int,
    batch_size: int,
    config: ToyGANConfig,
    device: torch.device,
) -> tuple[Tensor, Tensor]:
    """Summed non-saturating generator loss of E models and the per-model losses ``[E]``."""
    z = uniform_noise((n_models, batch_size, config.noise_dim), 1.0, device)
    fake = generator_forward(gen, z, config)
    losses = generator_bce(discriminator_forward(disc, fake, fake, config))
    return losses.sum(), losses
