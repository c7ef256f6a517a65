r"""The jets' ``p_T`` ordering as a coordinate: each further jet between the threshold and the jet before it.

Jets are stored in decreasing ``p_T``, so jet ``k`` lives in ``p_min ≤ p_T,k ≤ p_T,k−1``. The
paper's ``log(p_T,k − p_min)`` leaves the upper edge hard and moving with the jet before, and
the density does not vanish there: in the shared Pythia sample 2.5 % of the 2-jet events have
``p_T,j2 > 0.98 p_T,j1`` (a balanced dijet, whose vector sum is small and whose Z is soft). A
flow of smooth splines smears such an edge: the CPU recipe without the step put 0.7–1.0 % of
its 2-jet events and 1.1–1.2 % of its 3-jet events beyond it (``p_T,j2 > p_T,j1``), 1.5–2.3 %
of the 3-jet events had ``p_T,j3 > p_T,j2``, and 1.8–1.9 % instead of 2.5 % lay just below it
(four seeds); with it none, and 2.6 % (``docs/zjets-inn.md``).

:class:`PtOrdering` maps the further jets' ``p_T`` to

    z_k = log(p_T,k − p_min) − log(p_T,k−1 − p_T,k),

the logit of ``ρ_k = (p_T,k − p_min)/(p_T,k−1 − p_min) ∈ (0, 1)``: both edges lie at infinity
(near the threshold ``z_k`` is the paper's log, near the ordering edge ``z_k → +∞``). The map
is triangular (``z_k`` depends on ``p_T,k`` and the jet before it, which the chained networks
generate first), so

    log |det J| = Σ_k log(p_T,k−1 − p_min) − log(p_T,k − p_min) − log(p_T,k−1 − p_T,k),

and the inverse ``p_T,k = p_min + σ(z_k) (p_T,k−1 − p_min)`` runs from jet 2 up, every
generated event ordered and above the threshold by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evgen.errors import ConfigError
from evgen.preprocessing.base import BaseStep, as_matrix, register_step
from evgen.preprocessing.steps import _check_width

__all__ = ["PtOrdering"]


@register_step
class PtOrdering(BaseStep):
    """``p_T,k → log(p_T,k − p_min) − log(p_T,k−1 − p_T,k)`` for ``k ≥ 2``; the first column kept.

    Parameters
    ----------
    columns
        The jets' ``p_T`` columns (GeV) in ``p_T`` order, the leading jet's first (it stays
        as it is: another step maps it).
    minimum
        The jet threshold ``p_min`` (GeV).
    floor
        Smallest ``p_T,k − p_min`` and ``p_T,k−1 − p_T,k`` kept (GeV): a jet on the threshold
        or with exactly its predecessor's ``p_T`` is moved by at most ``floor`` so that the map
        stays finite.
    """

    kind = "pt-ordering"

    def __init__(self, columns: Sequence[int], minimum: float, floor: float = 1e-9) -> None:
        self.columns = [int(c) for c in columns]
        if len(self.columns) < 2 or len(set(self.columns)) != len(self.columns) or min(self.columns) < 0:
            raise ConfigError(f"{self.kind}: needs two or more distinct p_T columns; got {self.columns}")
        if not floor > 0:
            raise ConfigError(f"{self.kind}: floor must be positive; got {floor!r}")
        self.minimum = float(minimum)
        self.floor = float(floor)

    def params(self) -> dict[str, Any]:
        return {"columns": self.columns, "minimum": self.minimum, "floor": self.floor}

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = as_matrix(x)
        _check_width(y, self.columns, self.kind)
        raw = y[:, self.columns].copy()
        log_det = np.zeros(len(y))
        for k in range(1, len(self.columns)):
            previous = np.maximum(raw[:, k - 1] - self.minimum, 2 * self.floor)
            above = np.clip(raw[:, k] - self.minimum, self.floor, previous - self.floor)
            below = previous - above
            y[:, self.columns[k]] = np.log(above) - np.log(below)
            log_det += np.log(previous) - np.log(above) - np.log(below)
        return y, log_det

    def inverse(self, y: np.ndarray) -> np.ndarray:
        x = as_matrix(y)
        _check_width(x, self.columns, self.kind)
        for k in range(1, len(self.columns)):
            previous = np.maximum(x[:, self.columns[k - 1]] - self.minimum, 0.0)
            share = 0.5 * (1.0 + np.tanh(0.5 * x[:, self.columns[k]]))  # σ(z), no overflow
            x[:, self.columns[k]] = self.minimum + share * previous
        return x
