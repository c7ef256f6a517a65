"""Shared fixtures: small synthetic collider samples that need no generator."""

from __future__ import annotations

import os

import awkward as ak
import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def make_collider_events(n: int = 500, seed: int = 0, max_jets: int = 3, weighted: bool = False) -> ak.Array:
    """Random Z+jets-like events: 2 muons, 1..max_jets pT-ordered jets (no physics, just shapes)."""
    from evgen.events import collider_events

    rng = np.random.default_rng(seed)
    n_mu = np.full(n, 2)
    n_jet = rng.integers(1, max_jets + 1, size=n)

    def jagged(counts: np.ndarray, values: np.ndarray) -> ak.Array:
        return ak.unflatten(values.astype(np.float32), counts)

    def ordered_pt(counts: np.ndarray, lo: float, scale: float) -> ak.Array:
        pt = jagged(counts, lo + rng.exponential(scale, counts.sum()))
        return ak.sort(pt, axis=1, ascending=False)

    muons = {
        "pt": ordered_pt(n_mu, 5.0, 30.0),
        "eta": jagged(n_mu, rng.normal(0, 2, n_mu.sum())),
        "phi": jagged(n_mu, rng.uniform(-np.pi, np.pi, n_mu.sum())),
        "mass": jagged(n_mu, np.full(n_mu.sum(), 0.1056584)),
        "charge": ak.unflatten(np.tile(np.array([1, -1], np.int8), n), n_mu),
    }
    jets = {
        "pt": ordered_pt(n_jet, 20.0, 25.0),
        "eta": jagged(n_jet, rng.uniform(-4.5, 4.5, n_jet.sum())),
        "phi": jagged(n_jet, rng.uniform(-np.pi, np.pi, n_jet.sum())),
        "mass": jagged(n_jet, rng.gamma(4, 2, n_jet.sum())),
    }
    weight = rng.uniform(0.5, 2.0, n) if weighted else None
    return collider_events({"Muon": muons, "Jet": jets}, weight)


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (restored afterwards): tiny tensors gain nothing from
    threads, and on a busy machine OpenMP waits dominate. Use with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def collider_events_small() -> ak.Array:
    return make_collider_events(400, seed=1)


@pytest.fixture
def collider_file(tmp_path):
    from evgen.io import write_events

    events = make_collider_events(600, seed=2, weighted=True)
    return write_events(tmp_path / "sample.root", events, metadata={"generator": "test"}), events


def rntuple_copy(source, target, tree: str = "Events"):
    """An RNTuple copy of a TTree file, written the way uproot's documentation shows
    (``file["Events"] = {...}`` writes an RNTuple since uproot 5.7); returns ``target``."""
    import uproot

    arrays = uproot.open(source)[tree].arrays()
    with uproot.recreate(target) as file:
        file[tree] = {name: arrays[name] for name in arrays.fields}
    return target
