"""Where each event field lives in a ROOT tree: the branch mapping.

The default :data:`NANOAOD` layout reads CMS NanoAOD-style trees (``nMuon``,
``Muon_pt``, ..., ``nJet``, ``Jet_pt``, ..., ``genWeight``) as in the shared
Z+jets sample. Other layouts are described by a mapping, e.g. fixed-size muon
arrays plus jagged jet vectors::

    Layout.from_mapping({
        "Muon": {"pt": "mu_pt", "eta": "mu_eta", "phi": "mu_phi", "mass": 0.1056584},
        "Jet": {"pt": "jet_pt", "eta": "jet_eta", "phi": "jet_phi", "mass": "jet_m"},
        "weight": "w",
    })

A number in place of a branch name fills that field with a constant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evgen.errors import ConfigError, InputError

__all__ = ["CollectionLayout", "Layout", "NANOAOD", "WEIGHT_BRANCHES", "EVENT_ID_BRANCHES", "read_branch_map"]

#: Weight branches tried in order when a layout names none explicitly.
WEIGHT_BRANCHES = ("genWeight", "weight")
#: NanoAOD event-ID branches evgen writes and reads back when present.
EVENT_ID_BRANCHES = ("run", "luminosityBlock", "event")


@dataclass(frozen=True)
class CollectionLayout:
    """One collection (e.g. ``Muon``): event field name → branch name or constant."""

    name: str
    fields: Mapping[str, str | float]
    #: Fields read only when their branch exists (e.g. ``charge``).
    optional: frozenset[str] = field(default_factory=frozenset)

    def branches(self) -> dict[str, str]:
        """Field → branch for the fields stored in branches."""
        return {f: b for f, b in self.fields.items() if isinstance(b, str)}

    def constants(self) -> dict[str, float]:
        """Field → constant for fields not stored in the file."""
        return {f: float(b) for f, b in self.fields.items() if not isinstance(b, str)}


@dataclass(frozen=True)
class Layout:
    """The collections of an event and where its weight lives."""

    collections: tuple[CollectionLayout, ...]
    #: Weight branch; ``None`` tries :data:`WEIGHT_BRANCHES` and falls back to ones.
    weight: str | None = None

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> Layout:
        """Build a layout from ``{"Muon": {field: branch | constant}, ..., "weight": branch}``."""
        if not isinstance(mapping, Mapping) or not mapping:
            raise ConfigError(f"a branch mapping must be a non-empty mapping; got {mapping!r}")
        weight = mapping.get("weight")
        if weight is not None and not isinstance(weight, str):
            raise ConfigError(f"the 'weight' entry of a branch mapping must be a branch name; got {weight!r}")
        collections = []
        for name, fields in mapping.items():
            if name == "weight":
                continue
            if not isinstance(fields, Mapping):
                raise ConfigError(f"collection {name!r} must map fields to branches; got {fields!r}")
            missing = {"pt", "eta", "phi", "mass"} - set(fields)
            if missing:
                raise ConfigError(
                    f"collection {name!r} of the branch mapping lacks {sorted(missing)}; "
                    "give a branch name or a constant for each of pt, eta, phi, mass"
                )
            for f, b in fields.items():
                if not isinstance(b, (str, int, float)):
                    raise ConfigError(f"{name}.{f} must be a branch name or a number; got {b!r}")
            collections.append(CollectionLayout(name, dict(fields)))
        if not collections:
            raise ConfigError("a branch mapping needs at least one collection")
        return cls(tuple(collections), weight)

    def collection(self, name: str) -> CollectionLayout:
        for c in self.collections:
            if c.name == name:
                return c
        raise KeyError(name)


NANOAOD = Layout(
    collections=(
        CollectionLayout(
            "Muon",
            {
                "pt": "Muon_pt",
                "eta": "Muon_eta",
                "phi": "Muon_phi",
                "mass": "Muon_mass",
                "charge": "Muon_charge",
            },
            optional=frozenset({"charge"}),
        ),
        CollectionLayout("Jet", {"pt": "Jet_pt", "eta": "Jet_eta", "phi": "Jet_phi", "mass": "Jet_mass"}),
    ),
)


def read_branch_map(path: str | None) -> dict[str, Any] | None:
    """The branch mapping in the JSON file ``path`` (None passes through), with clear errors."""
    if path is None:
        return None
    import json
    from pathlib import Path

    file = Path(path)
    if not file.exists():
        raise InputError(f"{file}: branch-mapping file not found")
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{file}: not valid JSON ({exc})") from None
