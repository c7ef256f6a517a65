"""Generator and batch-statistics discriminator of arXiv:2008.06545 (Sec. 2, Fig. 3).

Two forms of the same networks:

* :class:`ToyGenerator` and :class:`ToyDiscriminator` are plain one-model
  :class:`torch.nn.Module` s, written as in the paper (the embedding
  :math:`\\Phi` really is three kernel-1 :class:`torch.nn.Conv1d`). They define
  the parameter names and initialisation and drive the reference training loop.
* :func:`generator_forward` and :func:`discriminator_forward` evaluate an
  *ensemble* of E independent models at once from parameters stacked along a
  leading axis (``torch.func.stack_module_state`` of E plain modules). Every
  layer is one batched matmul (:func:`torch.baddbmm`); a kernel-1 convolution is
  a linear map of the feature axis, so ``Conv1d`` weights ``[out, in, 1]`` act as
  ``Linear`` weights ``[out, in]``.

Discriminator (Fig. 3): for a point :math:`x \\in \\mathbb{R}^d` of a batch
:math:`B \\in \\mathbb{R}^{d,n}`, embed the differences :math:`B - x`,

.. math:: D(x; B) = \\sigma\\Big(\\mathrm{FCN}\\big[x,\\; F(\\Phi(B - x))\\big]\\Big),

with :math:`F` the standard deviation over the n batch entries. Here it is
:math:`\\sqrt{\\mathrm{Var} + \\epsilon}` (unbiased variance, tiny
:math:`\\epsilon`), so a collapsed batch keeps finite gradients. The networks
return the logit :math:`\\varphi` with :math:`D = \\sigma(\\varphi)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from evgen_toy_gan.config import ToyGANConfig

__all__ = [
    "ToyGenerator",
    "ToyDiscriminator",
    "generator_forward",
    "discriminator_forward",
    "uniform_noise",
]


def uniform_noise(shape: tuple[int, ...], half_width: float, device: torch.device | str) -> Tensor:
    """Uniform numbers in ``[-half_width, half_width]`` (generator input, data noise)."""
    return torch.rand(shape, device=device).mul_(2.0 * half_width).sub_(half_width)


class ToyGenerator(nn.Module):
    """One generator: 1000 uniform inputs, 7 x 256 ELU layers with dropout, d outputs.

    Dropout (50 %) follows every hidden layer and stays active when sampling
    (Sec. 2), whatever ``train()``/``eval()`` mode the module is in.
    """

    def __init__(self, config: ToyGANConfig) -> None:
        super().__init__()
        widths = [config.noise_dim] + [config.gen_width] * config.gen_layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(widths))
        self.out = nn.Linear(config.gen_width, config.dim)
        self.dropout = config.gen_dropout

    def forward(self, z: Tensor) -> Tensor:
        """Map noise ``[n, noise_dim]`` to points ``[n, d]``."""
        h = z
        for layer in self.hidden:
            h = F.dropout(F.elu(layer(h)), self.dropout, training=True)
        return self.out(h)


class ToyDiscriminator(nn.Module):
    """One discriminator with batch statistics (Fig. 3); returns logits.

    Embedding :math:`\\Phi`: kernel-1 ``Conv1d`` layers (256, 256, m = 32 filters),
    each followed by LeakyReLU(0.01); aggregation :math:`F`: standard deviation over
    the batch; then 7 x 256 LeakyReLU layers with 50 % dropout and one output.
    """

    def __init__(self, config: ToyGANConfig) -> None:
        super().__init__()
        widths = [config.dim, *config.embed_widths, config.embed_dim]
        self.embed = nn.ModuleList(nn.Conv1d(a, b, kernel_size=1) for a, b in pairwise(widths))
        widths = [config.dim + config.embed_dim] + [config.disc_width] * config.disc_layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(widths))
        self.out = nn.Linear(config.disc_width, 1)
        self.slope = config.leaky_slope
        self.dropout = config.disc_dropout
        self.eps = config.std_eps

    def forward(self, x: Tensor, batch: Tensor) -> Tensor:
        """Logits ``[n]`` of points ``x`` ``[n, d]`` judged together with ``batch`` ``[n_B, d]``."""
        diff = batch.unsqueeze(0) - x.unsqueeze(1)  # [n, n_B, d]: B - x for every x
        h = diff.transpose(1, 2)  # Conv1d layout [n, channels = d, length = n_B]
        for conv in self.embed:
            h = F.leaky_relu(conv(h), self.slope)
        aggregated = torch.sqrt(h.var(dim=2) + self.eps)  # F: std over the batch, [n, m]
        h = torch.cat([x, aggregated], dim=1)
        for layer in self.hidden:
            h = F.dropout(F.leaky_relu(layer(h), self.slope), self.dropout, training=self.training)
        return self.out(h).squeeze(-1)


def _linear(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """E independent affine maps: ``x [E, N, in]``, ``weight [E, out, in]``, ``bias [E, out]``."""
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def generator_forward(params: Mapping[str, Tensor], z: Tensor, config: ToyGANConfig) -> Tensor:
    """E generators at once: noise ``[E, N, noise_dim]`` to points ``[E, N, d]``.

    ``params`` are the stacked parameters of :class:`ToyGenerator` (leading axis E).
    """
    h = z
    for i in range(config.gen_layers):
        h = _linear(h, params[f"hidden.{i}.weight"], params[f"hidden.{i}.bias"])
        h = F.dropout(F.elu(h), config.gen_dropout, training=True)
    return _linear(h, params["out.weight"], params["out.bias"])


def discriminator_forward(
    params: Mapping[str, Tensor], x: Tensor, batch: Tensor, config: ToyGANConfig, training: bool = True
) -> Tensor:
    """E discriminators at once: logits ``[E, n]`` of ``x`` ``[E, n, d]`` with ``batch`` ``[E, n_B, d]``.

    ``params`` are the stacked parameters of :class:`ToyDiscriminator`.
    """
    n_models, n, d = x.shape
    n_b = batch.shape[1]
    h = (batch.unsqueeze(1) - x.unsqueeze(2)).reshape(n_models, n * n_b, d)  # B - x
    for i in range(len(config.embed_widths) + 1):
        weight = params[f"embed.{i}.weight"][..., 0]  # kernel-1 Conv1d == Linear
        h = F.leaky_relu(_linear(h, weight, params[f"embed.{i}.bias"]), config.leaky_slope)
    h = h.reshape(n_models, n, n_b, -1)
    aggregated = torch.sqrt(h.var(dim=2) + config.std_eps)  # [E, n, m]
    h = torch.cat([x, aggregated], dim=2)
    for i in range(config.disc_layers):
        h = _linear(h, params[f"hidden.{i}.weight"], params[f"hidden.{i}.bias"])
        h = F.dropout(F.leaky_relu(h, config.leaky_slope), config.disc_dropout, training=training)
    return _linear(h, params["out.weight"], params["out.bias"]).squeeze(-1)
