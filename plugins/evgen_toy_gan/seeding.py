"""Seeds of the members of an ensemble, derived from one seed."""

from __future__ import annotations

import numpy as np

__all__ = ["member_seeds"]


def member_seeds(seed: int, n_models: int) -> list[int]:
    """Independent initialisation seeds of ``n_models`` ensemble members.

    Spawned from :class:`numpy.random.SeedSequence` ``(seed)``: member ``e`` gets the
    same seed whatever the ensemble size, so the first model of an ensemble of E
    starts like the single model trained with the same ``seed``.
    """
    children = np.random.SeedSequence(int(seed)).spawn(int(n_models))
    return [int(child.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for child in children]
