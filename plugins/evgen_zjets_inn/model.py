"""The chained multiplicity networks of Fig. 1 (Sec. 2.2).

A base :class:`~evgen.nn.ConditionalINN` models the μμj block (9 dimensions)
conditioned on the one-hot jet multiplicity; for every further jet ``k`` a small
INN models its 4 dimensions conditioned on all previous blocks and the one-hot
multiplicity. The density of an ``n``-jet event in network space factorises as

    p(y | n) = p_base(y_μμj | n) · Π_{k=2..n} p_k(y_jk | y_<k, n).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from evgen.errors import InputError
from evgen.nn import ConditionalINN
from evgen.nn.mlp import LinearFactory
from evgen.preprocessing.zjets import MULTIPLICITIES, block_slices
from evgen_zjets_inn.config import NetConfig

__all__ = ["ChainedINN", "one_hot"]

MAX_JETS = max(MULTIPLICITIES)


def one_hot(n_jets: Tensor | int, size: int | None = None) -> Tensor:
    """One-hot multiplicity, column ``n − 1`` set (``n = 1…3``); an int gives ``size`` rows."""
    if isinstance(n_jets, int):
        n_jets = torch.full((size or 1,), n_jets, dtype=torch.long)
    return nn.functional.one_hot(n_jets.long() - 1, MAX_JETS).float()


def _flow(
    dim: int, cond_dim: int, cfg: NetConfig, seed: int, linear_factory: LinearFactory | None = None
) -> ConditionalINN:
    return ConditionalINN(
        dim,
        cond_dim,
        blocks=cfg.blocks,
        bins=cfg.bins,
        hidden=cfg.hidden,
        layers=cfg.layers,
        spline=cfg.spline,
        bound=cfg.bound,
        permutation_seed=seed,
        dropout=cfg.dropout,
        linear_factory=linear_factory,
    )


class ChainedINN(nn.Module):
    """Base μμj network plus one small network per additional jet (Fig. 1).

    Parameters
    ----------
    base, jets
        Configurations of the base network and of the additional-jet networks.
    seed
        Seeds the fixed random rotations (parameters come from torch's global generator).
    linear_factory
        Builds every subnet layer (default :class:`torch.nn.Linear`); e.g.
        :func:`~evgen.nn.bayesian.bayesian_factory` for a Bayesian INN.
    extra_cond
        Number of extra condition values per event (1 for a nuisance parameter, Sec. 4.2),
        appended to every network's condition.

    Attributes
    ----------
    extra_sampler
        ``extra_sampler(size) -> Tensor (size, extra_cond)``: the extra conditions of
        generated events, consulted by :meth:`sample` when ``extra_cond > 0``.
    """

    def __init__(
        self,
        base: NetConfig,
        jets: NetConfig,
        seed: int = 0,
        *,
        linear_factory: LinearFactory | None = None,
        extra_cond: int = 0,
    ) -> None:
        super().__init__()
        blocks = block_slices(MAX_JETS)
        self.blocks = blocks
        self.extra_cond = int(extra_cond)
        cond = MAX_JETS + self.extra_cond
        self.base = _flow(blocks[0].stop, cond, base, seed, linear_factory)
        self.jets = nn.ModuleDict(
            {
                f"j{k + 1}": _flow(
                    blocks[k].stop - blocks[k].start, blocks[k].start + cond, jets, seed + k, linear_factory
                )
                for k in range(1, MAX_JETS)
            }
        )
        self.extra_sampler: Callable[[int], Tensor] | None = None

    def stages(self) -> dict[str, ConditionalINN]:
        """``{"base": …, "j2": …, "j3": …}``: the networks in training order."""
        return {"base": self.base, **dict(self.jets.items())}

    @staticmethod
    def stage_jets(stage: str) -> int:
        """Lowest multiplicity a stage's network sees: 1 for ``base``, k for ``jk``."""
        return 1 if stage == "base" else int(stage[1:])

    def _extra(self, extra: Tensor | None, size: int, like: Tensor) -> Tensor | None:
        """The ``(size, extra_cond)`` extra conditions (from :attr:`extra_sampler` if not given), or None."""
        if self.extra_cond == 0:
            return None
        if extra is None:
            if self.extra_sampler is None:
                raise InputError(
                    f"this network needs {self.extra_cond} extra condition(s) per event (e.g. a)"
                )
            extra = self.extra_sampler(size)
        return extra.to(like).reshape(size, self.extra_cond)

    def stage_inputs(self, stage: str, y: Tensor, n_jets: Tensor) -> tuple[Tensor, Tensor]:
        """``(x, c)`` for a stage's network from network-space rows ``y`` of events with ≥ k jets,
        without extra conditions (training appends its own)."""
        k = self.stage_jets(stage)
        block = self.blocks[k - 1]
        x = y[:, block]
        previous = y[:, : block.start]
        c = torch.cat([previous, one_hot(n_jets).to(y)], dim=1)
        return x, c

    def stage_data(
        self, stage: str, y: Tensor, n_jets: Tensor, extra: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """:meth:`stage_inputs` with ``c`` ending in the ``extra`` conditions (networks with ``extra_cond``)."""
        x, c = self.stage_inputs(stage, y, n_jets)
        e = self._extra(extra, len(y), c)
        return x, c if e is None else torch.cat([c, e], dim=1)

    def log_prob(self, y: Tensor, n: int, extra: Tensor | None = None) -> Tensor:
        """``log p(y | n[, a])`` of ``n``-jet rows in network space."""
        n_jets = torch.full((len(y),), n, dtype=torch.long, device=y.device)
        total = y.new_zeros(len(y))
        for stage, flow in self.stages().items():
            if self.stage_jets(stage) <= n:
                x, c = self.stage_data(stage, y, n_jets, extra)
                total = total + flow.log_prob(x, c)
        return total

    @torch.no_grad()
    def sample(self, n: int, size: int, generator: torch.Generator | None = None) -> Tensor:
        """``size`` network-space rows of ``n``-jet events, shape ``(size, 5 + 4n)``
        (extra conditions from :attr:`extra_sampler`)."""
        device = next(self.parameters()).device
        hot = one_hot(n, size).to(device)
        e = self._extra(None, size, hot)
        tail = [hot] if e is None else [hot, e]
        parts = [self.base.sample(torch.cat(tail, dim=1), generator=generator)]
        for k in range(2, n + 1):
            parts.append(self.jets[f"j{k}"].sample(torch.cat([*parts, *tail], dim=1), generator=generator))
        return torch.cat(parts, dim=1)
