"""The small Z → μμ + jets sample shipped with evgen (made by ``evgen data zjets``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import awkward as ak
import numpy as np

from evgen.errors import InputError
from evgen.interfaces import Dataset

__all__ = ["ShippedZJets", "SHIPPED_SAMPLE"]


class ShippedZJets(Dataset):
    """Pythia 8 Z → μμ + 1–3 jets at 13 TeV, ~30k events (see datasets/evgen_datasets/data/README.md)."""

    name = "zjets-small"
    description = "shipped Pythia 8 Z->mumu + 1-3 jets sample (13 TeV, ~30k events)"

    @property
    def path(self) -> Path:
        """Location of the ROOT file inside the installed package."""
        return Path(str(resources.files("evgen_datasets") / "data" / "zjets_small.root"))

    def load(self, n: int | None = None, seed: int | None = None) -> ak.Array:
        """All events (or ``n`` of them, a random subset when ``seed`` is given)."""
        from evgen.io import read_events

        if not self.path.exists():
            raise InputError(f"{self.path}: the shipped sample is missing from this installation")
        events = read_events(self.path)
        if n is None:
            return events
        if n > len(events):
            raise InputError(f"asked for {n} events; the shipped sample holds {len(events)}")
        if seed is None:
            return events[:n]
        index = np.sort(np.random.default_rng(seed).choice(len(events), n, replace=False))
        return events[index]


SHIPPED_SAMPLE = ShippedZJets()
