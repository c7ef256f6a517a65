r"""The further jets' acceptance edge at infinity: ``Δη_k`` stretched near ``|η_1 + Δη_k| = η_max``.

The shared sample's jets have ``|η| < η_max = 5``, a hard edge where the density jumps to
zero. The leading jet's edge is a fixed coordinate and ``atanh(η_1/η_max)`` sends it to
infinity (``jet_eta_bound``). The further jets enter as ``Δη_k = η_k − η_1`` (the jet radius's
metric, where the hole around jet 1 is closed), and their edges ``Δη_k = η_max − η_1`` and
``Δη_k = −η_max − η_1`` move with ``η_1``: no fixed map straightens them, and a flow of smooth
splines smears a moving edge. The CPU recipe without this step put 0.4 % of its 2- and
3-jet events beyond it (redrawn) and too few just inside: the 2-jet ``η_j2``'s variance 4.27–4.30
against the truth's 4.372 ± 0.034, the share with ``|η_j2| > 4`` 4–9 % low in three seeds.

:class:`AcceptanceEdge` stretches the last stretch of each side onto a half-line. With
``b = η_max − η_1`` the distance to the upper edge, the zone starts at

    c(b) = max(b − w, min(κ, b/2)),

(``w`` the zone's width, ``κ`` the inner radius kept: the jet radius), and for ``Δη > c``, with
``t = (Δη − c)/(b − c) ∈ [0, 1)``,

    s = c + (b − c) · (−log(1 − t) − t²/2),      ds/dΔη = (1 − t + t²)/(1 − t),

the identity below ``c``; the lower edge (``a = η_max + η_1``) is its mirror image. The slope
rises from 1 with zero curvature (``s − Δη = (b − c)(t³/3 + …)``): a first version,
``s = c − (b − c) log(1 − t)``, joined the identity with a kink in the density (its slope
jumps by ``1/(b − c)`` at ``c``), and the flow, smoothing the kink, left a dip there (2-jet
``η_j2`` −3σ at ``|η_j2| ≈ 3`` with ``w = 2``). The slope is ``≥ 1`` everywhere, so no two jets
come closer (the ``ΔR > R`` holes of the separation maps after it stay outside their discs);
the edge lies at ``s = ∞``, the density there turned into an exponential tail of scale
``b − c``; every point of ℝ decodes to a jet inside the acceptance (the inverse solves for
``v = −log(1 − t)`` by Newton's method, :func:`solve_stretch`). The map is triangular (``s``
reads ``η_1``, which it keeps), so

    log |det J| = Σ_k log((1 − t_k + t_k²)/(1 − t_k))   (on the side each jet is on; 0 in the middle).

Where ``b ≥ κ + w`` (``|η_1| ≤ η_max − κ − w``, most events) the disc ``ΔR < κ`` around jet 1
lies in the identity: the closed hole stays exactly closed. For jets nearer the edge the zone
starts at ``κ`` (the disc's rim is moved by third order) and below ``b = 2κ`` at ``b/2``.
The map is symmetric under the beam reflection ``(η_1, Δη) → (−η_1, −Δη)``.

Measured on the shared sample (``docs/zjets-inn.md``, *The further jets' acceptance edge*): the
stretch turns the CPU recipe's deficit near the edge into an excess with ``w = 2`` (``|η_j2| > 4``
from 9 % too few to 8 % too many, two seeds); with ``w = 4`` it gets the 2-jet ``η_j2`` right in
two seeds (its variance 4.356 / 4.387 against the truth's 4.372 ± 0.034, the recipe's 4.27–4.30)
at the cost, in one seed, of ``Δη_j1j2`` and the 3-jet separations. An option
(``jet_eta_edge_width``), not in the recipe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evgen.errors import ConfigError
from evgen.preprocessing.base import BaseStep, as_matrix, register_step
from evgen.preprocessing.steps import _check_width, _columns

__all__ = ["AcceptanceEdge", "zone_start", "solve_stretch"]


def zone_start(distance: np.ndarray, width: float, keep: float) -> np.ndarray:
    """``c(b) = max(b − w, min(κ, b/2))``: where the stretch towards an edge ``b`` away begins
    (continuous in ``b``, and ``0 < c < b`` for every ``b > 0``)."""
    return np.maximum(distance - width, np.minimum(keep, 0.5 * distance))


@register_step
class AcceptanceEdge(BaseStep):
    """Stretch the further jets' ``Δη_k`` near the acceptance edge ``|η_1 + Δη_k| = η_max`` to infinity.

    Parameters
    ----------
    columns
        The further jets' ``Δη_k = η_k − η_1`` columns (after :class:`~evgen.preprocessing.steps.RelativeTo`).
    reference
        The leading jet's ``η_1`` column (absolute: before ``atanh(η_1/η_max)``).
    bound
        ``η_max`` of the sample's jet acceptance ``|η| < η_max``.
    width
        ``w``: how far from the edge the stretch begins (for jets far enough from the edge).
    keep
        ``κ``: around jet 1 the map is the identity out to at least ``min(κ, b/2)`` (the jet
        radius, so that :class:`~evgen.preprocessing.steps.SeparationMap` sees its circular hole).
    eps
        A jet on or beyond an edge is moved inside it by ``eps · (b − c)`` (finite, as every step);
        the inverse keeps every decoded jet at least that far inside.
    """

    kind = "acceptance-edge"

    def __init__(
        self,
        columns: Sequence[int],
        reference: int,
        bound: float = 5.0,
        width: float = 1.0,
        keep: float = 0.4,
        eps: float = 1e-9,
    ) -> None:
        self.columns = _columns(columns, self.kind)
        self.reference = int(reference)
        if not self.columns or self.reference in self.columns or self.reference < 0:
            raise ConfigError(
                f"{self.kind}: need columns and a reference column ≥ 0 not among them; "
                f"got columns {self.columns}, reference {reference}"
            )
        if not bound > 0:
            raise ConfigError(f"{self.kind}: bound must be positive (η_max); got {bound!r}")
        if not width > 0:
            raise ConfigError(f"{self.kind}: width must be positive; got {width!r}")
        if not 0 <= keep < bound:
            raise ConfigError(f"{self.kind}: keep must lie in [0, bound); got {keep!r}")
        if not 0 < eps < 1:
            raise ConfigError(f"{self.kind}: eps must lie in (0, 1); got {eps!r}")
        self.bound = float(bound)
        self.width = float(width)
        self.keep = float(keep)
        self.eps = float(eps)

    def params(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "reference": self.reference,
            "bound": self.bound,
            "width": self.width,
            "keep": self.keep,
            "eps": self.eps,
        }

    def _zone(self, delta: np.ndarray, eta_1: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per row, for a jet at ``delta`` (``Δη`` or its stretched value, the same side) from jet 1
        at ``eta_1``: the side's sign, the distance to that side's edge (``b``, or ``a`` below;
        > 0), the zone's start ``c``, its width ``b − c``, and whether the jet lies beyond ``c``."""
        eta_1 = np.clip(eta_1, -self.bound * (1 - self.eps), self.bound * (1 - self.eps))
        sign = np.where(delta >= 0, 1.0, -1.0)
        edge = self.bound - sign * eta_1
        c = zone_start(edge, self.width, self.keep)
        return sign, edge, c, edge - c, np.abs(delta) > c

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = as_matrix(x)
        _check_width(y, [*self.columns, self.reference], self.kind)
        log_det = np.zeros(len(y))
        for col in self.columns:
            sign, edge, c, scale, inside = self._zone(y[:, col], y[:, self.reference])
            t = np.clip((np.abs(y[:, col]) - c) / scale, 0.0, 1.0 - self.eps)
            v = -np.log1p(-t)
            y[:, col] = np.where(inside, sign * (c + scale * (v - 0.5 * t * t)), y[:, col])
            log_det += np.where(inside, np.log1p(-t + t * t) + v, 0.0)
        return y, log_det

    def inverse(self, y: np.ndarray) -> np.ndarray:
        x = as_matrix(y)
        _check_width(x, [*self.columns, self.reference], self.kind)
        for col in self.columns:
            sign, edge, c, scale, inside = self._zone(x[:, col], x[:, self.reference])
            # the forward map's largest value caps the stretch: a draw beyond it decodes
            # eps·scale inside the edge, never onto it
            u = np.clip((np.abs(x[:, col]) - c) / scale, 0.0, None)
            v = np.minimum(solve_stretch(u), -np.log(self.eps))
            x[:, col] = np.where(inside, sign * (edge - scale * np.exp(-v)), x[:, col])
        return x


def solve_stretch(u: np.ndarray) -> np.ndarray:
    """Solve ``u = v − (1 − e^{−v})²/2`` for ``v ≥ 0`` (the stretch's inverse, in ``v = −log(1 − t)``).

    The right side rises with slope ``1 − (1 − e^{−v}) e^{−v} ∈ [3/4, 1]`` and lies within
    ``[v − 1/2, v]``, so Newton's method from ``v = u`` converges in a few steps everywhere.
    """
    v = np.asarray(u, dtype=np.float64).copy()
    for _ in range(50):
        q = -np.expm1(-v)  # 1 − e^{−v}, i.e. t
        step = (v - 0.5 * q * q - u) / (1.0 - q * (1.0 - q))
        v = np.maximum(v - step, 0.0)
        if np.max(np.abs(step), initial=0.0) < 1e-13 * max(1.0, float(np.max(u, initial=0.0))):
            break
    return v
