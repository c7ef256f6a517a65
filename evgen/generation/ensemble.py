r"""Ensembles of trained run directories, sampled like the weight draws of a Bayesian network.

A bootstrap ensemble (members trained on resamples of the training set drawn with
replacement, ``evgen train GEN --bootstrap SEED``) or a deep ensemble (the same
training set, other seeds) predicts the uncertainty of a generated histogram from the
spread over its members: member :math:`k` plays the role of the weight draw
:math:`\theta_k` of a BINN (Eq. 19-21 of arXiv:2110.13632, :mod:`evgen.statistics.uncertainty`).
The bootstrap spread estimates how much the generated histogram would move with a new
training sample (the statistical uncertainty the generator inherits, Matchev et al.);
the spread over seeds alone does not see that fluctuation (``evgen study amplification``
measures both).

>>> ensemble = RunEnsemble(["runs/boot0", "runs/boot1", "runs/boot2"])   # doctest: +SKIP
>>> x = ensemble.sample(100_000, seed=0, theta=2)                         # member 2's events
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from typing import Any

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, InputError

__all__ = ["RunEnsemble", "bootstrap_indices"]


def bootstrap_indices(n: int, seed: int) -> np.ndarray:
    """Indices of a bootstrap resample of ``n`` events (drawn with replacement), fixed by ``seed``."""
    if n < 1:
        raise InputError("a bootstrap resample needs at least one event")
    return np.sort(np.random.default_rng([int(seed), 0xB007]).integers(0, n, n))


class RunEnsemble:
    """The generators of several run directories; ``sample(..., theta=k)`` samples member ``k``.

    Parameters
    ----------
    runs
        Run directories (at least two), loaded through the plugin registry.
    """

    name = "ensemble"

    def __init__(self, runs: Sequence[str | os.PathLike[str]]) -> None:
        from evgen.generation.run_dir import load_generator

        if len(runs) < 2:
            raise ConfigError(f"an ensemble needs at least two run directories; got {len(runs)}")
        self.runs = [str(r) for r in runs]
        self.members = [load_generator(r) for r in runs]

    def __len__(self) -> int:
        return len(self.members)

    def sample(self, n: int, seed: int | None = None, *, theta: int | str = 0, **options: Any) -> ak.Array:
        """``n`` events of member ``theta`` (``"map"``: member 0); options the member does not take are dropped."""
        k = 0 if theta == "map" else theta
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < len(self.members):
            raise ConfigError(
                f"theta = {theta!r}: expected a member index 0…{len(self.members) - 1} or 'map'"
            )
        member = self.members[int(k)]
        accepted = inspect.signature(member.sample).parameters
        kwargs = {key: value for key, value in options.items() if key in accepted}
        return member.sample(n, seed=seed, **kwargs)
