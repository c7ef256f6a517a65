"""The one event representation that flows through evgen.

Events are awkward arrays of records:

* collider events have jagged collections ``Muon`` and ``Jet`` (records with
  ``pt, eta, phi, mass``; muons also ``charge``) carrying vector's ``Momentum4D``
  behaviour, and a per-event float64 ``weight``;
* toy events have one regular collection ``x`` of points in R^d and a ``weight``.

No second event type exists: generators, reweighters and metrics all take and
return such arrays.
"""

from __future__ import annotations

from collections.abc import Mapping

import awkward as ak
import numpy as np
import vector

from evgen.errors import InputError

__all__ = [
    "MOMENTUM_FIELDS",
    "collider_events",
    "toy_events",
    "toy_points",
    "event_weights",
    "training_weights",
    "with_weights",
    "is_toy",
    "n_jets",
    "concatenate",
]

vector.register_awkward()

#: Fields every momentum collection carries, in this order.
MOMENTUM_FIELDS = ("pt", "eta", "phi", "mass")


def _collection(fields: Mapping[str, ak.Array], name: str) -> ak.Array:
    missing = [f for f in MOMENTUM_FIELDS if f not in fields]
    if missing:
        raise InputError(f"collection {name!r} lacks the fields {missing}; expected {list(MOMENTUM_FIELDS)}")
    return ak.zip(dict(fields), with_name="Momentum4D")


def collider_events(
    collections: Mapping[str, Mapping[str, ak.Array]],
    weight: np.ndarray | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
) -> ak.Array:
    """Build collider events from per-collection field arrays.

    Parameters
    ----------
    collections
        ``{"Muon": {"pt": jagged, "eta": ..., "phi": ..., "mass": ..., "charge": ...}, "Jet": {...}}``.
        Field arrays of one collection must share their jagged structure.
    weight
        Per-event weights; ones when omitted.
    extra
        Further flat per-event fields (e.g. ``event`` numbers) to carry along.
    """
    if not collections:
        raise InputError("collider events need at least one collection (e.g. Muon, Jet)")
    contents = {name: _collection(fields, name) for name, fields in collections.items()}
    n = len(next(iter(contents.values())))
    for name, coll in contents.items():
        if len(coll) != n:
            raise InputError(f"collection {name!r} has {len(coll)} events, expected {n}")
    contents["weight"] = _checked_weights(weight, n)
    for key, values in (extra or {}).items():
        contents[key] = np.asarray(values)
    return ak.zip(contents, depth_limit=1)


def toy_events(points: np.ndarray, weight: np.ndarray | None = None) -> ak.Array:
    """Wrap ``points`` of shape ``(n, d)`` (or ``(n,)`` for d = 1) as events."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 1:
        points = points[:, None]
    if points.ndim != 2:
        raise InputError(f"toy points must have shape (n, d); got shape {points.shape}")
    if not np.all(np.isfinite(points)):
        raise InputError("toy points contain NaN or inf")
    return ak.zip(
        {"x": ak.from_numpy(points, regulararray=True), "weight": _checked_weights(weight, len(points))},
        depth_limit=1,
    )


def is_toy(events: ak.Array) -> bool:
    """Whether ``events`` are toy points (a field ``x``) rather than collider events."""
    return "x" in ak.fields(events)


def toy_points(events: ak.Array) -> np.ndarray:
    """The ``(n, d)`` float64 points of toy events."""
    if not is_toy(events):
        raise InputError(f"expected toy events with a field 'x'; got fields {ak.fields(events)}")
    return ak.to_numpy(events["x"]).astype(np.float64, copy=False)


def event_weights(events: ak.Array) -> np.ndarray:
    """Per-event weights as float64 (ones when the events carry none)."""
    if "weight" in ak.fields(events):
        return ak.to_numpy(events["weight"]).astype(np.float64, copy=False)
    return np.ones(len(events))


def training_weights(events: ak.Array, weights: np.ndarray | None, who: str) -> np.ndarray:
    """The weights a generator trains ``events`` with: ``weights`` if given, else the events' own.

    Raises :class:`~evgen.errors.InputError` naming ``who`` unless there is one finite,
    non-negative weight per event.
    """
    w = event_weights(events) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(events),) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InputError(f"{who} needs one finite, non-negative weight per event")
    return w


def with_weights(events: ak.Array, weight: np.ndarray) -> ak.Array:
    """A copy of ``events`` whose ``weight`` field is replaced by ``weight``."""
    return ak.with_field(events, _checked_weights(weight, len(events)), "weight")


def n_jets(events: ak.Array) -> np.ndarray:
    """Jet multiplicity per event."""
    return ak.to_numpy(ak.num(events["Jet"], axis=1))


def concatenate(parts: list[ak.Array]) -> ak.Array:
    """Concatenate event arrays, keeping vector behaviour."""
    if not parts:
        raise InputError("nothing to concatenate: no events")
    return ak.concatenate(parts, axis=0)


def _checked_weights(weight: np.ndarray | None, n: int) -> np.ndarray:
    if weight is None:
        return np.ones(n)
    weight = np.asarray(weight, dtype=np.float64)
    if weight.shape != (n,):
        raise InputError(f"weights have shape {weight.shape}, expected ({n},)")
    if not np.all(np.isfinite(weight)):
        bad = int(np.flatnonzero(~np.isfinite(weight))[0])
        raise InputError(f"weight of event {bad} is {weight[bad]}; weights must be finite")
    return weight
