r"""Conditional augmentation with a nuisance parameter, Sec. 4.2 of arXiv:2110.13632.

A systematic or theory uncertainty is modelled by a nuisance parameter :math:`a`
that reweights the training events, :math:`w_i \to w_i\, w(x_i; a)`; the generator
is trained conditionally on :math:`a` over a grid of values and, at generation,
:math:`a` is drawn from a Gaussian around the chosen value. The paper's example
(Eq. 23) enhances the tail of the leading-jet transverse momentum,

.. math:: w = 1 + a \left(\frac{p_{T,j1} - 15~\mathrm{GeV}}{100~\mathrm{GeV}}\right)^2,
          \qquad a = 0, 1, \ldots, 30,

and generation draws :math:`a' \sim \mathcal{N}(a, \min(a/10, 0.1)^2)`.

Any per-event weight function of the observables can play the role of the nuisance:
it only has to follow the :class:`NuisanceWeight` protocol. :class:`QuadraticTailWeight`
covers Eq. (23) (:func:`pt_j1_tail`) and its analogue for toy points.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, InputError

__all__ = [
    "NuisanceWeight",
    "QuadraticTailWeight",
    "leading_jet_pt",
    "toy_coordinate",
    "pt_j1_tail",
    "nuisance_grid",
    "augmented_weights",
    "replicate",
    "generation_width",
    "sample_nuisance",
]


@runtime_checkable
class NuisanceWeight(Protocol):
    r"""A per-event weight :math:`w(x; a)` of a nuisance parameter :math:`a`.

    ``weight(events, a)`` returns one finite, non-negative weight per event;
    ``a`` is a number or one value per event. By convention :math:`w(x; 0) = 1`.
    """

    name: str

    def weight(self, events: ak.Array, a: float | np.ndarray) -> np.ndarray:
        """Weights of ``events`` at nuisance value(s) ``a``."""


def leading_jet_pt(events: ak.Array) -> np.ndarray:
    """Transverse momentum of the leading jet (GeV), one value per event."""
    if "Jet" not in ak.fields(events):
        raise InputError(
            f"the leading-jet pT needs collider events with jets; got fields {ak.fields(events)}"
        )
    if not ak.all(ak.num(events["Jet"], axis=1) >= 1):
        raise InputError("the leading-jet pT needs at least one jet in every event")
    return ak.to_numpy(events["Jet"].pt[:, 0]).astype(np.float64)


def toy_coordinate(axis: int = 0) -> Callable[[ak.Array], np.ndarray]:
    """Observable: coordinate ``axis`` of toy points (field ``x``)."""

    def observable(events: ak.Array) -> np.ndarray:
        from evgen.events import toy_points

        points = toy_points(events)
        if not 0 <= axis < points.shape[1]:
            raise InputError(f"toy points have {points.shape[1]} coordinates; no axis {axis}")
        return points[:, axis]

    observable.__name__ = f"x{axis}"
    return observable


@dataclass(frozen=True)
class QuadraticTailWeight:
    r""":math:`w = 1 + a\,((O(x) - O_0)/\Delta)^2` for an observable :math:`O`, Eq. (23).

    Parameters
    ----------
    observable:
        ``observable(events) -> values``, e.g. :func:`leading_jet_pt`.
    offset:
        :math:`O_0` (15 GeV in Eq. 23).
    scale:
        :math:`\Delta` (100 GeV in Eq. 23).
    name:
        Label for reports.
    """

    observable: Callable[[ak.Array], np.ndarray]
    offset: float
    scale: float
    name: str = "quadratic-tail"

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ConfigError(f"scale = {self.scale!r}: must be positive")

    def weight(self, events: ak.Array, a: float | np.ndarray) -> np.ndarray:
        t = (np.asarray(self.observable(events), dtype=np.float64) - self.offset) / self.scale
        a = np.asarray(a, dtype=np.float64)
        if a.ndim and a.shape != t.shape:
            raise InputError(f"{a.size} nuisance values for {t.size} events")
        if np.any(a < 0):
            raise InputError("Eq. (23) weights need a >= 0 (negative a can make weights negative)")
        return 1.0 + a * t * t


def pt_j1_tail(offset: float = 15.0, scale: float = 100.0) -> QuadraticTailWeight:
    r"""Eq. (23): :math:`w = 1 + a\,((p_{T,j1} - 15~\mathrm{GeV})/100~\mathrm{GeV})^2`."""
    return QuadraticTailWeight(leading_jet_pt, offset, scale, name="pt_j1-tail")


def nuisance_grid(a_min: float = 0.0, a_max: float = 30.0, step: float = 1.0) -> np.ndarray:
    """Training values of the nuisance parameter: ``a_min, a_min + step, ..., a_max`` (Sec. 4.2: 0 … 30)."""
    if not step > 0 or a_max < a_min:
        raise ConfigError(f"nuisance grid {a_min} … {a_max} in steps of {step} is empty")
    n = int(np.floor((a_max - a_min) / step + 1e-9)) + 1
    return a_min + step * np.arange(n)


def _check(w: np.ndarray, n: int, name: str) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (n,):
        raise InputError(f"nuisance {name!r} returned {w.shape} weights for {n} events")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InputError(f"nuisance {name!r} returned negative or non-finite weights")
    return w


def augmented_weights(
    events: ak.Array,
    nuisance: NuisanceWeight,
    a: float | np.ndarray,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Training weights :math:`w_i\\,w(x_i; a)` (``weights`` default to the events' own)."""
    from evgen.events import event_weights

    base = event_weights(events) if weights is None else np.asarray(weights, dtype=np.float64)
    if base.shape != (len(events),):
        raise InputError(f"{base.shape} weights for {len(events)} events")
    return base * _check(nuisance.weight(events, a), len(events), nuisance.name)


def replicate(
    events: ak.Array,
    nuisance: NuisanceWeight,
    values: np.ndarray,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The augmented training set of Sec. 4.2: every event once per nuisance value.

    Returns ``(index, a, w)``: the event index of each row, its nuisance value and its
    weight :math:`w_i\\,w(x_i; a)`; ``len(values) * len(events)`` rows.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ConfigError("no nuisance values to augment with")
    n = len(events)
    index = np.tile(np.arange(n), values.size)
    a = np.repeat(values, n)
    w = np.concatenate([augmented_weights(events, nuisance, v, weights) for v in values])
    return index, a, w


def generation_width(a: float | np.ndarray) -> np.ndarray:
    r"""Width :math:`\min(a/10, 0.1)` of the Gaussian a nuisance value is drawn from at generation."""
    return np.minimum(np.asarray(a, dtype=np.float64) / 10.0, 0.1)


def sample_nuisance(a: float | np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    r"""Draw ``n`` nuisance values :math:`a' \sim \mathcal{N}(a, \min(a/10, 0.1)^2)` (Sec. 4.2)."""
    if n < 0:
        raise ConfigError(f"n = {n}: must be a non-negative number of events")
    a = np.broadcast_to(np.asarray(a, dtype=np.float64), (n,))
    if np.any(a < 0):
        raise ConfigError("the nuisance value a must be >= 0")
    return a + generation_width(a) * rng.standard_normal(n)
