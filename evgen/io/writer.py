"""Write events to ROOT TTrees, atomically, with NanoAOD-style names.

Files hold ``nMuon, Muon_pt, ...``, ``nJet, Jet_pt, ...``, the event weight as
``genWeight`` and the NanoAOD event IDs ``run``, ``luminosityBlock``, ``event``,
so plain uproot and coffea's NanoEvents read them. Provenance (generator,
configuration, seed, evgen version) is stored as JSON in a ``TObjString`` named
``evgen_metadata``.

A file appears under its final name only when it is complete: data go to a
temporary file in the same directory that is renamed at the end; on any error
the temporary file is removed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import awkward as ak
import numpy as np
import uproot

from evgen import __version__
from evgen.errors import InputError
from evgen.events import event_weights

__all__ = ["EventWriter", "write_events", "METADATA_KEY", "WEIGHT_BRANCH"]

METADATA_KEY = "evgen_metadata"
#: Events per TBasket. Readers decompress whole baskets, so this bounds the memory
#: of chunked reading (a single 1M-event basket would make ``iterate_events`` load it all).
BASKET_EVENTS = 100_000
WEIGHT_BRANCH = "genWeight"
_FLOAT_FIELDS = ("pt", "eta", "phi", "mass")


def _plain_collection(coll: ak.Array, name: str) -> ak.Array:
    """A behaviour-free record array with float32 kinematics (NanoAOD convention)."""
    fields = {}
    for field in ak.fields(coll):
        values = ak.without_parameters(coll[field])
        if field in _FLOAT_FIELDS:
            values = ak.values_astype(values, np.float32)
        fields[field] = values
    if not fields:
        raise InputError(f"collection {name!r} has no fields to write")
    return ak.zip(fields)


class EventWriter:
    """Stream events into a new ROOT file chunk by chunk; memory stays bounded.

    >>> with EventWriter("out.root", metadata={"generator": "zjets-inn"}) as w:  # doctest: +SKIP
    ...     for chunk in chunks:
    ...         w.extend(chunk)

    Event numbers continue from ``first_event`` unless the events carry their own
    ``event`` field (as events read from a file do).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        metadata: Mapping[str, Any] | None = None,
        tree: str = "Events",
        first_event: int = 1,
        run: int = 1,
        luminosity_block: int = 1,
    ) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a directory; give a file name for the output")
        self.metadata = dict(metadata or {})
        self.tree_name = tree
        self.next_event = int(first_event)
        self.run = int(run)
        self.luminosity_block = int(luminosity_block)
        self.n_written = 0
        self._tmp: Path | None = None
        self._file: Any = None
        self._tree: Any = None
        self._schema: tuple[str, ...] | None = None

    # -- context manager -------------------------------------------------
    def __enter__(self) -> EventWriter:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._file = uproot.recreate(self._tmp)

    # -- writing ---------------------------------------------------------
    def _branches(self, events: ak.Array) -> dict[str, Any]:
        fields = ak.fields(events)
        if "x" in fields:
            raise InputError("toy events (field 'x') are not written to ROOT; save them with numpy instead")
        data: dict[str, Any] = {}
        for name in fields:
            if name in ("weight", "run", "luminosityBlock", "event"):
                continue
            column = events[name]
            if column.ndim != 2 or not ak.fields(column):
                raise InputError(f"event field {name!r} is not a collection of records; cannot write it")
            data[name] = _plain_collection(column, name)
        n = len(events)
        data[WEIGHT_BRANCH] = event_weights(events)
        if "event" in fields:
            data["run"] = (
                ak.to_numpy(events["run"]).astype(np.uint32)
                if "run" in fields
                else np.full(n, self.run, np.uint32)
            )
            lumi = events["luminosityBlock"] if "luminosityBlock" in fields else None
            data["luminosityBlock"] = (
                ak.to_numpy(lumi).astype(np.uint32)
                if lumi is not None
                else np.full(n, self.luminosity_block, np.uint32)
            )
            data["event"] = ak.to_numpy(events["event"]).astype(np.uint64)
        else:
            data["run"] = np.full(n, self.run, np.uint32)
            data["luminosityBlock"] = np.full(n, self.luminosity_block, np.uint32)
            data["event"] = np.arange(self.next_event, self.next_event + n, dtype=np.uint64)
        return data

    def extend(self, events: ak.Array) -> None:
        """Append a chunk of events (split into baskets of at most ``BASKET_EVENTS``)."""
        if self._file is None:
            raise RuntimeError("EventWriter is not open; use it as a context manager")
        for start in range(0, len(events), BASKET_EVENTS):
            self._extend_basket(events[start : start + BASKET_EVENTS])

    def _extend_basket(self, events: ak.Array) -> None:
        if len(events) == 0:
            return
        data = self._branches(events)
        schema = tuple(
            (k, str(v.type.content) if isinstance(v, ak.Array) else str(v.dtype)) for k, v in data.items()
        )
        if self._tree is None:
            types = {k: (v.type.content if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()}
            self._tree = self._file.mktree(self.tree_name, types)
            self._schema = schema
        elif schema != self._schema:
            raise InputError(f"chunk has branches {schema}, but the file was started with {self._schema}")
        self._tree.extend(data)
        self.n_written += len(events)
        self.next_event += len(events)

    # -- finishing -------------------------------------------------------
    def close(self) -> Path:
        """Finish the file and move it to its final name."""
        if self._file is None:
            return self.path
        if self.n_written == 0:
            self.abort()
            raise InputError(f"{self.path}: no events to write; refusing to write an empty file")
        meta = {
            "evgen_version": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "n_events": self.n_written,
            **self.metadata,
        }
        self._file[METADATA_KEY] = json.dumps(meta, sort_keys=True, default=str)
        self._file.close()
        self._file = None
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop everything written so far; no output file appears."""
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None
        if self._tmp is not None and self._tmp.exists():
            self._tmp.unlink()


def write_events(
    path: str | os.PathLike[str],
    events: ak.Array,
    metadata: Mapping[str, Any] | None = None,
    tree: str = "Events",
    chunk_size: int = BASKET_EVENTS,
) -> Path:
    """Write ``events`` to ``path`` atomically; returns the path."""
    with EventWriter(path, metadata=metadata, tree=tree) as writer:
        for start in range(0, len(events), chunk_size):
            writer.extend(events[start : start + chunk_size])
        if len(events) == 0:
            writer.abort()
            raise InputError(f"{path}: no events to write; refusing to write an empty file")
    return Path(path)
