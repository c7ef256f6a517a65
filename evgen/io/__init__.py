"""ROOT event I/O with uproot and awkward: TTrees and RNTuples (knows nothing of torch).

>>> from evgen.io import read_events, write_events
>>> events = read_events("sample.root")                  # doctest: +SKIP
>>> (events.Muon[:, 0] + events.Muon[:, 1]).mass         # doctest: +SKIP
"""

from __future__ import annotations

from evgen.io.layout import NANOAOD, CollectionLayout, Layout
from evgen.io.objects import open_tree
from evgen.io.reader import iterate_events, num_entries, read_events, read_metadata
from evgen.io.writer import FORMATS, METADATA_KEY, WEIGHT_BRANCH, EventWriter, write_events

__all__ = [
    "NANOAOD",
    "CollectionLayout",
    "Layout",
    "read_events",
    "iterate_events",
    "num_entries",
    "open_tree",
    "read_metadata",
    "write_events",
    "EventWriter",
    "METADATA_KEY",
    "WEIGHT_BRANCH",
    "FORMATS",
]
