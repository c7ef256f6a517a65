r"""The conditional INN of arXiv:2110.13632, Sec. 2.2 (Fig. 1, Table 1, Eq. 5-6)."""

from __future__ import annotations

__all__ = ["ConditionalINN"]

import math

import torch
from torch import Tensor, nn

from evgen.errors import ConfigError, InputError
from evgen.nn.couplings import SPLINES, SplineCoupling
from evgen.nn.mlp import LinearFactory
from evgen.nn.rotations import RandomRotation

_LOG_2PI = math.log(2.0 * math.pi)


class ConditionalINN(nn.Module):
    r"""Conditional invertible network :math:`\psi: x \mapsto z` with a standard-normal latent.

    ``blocks`` spline coupling blocks (:class:`~evgen.nn.couplings.SplineCoupling`,
    Eq. 5) with a random but fixed rotation (:class:`~evgen.nn.rotations.RandomRotation`)
    between consecutive blocks; the condition :math:`c` is concatenated to the
    passive half :math:`u` in every subnet. Each spline acts on :math:`[-B, B]` and
    is the identity outside. Every subnet's last layer starts at zero, so the
    untrained flow is the identity up to the rotations. Table 1 defaults: 25 blocks,
    60 bins, 3 layers per block.

    The forward pass has no data-dependent Python control flow (``torch.where``
    masks, a fixed number of blocks), so it works under :func:`torch.compile`.

    Parameters
    ----------
    dim:
        Phase-space dimension.
    cond_dim:
        Condition dimension, 0 for an unconditional flow (then ``c`` may be ``None``).
    blocks:
        Number of coupling blocks.
    bins:
        Spline bins per block.
    hidden, layers:
        Width and number of hidden layers of every subnet.
    spline:
        ``"cubic"`` (the paper's, Durkan et al. arXiv:1906.02145) or
        ``"rational-quadratic"`` (zuko's RQS).
    bound:
        Half-width :math:`B` of the spline range (10 in the paper).
    permutation_seed:
        Seed of the rotations; they are buffers, so ``load_state_dict`` restores
        them whatever seed the receiving model was built with.
    dropout:
        Dropout in the subnets.
    linear_factory:
        ``factory(in_features, out_features) -> nn.Module`` building every subnet
        linear layer (default :class:`torch.nn.Linear`), e.g. a Bayesian layer.

    Examples
    --------
    >>> flow = ConditionalINN(4, 3, blocks=2, bins=8, hidden=16)
    >>> c = torch.randn(5, 3)
    >>> x = flow.sample(c)
    >>> flow.log_prob(x, c).shape
    torch.Size([5])
    """

    def __init__(
        self,
        dim: int,
        cond_dim: int,
        *,
        blocks: int = 25,
        bins: int = 60,
        hidden: int = 256,
        layers: int = 3,
        spline: str = "cubic",
        bound: float = 10.0,
        permutation_seed: int = 0,
        dropout: float = 0.0,
        linear_factory: LinearFactory | None = None,
    ) -> None:
        super().__init__()
        if spline not in SPLINES:
            raise ConfigError(f"spline={spline!r} is not known; expected one of {', '.join(SPLINES)}")
        checks = {"dim": (dim, 1), "cond_dim": (cond_dim, 0), "blocks": (blocks, 1), "bins": (bins, 2)}
        checks |= {"hidden": (hidden, 1), "layers": (layers, 1)}
        for name, (value, minimum) in checks.items():
            if not isinstance(value, int) or value < minimum:
                raise ConfigError(f"{name}={value!r} is invalid; expected an integer >= {minimum}")
        if not bound > 0:
            raise ConfigError(f"bound={bound!r} is invalid; expected a positive number")
        if not 0 <= dropout < 1:
            raise ConfigError(f"dropout={dropout!r} is invalid; expected 0 <= dropout < 1")
        self.dim, self.cond_dim = dim, cond_dim
        self.couplings = nn.ModuleList(
            SplineCoupling(
                dim,
                cond_dim,
                spline=spline,
                bins=bins,
                hidden=hidden,
                layers=layers,
                bound=bound,
                dropout=dropout,
                linear_factory=linear_factory,
            )
            for _ in range(blocks)
        )
        generator = torch.Generator().manual_seed(permutation_seed)
        self.rotations = nn.ModuleList(RandomRotation(dim, generator=generator) for _ in range(blocks - 1))

    def _condition(self, c: Tensor | None, x: Tensor) -> Tensor | None:
        if self.cond_dim == 0:
            return None
        if c is None:
            raise InputError(
                f"this flow is conditional (cond_dim={self.cond_dim}) but no condition was given"
            )
        if c.shape != (x.shape[0], self.cond_dim):
            raise InputError(
                f"condition has shape {tuple(c.shape)}; expected ({x.shape[0]}, {self.cond_dim})"
            )
        return c.to(x.dtype)

    def _check(self, x: Tensor, name: str) -> None:
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise InputError(f"{name} has shape {tuple(x.shape)}; expected (batch, {self.dim})")

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        r"""Map events to the latent space.

        Parameters
        ----------
        x:
            Events, shape ``(B, dim)``.
        c:
            Conditions, shape ``(B, cond_dim)`` (``None`` when ``cond_dim == 0``).

        Returns
        -------
        tuple of Tensor
            :math:`z = \psi(x; c)`, shape ``(B, dim)``, and
            :math:`\log J = \log|\det \partial z/\partial x|`, shape ``(B,)``.
        """
        self._check(x, "x")
        c = self._condition(c, x)
        log_det = x.new_zeros(x.shape[0])
        for i, coupling in enumerate(self.couplings):
            if i > 0:
                x = self.rotations[i - 1](x)
            x, block_log_det = coupling(x, c)
            log_det = log_det + block_log_det
        return x, log_det

    def inverse_and_log_det(self, z: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        r"""Map latent points to events; returns ``x`` and :math:`\log|\det \partial x/\partial z|`."""
        self._check(z, "z")
        c = self._condition(c, z)
        log_det = z.new_zeros(z.shape[0])
        for i in reversed(range(len(self.couplings))):
            z, block_log_det = self.couplings[i].inverse(z, c)
            log_det = log_det + block_log_det
            if i > 0:
                z = self.rotations[i - 1].inverse(z)
        return z, log_det

    def inverse(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """Exact inverse of :meth:`forward`: ``x = psi^{-1}(z; c)``, shape ``(B, dim)``."""
        return self.inverse_and_log_det(z, c)[0]

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        r"""Log-density :math:`\log p(x|c) = \log \mathcal{N}(\psi(x;c); 0, 1) + \log J`, shape ``(B,)``."""
        z, log_det = self(x, c)
        return -0.5 * (z.square().sum(-1) + self.dim * _LOG_2PI) + log_det

    def _latent(self, c: Tensor | None, n: int | None, generator: torch.Generator | None) -> Tensor:
        parameter = next(self.parameters())
        if c is not None:
            if n is not None and n != c.shape[0]:
                raise InputError(f"n={n} disagrees with the {c.shape[0]} condition rows; give one of them")
            n = c.shape[0]
        if n is None:
            raise InputError("give the conditions c (one event per row) or, for an unconditional flow, n")
        return torch.randn(n, self.dim, generator=generator, device=parameter.device, dtype=parameter.dtype)

    def sample(
        self,
        c: Tensor | None = None,
        *,
        n: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Draw one event per condition row (or ``n`` events when unconditional).

        Parameters
        ----------
        c:
            Conditions, shape ``(B, cond_dim)``; ``None`` for an unconditional flow.
        n:
            Number of events when ``c`` is ``None``.
        generator:
            Source of the latent noise (on the model's device).

        Returns
        -------
        Tensor
            Events, shape ``(B, dim)``, in the model's dtype.
        """
        return self.inverse(self._latent(c, n, generator), c)

    def sample_and_log_prob(
        self,
        c: Tensor | None = None,
        *,
        n: int | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Like :meth:`sample`, also returning :math:`\\log p(x|c)` of each event."""
        z = self._latent(c, n, generator)
        x, log_det = self.inverse_and_log_det(z, c)
        return x, -0.5 * (z.square().sum(-1) + self.dim * _LOG_2PI) - log_det

    def loss(self, x: Tensor, c: Tensor | None = None, weights: Tensor | None = None) -> Tensor:
        r"""Maximum-likelihood loss, Eq. (6), as a batch mean; Eq. (10) with weights.

        .. math::
            \mathcal{L} = \sum_i \Big(\frac{\psi(x_i; c_i)^2}{2} - \log J_i\Big)
                          \frac{w_i}{\sum_j w_j},

        with :math:`w_i = 1` (the batch mean of Eq. 6) when ``weights`` is ``None``.
        It equals the mean negative log-likelihood minus :math:`\tfrac{d}{2}\log 2\pi`.
        """
        z, log_det = self(x, c)
        per_event = 0.5 * z.square().sum(-1) - log_det
        if weights is None:
            return per_event.mean()
        weights = weights.to(per_event.dtype).reshape(per_event.shape)
        return (weights * per_event).sum() / weights.sum()
