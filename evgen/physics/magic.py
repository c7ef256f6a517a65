"""The magic transformation of ΔR_jj, Eq. (7)–(9) of Precision Enthusiasts.

Training events are weighted with the smoothing function ``f`` of every jet pair
(Eq. 7, 8), which turns the ring-and-hole pattern around ``ΔR_jj = R_min`` into
a smoothly falling curve that a flow learns well; generated events carry the
inverse weights ``f̃`` (Eq. 9), zero below the jet separation ``R_min``.

>>> import numpy as np
>>> smoothing(np.array([0.1, 0.85, 2.0]))          # R₋ = 0.2, R₊ = 1.5
array([0. , 0.5, 1. ])
>>> inverse_smoothing(np.array([0.3, 0.85, 2.0]))  # R_min = 0.4
array([0., 2., 1.])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, InputError

__all__ = [
    "R_MINUS",
    "R_PLUS",
    "R_MIN",
    "MagicTransform",
    "delta_r",
    "jet_pair_delta_r",
    "smoothing",
    "inverse_smoothing",
    "training_weights",
    "generation_weights",
]

#: Lower edge of the transition region of Eq. (7).
R_MINUS = 0.2
#: Upper edge of the transition region of Eq. (7).
R_PLUS = 1.5
#: Jet separation of Eq. (2).
R_MIN = 0.4


def delta_r(eta1: np.ndarray, phi1: np.ndarray, eta2: np.ndarray, phi2: np.ndarray) -> np.ndarray:
    """ΔR = √(Δη² + Δφ²) with Δφ wrapped into [−π, π)."""
    dphi = np.mod(np.asarray(phi1, dtype=np.float64) - phi2 + np.pi, 2 * np.pi) - np.pi
    deta = np.asarray(eta1, dtype=np.float64) - eta2
    return np.hypot(deta, dphi)


def jet_pair_delta_r(eta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """ΔR of every jet pair ``(i < j)`` in the order (1,2), (1,3), (2,3), …; shape ``(N, k(k−1)/2)``.

    ``eta`` and ``phi`` have shape ``(N, k)`` (``φ`` may be relative to any common reference).
    """
    eta = np.asarray(eta, dtype=np.float64)
    phi = np.asarray(phi, dtype=np.float64)
    if eta.shape != phi.shape or eta.ndim != 2:
        raise InputError(f"jet η and φ must both have shape (N, k); got {eta.shape} and {phi.shape}")
    pairs = list(combinations(range(eta.shape[1]), 2))
    if not pairs:
        return np.zeros((len(eta), 0))
    return np.stack([delta_r(eta[:, i], phi[:, i], eta[:, j], phi[:, j]) for i, j in pairs], axis=1)


def smoothing(dr: np.ndarray, r_minus: float = R_MINUS, r_plus: float = R_PLUS) -> np.ndarray:
    """The smoothing function f(ΔR) of Eq. (7).

    ``0`` below ``R₋``, ``(ΔR − R₋)/(R₊ − R₋)`` in ``[R₋, R₊]``, ``1`` above ``R₊``.
    """
    dr = np.asarray(dr, dtype=np.float64)
    return np.clip((dr - r_minus) / (r_plus - r_minus), 0.0, 1.0)


def inverse_smoothing(
    dr: np.ndarray, r_min: float = R_MIN, r_minus: float = R_MINUS, r_plus: float = R_PLUS
) -> np.ndarray:
    """The inverse factor f̃(ΔR) of Eq. (9).

    ``0`` below ``R_min``, ``(R₊ − R₋)/(ΔR − R₋)`` in ``[R_min, R₊]``, ``1`` above ``R₊``;
    ``f·f̃ = 1`` wherever ``ΔR ≥ R_min``.
    """
    dr = np.asarray(dr, dtype=np.float64)
    out = np.ones_like(dr)
    inside = (dr >= r_min) & (dr <= r_plus)
    out[inside] = (r_plus - r_minus) / (dr[inside] - r_minus)
    out[dr < r_min] = 0.0
    return out


def training_weights(pair_dr: np.ndarray, r_minus: float = R_MINUS, r_plus: float = R_PLUS) -> np.ndarray:
    """Eq. (8): the product of ``f`` over all jet pairs; 1 for events with one jet (no pairs)."""
    pair_dr = np.asarray(pair_dr, dtype=np.float64)
    return np.prod(smoothing(pair_dr, r_minus, r_plus), axis=1)


def generation_weights(
    pair_dr: np.ndarray, r_min: float = R_MIN, r_minus: float = R_MINUS, r_plus: float = R_PLUS
) -> np.ndarray:
    """The inverse of Eq. (8): the product of ``f̃`` (Eq. 9) over all jet pairs."""
    pair_dr = np.asarray(pair_dr, dtype=np.float64)
    return np.prod(inverse_smoothing(pair_dr, r_min, r_minus, r_plus), axis=1)


def _event_pair_dr(events: ak.Array) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(index, pair ΔR)`` per jet multiplicity of collider events."""
    counts = ak.to_numpy(ak.num(events["Jet"], axis=1))
    out = []
    for k in np.unique(counts):
        index = np.flatnonzero(counts == k)
        if k < 2:
            out.append((index, np.zeros((len(index), 0))))
            continue
        jets = events["Jet"][index]
        eta = ak.to_numpy(ak.flatten(jets.eta, axis=1)).reshape(len(index), k)
        phi = ak.to_numpy(ak.flatten(jets.phi, axis=1)).reshape(len(index), k)
        out.append((index, jet_pair_delta_r(eta, phi)))
    return out


@dataclass(frozen=True)
class MagicTransform:
    """The magic transformation with its switch and parameters (config section ``[magic]``).

    Parameters
    ----------
    enabled
        Train on weights ``w`` of Eq. (8) and generate with ``f̃`` of Eq. (9).
    r_minus, r_plus
        Transition region of Eq. (7); the paper uses 0.2 and 1.5.
    r_min
        Jet separation of Eq. (2); generated events below it get weight 0.
    mapped_floor
        For jet pairs whose ``ΔR < r_min`` hole the coordinates close
        (:class:`~evgen.preprocessing.steps.SeparationMap`): there is no hole left to
        soften, but the collinear peak just outside it remains (2.5 × the plateau density
        at ΔR ≈ 0.55 in the shared sample). Their weight rises linearly from
        ``mapped_floor`` at ``r_min`` to 1 at ``r_plus`` (generation weights its inverse,
        at most ``1/mapped_floor``); 1 leaves such pairs unweighted.
    """

    enabled: bool = True
    r_minus: float = R_MINUS
    r_plus: float = R_PLUS
    r_min: float = R_MIN
    mapped_floor: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise ConfigError(f"magic.enabled must be true or false; got {self.enabled!r}")
        if not 0 <= self.r_minus < self.r_min:
            raise ConfigError(
                f"magic.r_minus={self.r_minus} must lie in [0, r_min={self.r_min}) so that weights above "
                "the jet separation stay non-zero (Sec. 2.2)"
            )
        if not self.r_plus > self.r_min:
            raise ConfigError(f"magic.r_plus={self.r_plus} must exceed magic.r_min={self.r_min}")
        if not 0 < self.mapped_floor <= 1:
            raise ConfigError(f"magic.mapped_floor={self.mapped_floor} must lie in (0, 1]")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> MagicTransform:
        known = {"enabled", "r_minus", "r_plus", "r_min", "mapped_floor"}
        unknown = set(mapping) - known
        if unknown:
            raise ConfigError(
                f"unknown option(s) magic.{sorted(unknown)[0]}; known: {', '.join(sorted(known))}"
            )
        return cls(**mapping)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def training_weights(self, pair_dr: np.ndarray) -> np.ndarray:
        """Eq. (8) from a ``(N, pairs)`` ΔR matrix; ones when disabled."""
        pair_dr = np.asarray(pair_dr)
        if not self.enabled:
            return np.ones(len(pair_dr))
        return training_weights(pair_dr, self.r_minus, self.r_plus)

    def generation_weights(self, pair_dr: np.ndarray) -> np.ndarray:
        """Products of Eq. (9) from a ``(N, pairs)`` ΔR matrix; ones when disabled."""
        pair_dr = np.asarray(pair_dr)
        if not self.enabled:
            return np.ones(len(pair_dr))
        return generation_weights(pair_dr, self.r_min, self.r_minus, self.r_plus)

    def mapped_training_weights(self, pair_dr: np.ndarray) -> np.ndarray:
        """Product over mapped pairs (``(N, pairs)`` ΔR, all ≥ ``r_min``) of the linear ramp
        ``mapped_floor → 1`` on ``[r_min, r_plus]``; ones when disabled."""
        pair_dr = np.asarray(pair_dr, dtype=np.float64)
        if not self.enabled or self.mapped_floor == 1.0:
            return np.ones(len(pair_dr))
        t = np.clip((pair_dr - self.r_min) / (self.r_plus - self.r_min), 0.0, 1.0)
        return np.prod(self.mapped_floor + (1 - self.mapped_floor) * t, axis=1)

    def mapped_generation_weights(self, pair_dr: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`mapped_training_weights` (no zeros: the pairs are separated)."""
        return 1.0 / self.mapped_training_weights(pair_dr)

    def event_training_weights(self, events: ak.Array) -> np.ndarray:
        """Eq. (8) for collider events of any jet multiplicity."""
        out = np.ones(len(events))
        for index, dr in _event_pair_dr(events):
            out[index] = self.training_weights(dr)
        return out

    def event_generation_weights(self, events: ak.Array) -> np.ndarray:
        """Eq. (9) products for collider events of any jet multiplicity."""
        out = np.ones(len(events))
        for index, dr in _event_pair_dr(events):
            out[index] = self.generation_weights(dr)
        return out
