"""Per-epoch training data: shuffled tensors, or balanced draws from groups.

A source hands the training loop, for every epoch, a tuple of equally long
tensors in the order the batches are cut from. All randomness comes from the
``torch.Generator`` the loop passes in, so a checkpointed generator state
reproduces an epoch exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch

from evgen.errors import ConfigError, InputError

__all__ = ["EpochSource", "TensorSource", "BalancedSource"]


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
        order = torch.randperm(len(self), generator=generator)
        return tuple(t[order] for t in self.tensors)


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
        picks = [m[torch.randperm(len(m), generator=generator)[: self.per_group]] for m in self.members]
        index = torch.cat(picks)
        index = index[torch.randperm(len(index), generator=generator)]
        return tuple(t[index] for t in self.tensors)
