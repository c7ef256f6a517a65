"""Read ROOT TTrees and RNTuples into :mod:`evgen.events` arrays with uproot.

Both formats are read with the same calls and the same branch mappings (an
RNTuple's fields play the role of a TTree's branches).

Every failure a user can cause (missing or corrupt file, missing tree or
branch, wrong types, NaN/inf, empty tree) raises :class:`evgen.errors.InputError`
naming the file, the branch and the value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from evgen.errors import InputError
from evgen.events import collider_events
from evgen.io.layout import EVENT_ID_BRANCHES, NANOAOD, WEIGHT_BRANCHES, Layout
from evgen.io.objects import container_words, open_tree

__all__ = ["read_events", "iterate_events", "open_tree", "read_metadata", "num_entries"]

PathLike = str | os.PathLike[str]


def _paths(paths: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out = [Path(p) for p in paths]
    if not out:
        raise InputError("no input files given")
    return out


def num_entries(paths: PathLike | Sequence[PathLike], tree: str = "Events") -> int:
    """Total number of events in ``paths``."""
    return sum(open_tree(p, tree).num_entries for p in _paths(paths))


def read_metadata(path: PathLike) -> dict[str, Any]:
    """The provenance evgen stored in ``path`` (empty for files evgen did not write)."""
    import json

    from evgen.io.writer import METADATA_KEY

    try:
        file = uproot.open(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable ROOT file ({exc})") from None
    if METADATA_KEY not in {k.split(";")[0] for k in file.keys(recursive=False)}:
        return {}
    return json.loads(str(file[METADATA_KEY]))


def _required_branches(
    ttree: Any, layout: Layout, path: Path
) -> tuple[dict[str, dict[str, str]], str | None]:
    available = set(ttree.keys())
    kind, item = container_words(ttree)
    plan: dict[str, dict[str, str]] = {}
    for coll in layout.collections:
        plan[coll.name] = {}
        for field, branch in coll.branches().items():
            if branch in available:
                plan[coll.name][field] = branch
            elif field not in coll.optional:
                similar = sorted(b for b in available if b.lower().startswith(coll.name.lower()[:2]))
                raise InputError(
                    f"{path}: {kind} {ttree.name!r} has no {item} {branch!r} (for {coll.name}.{field}); "
                    f"{'branches' if item == 'branch' else 'fields'} like it: {similar[:12] or sorted(available)[:12]}"
                )
    if layout.weight is not None:
        if layout.weight not in available:
            raise InputError(f"{path}: {kind} {ttree.name!r} has no weight {item} {layout.weight!r}")
        weight = layout.weight
    else:
        weight = next((b for b in WEIGHT_BRANCHES if b in available), None)
    return plan, weight


def _as_jagged(array: ak.Array, path: Path, branch: str, item: str = "branch") -> ak.Array:
    """Fixed-size (``mu_pt[2]``) or jagged branches as var-length lists of numbers."""
    layout_type = array.type.content
    if isinstance(layout_type, ak.types.RegularType):
        array = ak.from_regular(array, axis=1)
    elif not isinstance(layout_type, ak.types.ListType):
        raise InputError(
            f"{path}: {item} {branch!r} holds {array.type}, expected one list of numbers per event"
        )
    inner = array.type.content.content
    if not (isinstance(inner, ak.types.NumpyType) and inner.primitive not in ("datetime64", "timedelta64")):
        raise InputError(f"{path}: {item} {branch!r} holds {array.type}, expected numbers")
    return array


def _check_finite(values: ak.Array, path: Path, branch: str, offset: int, item: str = "branch") -> None:
    flat = ak.to_numpy(ak.flatten(values, axis=None))
    if flat.dtype.kind == "f" and not np.isfinite(flat).all():
        per_event = ak.any(~np.isfinite(values), axis=-1) if values.ndim > 1 else ~np.isfinite(values)
        entry = int(np.flatnonzero(ak.to_numpy(per_event))[0]) + offset
        bad = flat[~np.isfinite(flat)][0]
        raise InputError(
            f"{path}: {item} {branch!r} has value {bad} in entry {entry}; expected finite numbers"
        )


def _build(
    arrays: ak.Array,
    plan: dict[str, dict[str, str]],
    layout: Layout,
    weight_branch: str | None,
    path: Path,
    offset: int,
    item: str = "branch",
) -> ak.Array:
    collections: dict[str, dict[str, ak.Array]] = {}
    for coll in layout.collections:
        fields: dict[str, ak.Array] = {}
        for field, branch in plan[coll.name].items():
            values = _as_jagged(arrays[branch], path, branch, item)
            _check_finite(values, path, branch, offset, item)
            fields[field] = values
        if fields:
            template = next(iter(fields.values()))
            counts = ak.num(template, axis=1)
            for field, values in fields.items():
                if not ak.all(ak.num(values, axis=1) == counts):
                    raise InputError(
                        f"{path}: {item} {plan[coll.name][field]!r} has a different number of "
                        f"{coll.name} entries per event than {plan[coll.name][next(iter(fields))]!r}"
                    )
            for field, constant in coll.constants().items():
                fields[field] = ak.values_astype(template * 0, np.float32) + np.float32(constant)
        collections[coll.name] = fields
    weight = None
    if weight_branch is not None:
        raw = arrays[weight_branch]
        if raw.ndim != 1:
            raise InputError(
                f"{path}: weight {item} {weight_branch!r} holds {raw.type}, expected one number per event"
            )
        _check_finite(raw, path, weight_branch, offset, item)
        weight = ak.to_numpy(raw).astype(np.float64)
    extra = {b: ak.to_numpy(arrays[b]) for b in EVENT_ID_BRANCHES if b in ak.fields(arrays)}
    return collider_events(collections, weight, extra)


def _branch_list(plan: dict[str, dict[str, str]], weight: str | None, ttree: Any) -> list[str]:
    branches = [b for fields in plan.values() for b in fields.values()]
    if weight is not None:
        branches.append(weight)
    branches += [b for b in EVENT_ID_BRANCHES if b in ttree.keys()]
    return branches


def _read_one(path: Path, tree: str, layout: Layout, entry_stop: int | None) -> ak.Array:
    ttree = open_tree(path, tree)
    plan, weight = _required_branches(ttree, layout, path)
    try:
        arrays = ttree.arrays(_branch_list(plan, weight, ttree), entry_stop=entry_stop, library="ak")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{path}: cannot read {tree!r} ({type(exc).__name__}: {exc})") from None
    return _build(arrays, plan, layout, weight, path, 0, container_words(ttree)[1])


def read_events(
    paths: PathLike | Sequence[PathLike],
    tree: str = "Events",
    layout: Layout | None = None,
    entry_stop: int | None = None,
    allow_empty: bool = False,
) -> ak.Array:
    """Read all events of one or more files into memory.

    Parameters
    ----------
    paths
        One ROOT file or several; their events are concatenated in order.
    tree
        Name of the TTree or RNTuple.
    layout
        Branch mapping; NanoAOD-style by default.
    entry_stop
        Read at most this many events in total.
    allow_empty
        Return an empty array instead of raising when there are no events.
    """
    layout = layout or NANOAOD
    parts = []
    remaining = entry_stop
    for path in _paths(paths):
        if remaining is not None and remaining <= 0:
            break
        part = _read_one(path, tree, layout, remaining)
        parts.append(part)
        if remaining is not None:
            remaining -= len(part)
    events = parts[0] if len(parts) == 1 else ak.concatenate(parts)
    if len(events) == 0 and not allow_empty:
        raise InputError(f"{', '.join(map(str, _paths(paths)))}: {tree!r} holds no events")
    return events


def iterate_events(
    paths: PathLike | Sequence[PathLike],
    tree: str = "Events",
    layout: Layout | None = None,
    step_size: int | str = 100_000,
) -> Iterator[ak.Array]:
    """Yield events chunk by chunk (``step_size`` events or a size like ``"100 MB"``).

    Memory stays bounded by the chunk, not the file, so files larger than memory
    can be processed.
    """
    layout = layout or NANOAOD
    if isinstance(step_size, int) and step_size <= 0:
        raise InputError(f"step_size must be positive; got {step_size}")
    for path in _paths(paths):
        ttree = open_tree(path, tree)
        plan, weight = _required_branches(ttree, layout, path)
        branches = _branch_list(plan, weight, ttree)
        offset = 0
        try:
            chunks = ttree.iterate(branches, step_size=step_size, library="ak")
            for arrays in chunks:
                events = _build(arrays, plan, layout, weight, path, offset, container_words(ttree)[1])
                offset += len(events)
                yield events
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{path}: cannot read {tree!r} ({type(exc).__name__}: {exc})") from None
