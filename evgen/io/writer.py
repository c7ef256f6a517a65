"""Write events to ROOT TTrees or RNTuples, atomically, with NanoAOD-style names.

Files hold ``nMuon, Muon_pt, ...``, ``nJet, Jet_pt, ...``, the event weight as
``genWeight`` and the NanoAOD event IDs ``run``, ``luminosityBlock``, ``event``,
so plain uproot and coffea's NanoEvents read them. ``format="ttree"`` (the
default) writes a TTree, ``format="rntuple"`` an RNTuple with the same field names
and types (ROOT ≥ 6.34 reads it; see ``docs/io.md`` for which to choose). Provenance (generator,
configuration, seed, evgen version) is stored as JSON in a ``TObjString`` named
``evgen_metadata``.

A file appears under its final name only when it is complete: data go to a
temporary file in the same directory that is renamed at the end; on any error
the temporary file is removed, and temporary files of the same output left by
processes that died (``kill -9``) are removed when the next write starts
(:mod:`evgen.io.tempfiles`).
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
from evgen.io.tempfiles import remove_stale_temporaries, temporary_path

__all__ = ["EventWriter", "write_events", "METADATA_KEY", "WEIGHT_BRANCH", "FORMATS"]

METADATA_KEY = "evgen_metadata"
#: Events per TBasket. Readers decompress whole baskets, so this bounds the memory
#: of chunked reading (a single 1M-event basket would make ``iterate_events`` load it all).
BASKET_EVENTS = 100_000
WEIGHT_BRANCH = "genWeight"
#: Output formats: ROOT's TTree, or its successor RNTuple.
FORMATS = ("ttree", "rntuple")
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


def check_format(format: str) -> str:
    """``format`` in lower case when it is one of :data:`FORMATS`; a clear error otherwise."""
    value = str(format).lower()
    if value not in FORMATS:
        raise InputError(f"output format {format!r}: expected one of {', '.join(FORMATS)}")
    return value


def _flat_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Collections as NanoAOD's flat fields: ``Muon`` → ``nMuon`` (int32), ``Muon_pt``, ...

    uproot's TTree writer makes the same names (and counter type) from record arrays;
    an RNTuple would keep ``Muon`` as one collection field, which NanoAOD readers do not expect.
    """
    out: dict[str, Any] = {}
    for name, values in data.items():
        if isinstance(values, ak.Array) and ak.fields(values):
            out[f"n{name}"] = ak.to_numpy(ak.num(values, axis=1)).astype(np.int32)
            for field in ak.fields(values):
                out[f"{name}_{field}"] = values[field]
        else:
            out[name] = values
    return out


class EventWriter:
    """Stream events into a new ROOT file chunk by chunk; memory stays bounded.

    >>> with EventWriter("out.root", metadata={"generator": "zjets-inn"}) as w:  # doctest: +SKIP
    ...     for chunk in chunks:
    ...         w.extend(chunk)

    Event numbers continue from ``first_event`` unless the events carry their own
    ``event`` field (as events read from a file do). ``format`` is ``"ttree"`` or
    ``"rntuple"``; both hold the same NanoAOD names and types.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        metadata: Mapping[str, Any] | None = None,
        tree: str = "Events",
        first_event: int = 1,
        run: int = 1,
        luminosity_block: int = 1,
        format: str = "ttree",
    ) -> None:
        self.path = Path(path)
        self.format = check_format(format)
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
        #: Temporary files of dead processes removed when the file was opened.
        self.removed_stale: list[Path] = []

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
        """Start the temporary file (removing those of dead processes for the same output)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.removed_stale = remove_stale_temporaries(self.path)
        self._tmp = temporary_path(self.path)
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
        if self.format == "rntuple":
            data = _flat_fields(data)
        schema = tuple(
            (k, str(v.type.content) if isinstance(v, ak.Array) else str(v.dtype)) for k, v in data.items()
        )
        if self._tree is None:
            types = {k: (v.type.content if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()}
            if self.format == "rntuple":
                self._tree = self._file.mkrntuple(self.tree_name, types)
            else:
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
    format: str = "ttree",
) -> Path:
    """Write ``events`` to ``path`` atomically as a TTree or an RNTuple (``format``); returns the path."""
    with EventWriter(path, metadata=metadata, tree=tree, format=format) as writer:
        for start in range(0, len(events), chunk_size):
            writer.extend(events[start : start + chunk_size])
        if len(events) == 0:
            writer.abort()
            raise InputError(f"{path}: no events to write; refusing to write an empty file")
    return Path(path)
