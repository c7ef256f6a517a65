"""Per-epoch training data: shuffled tensors, or balanced draws from groups.

A source hands the training loop, for every epoch, a tuple of equally long
tensors in the order the batches are cut from. All randomness comes from the
``torch.Generator`` the loop passes in, so a checkpointed generator state
reproduces an epoch exactly.

In data-parallel training every process draws the *same* epoch (the generator
is seeded identically on all ranks) and :class:`RankBatches` gives each rank a
disjoint slice of every global batch, so the union of the ranks' batches is the
batch a single process with the global batch size would train on, and the
per-epoch multiplicity balance of :class:`BalancedSource` is kept exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch

from evgen.errors import ConfigError, InputError

__all__ = ["EpochSource", "TensorSource", "BalancedSource", "RankBatches", "rank_rows", "global_steps"]


@runtime_checkable
class EpochSource(Protocol):
    """What :class:`evgen.training.Trainer` trains on."""

    def __len__(self) -> int:
        """Events per epoch (fixed: the learning-rate schedule counts on it)."""

    def epoch(self, epoch: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """The epoch's tensors, each of length ``len(self)``, already in batch order."""


def _check(tensors: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    if not tensors:
        raise InputError("no training tensors given")
    n = len(tensors[0])
    for i, t in enumerate(tensors):
        if len(t) != n:
            raise InputError(f"training tensor {i} has {len(t)} rows, expected {n}")
    if n == 0:
        raise InputError("no training events")
    return tuple(tensors)


class TensorSource:
    """All rows every epoch, in a fresh random order."""

    def __init__(self, *tensors: torch.Tensor, shuffle: bool = True) -> None:
        self.tensors = _check(tensors)
        self.shuffle = shuffle

    def __len__(self) -> int:
        return len(self.tensors[0])

    def epoch(self, epoch: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        if not self.shuffle:
            return self.tensors
        order = self.indices(epoch, generator)
        return tuple(t[order] for t in self.tensors)

    def indices(self, epoch: int, generator: torch.Generator) -> torch.Tensor:
        """The rows of :meth:`epoch`, in order (drawing the same random numbers as :meth:`epoch`)."""
        if not self.shuffle:
            return torch.arange(len(self))
        return torch.randperm(len(self), generator=generator)


class BalancedSource:
    """Equal numbers of rows from every group, redrawn each epoch (Sec. 2.2).

    Each epoch draws, without replacement, ``per_group`` rows from every group
    (by default the size of the smallest group) and shuffles them together, so
    rare jet multiplicities get as many gradient steps as common ones.

    Parameters
    ----------
    tensors
        Row-aligned tensors.
    groups
        Integer group label per row (e.g. the jet multiplicity).
    per_group
        Rows drawn from each group per epoch.
    """

    def __init__(self, *tensors: torch.Tensor, groups: torch.Tensor, per_group: int | None = None) -> None:
        self.tensors = _check(tensors)
        groups = torch.as_tensor(groups)
        if len(groups) != len(self.tensors[0]):
            raise InputError(f"{len(groups)} group labels for {len(self.tensors[0])} rows")
        self.labels = torch.unique(groups).tolist()
        self.members = [torch.nonzero(groups == g).flatten() for g in self.labels]
        smallest = min(len(m) for m in self.members)
        if per_group is None:
            per_group = smallest
        if not 1 <= per_group <= smallest:
            sizes = {g: len(m) for g, m in zip(self.labels, self.members, strict=True)}
            raise ConfigError(f"per_group = {per_group}: must lie in [1, {smallest}] (group sizes {sizes})")
        self.per_group = per_group

    def __len__(self) -> int:
        return self.per_group * len(self.members)

    def epoch(self, epoch: int, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        index = self.indices(epoch, generator)
        return tuple(t[index] for t in self.tensors)

    def indices(self, epoch: int, generator: torch.Generator) -> torch.Tensor:
        """The rows of :meth:`epoch`, in order (drawing the same random numbers as :meth:`epoch`)."""
        picks = [m[torch.randperm(len(m), generator=generator)[: self.per_group]] for m in self.members]
        index = torch.cat(picks)
        return index[torch.randperm(len(index), generator=generator)]


def rank_rows(rows: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank ``rank``'s contiguous share of ``rows``: ``world_size`` near-equal, disjoint parts.

    Parts differ in length by at most one (``torch.tensor_split``), and their
    concatenation in rank order is ``rows``.
    """
    return torch.tensor_split(rows, world_size)[rank]


def global_steps(n_events: int, batch_size: int, world_size: int = 1) -> int:
    """Global batches per epoch for a per-process ``batch_size`` on ``world_size`` processes.

    The global batch is ``batch_size × world_size``. With several processes a
    last partial batch smaller than ``world_size`` rows (some rank would get none)
    is dropped.
    """
    global_batch = batch_size * world_size
    steps = math.ceil(n_events / global_batch)
    if world_size > 1 and n_events - (steps - 1) * global_batch < world_size:
        steps -= 1
    if steps < 1:
        raise InputError(f"{n_events} training events cannot be split over {world_size} processes")
    return steps


class RankBatches:
    """One rank's batches of an epoch: its slice of every global batch (a distributed sampler).

    Every rank draws the same epoch from an identically seeded generator; global
    batch ``b`` is rows ``[b·B·W, (b+1)·B·W)`` of it (``B`` the per-process batch
    size, ``W`` the number of processes) and rank ``r`` trains on part ``r`` of
    :func:`rank_rows` of it. Sources with an ``indices`` method
    (:class:`TensorSource`, :class:`BalancedSource`) are gathered row by row, so a
    rank materialises only its own batches.

    Parameters
    ----------
    source
        The epoch source (same on every rank).
    batch_size
        Per-process batch size ``B``.
    rank, world_size
        This process and the number of processes.
    weight_index
        Position of the per-event weight tensor in a batch, for losses that are
        weighted means (Eq. 10); ``None`` for plain means. Sets :meth:`share`.
    """

    def __init__(
        self,
        source: EpochSource,
        batch_size: int,
        rank: int,
        world_size: int,
        weight_index: int | None = None,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} outside 0…{world_size - 1}")
        self.source = source
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.weight_index = weight_index
        self.n_events = len(source)
        self.global_batch_size = batch_size * world_size
        self.steps = global_steps(self.n_events, batch_size, world_size)
        self._index: torch.Tensor | None = None
        self._data: tuple[torch.Tensor, ...] | None = None

    def set_epoch(self, epoch: int, generator: torch.Generator) -> None:
        """Draw the epoch (consuming ``generator`` exactly as ``source.epoch`` does)."""
        if hasattr(self.source, "indices") and hasattr(self.source, "tensors"):
            self._index, self._data = self.source.indices(epoch, generator), tuple(self.source.tensors)
        else:
            self._index, self._data = None, tuple(self.source.epoch(epoch, generator))

    def global_rows(self, b: int) -> torch.Tensor:
        """Rows of global batch ``b`` in the epoch's data."""
        start, stop = b * self.global_batch_size, min((b + 1) * self.global_batch_size, self.n_events)
        if self._index is None:  # the epoch is already in batch order: rows are positions
            return torch.arange(start, stop)
        return self._index[start:stop]

    def global_size(self, b: int) -> int:
        return min((b + 1) * self.global_batch_size, self.n_events) - b * self.global_batch_size

    def batch(self, b: int) -> tuple[tuple[torch.Tensor, ...], float]:
        """This rank's part of global batch ``b`` and its :meth:`share` of the batch's loss."""
        if self._data is None:
            raise RuntimeError("call set_epoch() first")
        rows = self.global_rows(b)
        mine = rank_rows(rows, self.rank, self.world_size)
        return tuple(t[mine] for t in self._data), self.share(rows, mine)

    def share(self, rows: torch.Tensor, mine: torch.Tensor) -> float:
        """This rank's fraction of the global batch's loss.

        With per-rank losses ``L_r`` that are (weighted) means over the rank's
        rows, the global batch's loss is ``Σ_r s_r L_r`` with ``s_r`` the rank's
        share of the rows (plain means) or of the weight sum (weighted means,
        Eq. 10). Data-parallel gradients are averaged over ranks, so each rank
        scales its loss by ``W s_r``: the averaged gradient is then exactly the
        gradient of the global batch's loss.
        """
        if self.weight_index is None:
            return len(mine) / len(rows)
        w = self._data[self.weight_index]
        total, part = w[rows].double().sum(), w[mine].double().sum()
        return float(part / total) if total > 0 else len(mine) / len(rows)
