"""The plain one-model training loop: the reference the ensemble trainer is checked against.

Written the textbook way (modules, ``autograd.grad(create_graph=True)`` for the
penalty, one Adam per network), it follows the schedule of Sec. 2 of
arXiv:2008.06545 and draws its random numbers in the same order as
:class:`evgen_toy_gan.training.EnsembleTrainer`, so an ensemble of one model with
the same seed reproduces it up to floating-point rounding.
"""

from __future__ import annotations

import numpy as np
import torch

from evgen.errors import InputError
from evgen_toy_gan.config import ToyGANConfig
from evgen_toy_gan.losses import discriminator_bce, generator_bce, roth_penalty
from evgen_toy_gan.networks import ToyDiscriminator, ToyGenerator, uniform_noise
from evgen_toy_gan.seeding import member_seeds

__all__ = ["train_reference"]


def _judge(disc: ToyDiscriminator, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of ``points`` judged within their own batch, and their gradient w.r.t. the points."""
    x = points.detach().requires_grad_(True)
    logits = disc(x, points.detach())
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return logits, grad


def train_reference(
    config: ToyGANConfig, points: np.ndarray, seed: int = 0
) -> tuple[ToyGenerator, ToyDiscriminator, list[dict[str, float]]]:
    """Train one GAN on ``points`` ``(N, d)`` with a plain loop.

    Model 0 of ``ToyGANEnsemble(config, 1, seed=seed)`` starts from the same
    weights and sees the same random numbers.

    Returns
    -------
    (generator, discriminator, history)
        History rows ``{"epoch", "loss_d", "loss_g", "lr"}`` every ``log_every`` epochs.
    """
    device = torch.device(config.device)
    data = torch.as_tensor(np.asarray(points, dtype=np.float32), device=device)
    if data.ndim != 2 or data.shape[1] != config.dim or len(data) < config.batch_size:
        raise InputError(
            f"expected at least batch_size={config.batch_size} points of shape (N, {config.dim}); "
            f"got {tuple(data.shape)}"
        )
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(member_seeds(seed, 1)[0])
        gen, disc = ToyGenerator(config).to(device), ToyDiscriminator(config).to(device)
        torch.manual_seed(seed)
        opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr, betas=config.betas)
        opt_g = torch.optim.Adam(gen.parameters(), lr=config.lr, betas=config.betas)
        bs = config.batch_size
        n_batches = len(data) // bs
        history: list[dict[str, float]] = []
        sums = [0.0, 0.0]
        for epoch in range(config.epochs):
            lr = config.lr * config.lr_decay ** (epoch // config.lr_decay_every)
            for opt in (opt_d, opt_g):
                for group in opt.param_groups:
                    group["lr"] = lr
            order = torch.rand(1, len(data), device=device).argsort(dim=1)[0]
            shuffled = data[order]
            for k in range(n_batches):
                batch = shuffled[k * bs : (k + 1) * bs]
                real = batch + uniform_noise(batch.shape, config.data_noise, device)
                z = uniform_noise((bs, config.noise_dim), 1.0, device)
                with torch.no_grad():
                    fake = gen(z)
                logit_real, grad_real = _judge(disc, real)
                logit_fake, grad_fake = _judge(disc, fake)
                penalty = roth_penalty(logit_real, grad_real, logit_fake, grad_fake)
                loss_d = discriminator_bce(logit_real, logit_fake) + 0.5 * config.gp_gamma * penalty
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()

                z = uniform_noise((bs, config.noise_dim), 1.0, device)
                fake = gen(z)
                loss_g = generator_bce(disc(fake, fake))
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
                sums[0] += loss_d.item()
                sums[1] += loss_g.item()
            if (epoch + 1) % config.log_every == 0 or epoch + 1 == config.epochs:
                count = n_batches * ((epoch % config.log_every) + 1)
                history.append(
                    {"epoch": epoch + 1, "loss_d": sums[0] / count, "loss_g": sums[1] / count, "lr": lr}
                )
                sums = [0.0, 0.0]
    return gen, disc, history
