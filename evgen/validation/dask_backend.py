"""Validation at scale with dask: uproot.dask + dask-awkward + hist.dask.

The same histograms and summary as :func:`evgen.validation.compare.validate`, built
partition by partition on a dask scheduler (a local cluster by default, or any
``distributed`` scheduler address), so memory stays bounded by the partition
size for any number of events and files. The observables are the very same
awkward functions (:func:`evgen.physics.observables.observable_columns`) mapped over
partitions, and the bin edges follow the same rule, so on small inputs both
paths give the same numbers (tested).

Needs the ``dask`` extra: ``pip install 'evgen-hep[dask]'``. Reads NanoAOD-style
trees (the layout evgen writes).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.io.layout import WEIGHT_BRANCHES
from evgen.io.reader import open_tree, read_events
from evgen.physics.observables import observable_columns
from evgen.validation.compare import (
    BINNING_EVENTS,
    ValidationSummary,
    observable_edges,
    result_from_histograms,
    write_summary,
)

__all__ = ["validate_dask", "dask_events_observables"]

_FIELDS = ("pt", "eta", "phi", "mass")
_MAX_JETS = 16


def _import_dask() -> tuple[Any, Any, Any, Any]:
    try:
        import dask
        import dask_awkward as dak
        import hist.dask as hist_dask
        import uproot
    except ImportError as exc:
        raise ConfigError(
            f"validation with dask needs the dask extra: pip install 'evgen-hep[dask]' ({exc})"
        ) from None
    return dask, dak, hist_dask, uproot


def _weight_branch(paths: Sequence[os.PathLike[str] | str], tree: str) -> str | None:
    names = set(open_tree(paths[0], tree).keys())
    for path in paths[1:]:
        if set(open_tree(path, tree).keys()) != names:
            raise InputError(f"{path}: its branches differ from those of {paths[0]}; dask needs one schema")
    missing = [f"{c}_{f}" for c in ("Muon", "Jet") for f in _FIELDS if f"{c}_{f}" not in names]
    if missing:
        raise InputError(f"{paths[0]}: tree {tree!r} lacks the NanoAOD branches {missing}")
    return next((b for b in WEIGHT_BRANCHES if b in names), None)


def _events_from_raw(raw: ak.Array) -> ak.Array:
    import vector

    behavior = vector.backends.awkward.behavior
    collections = {
        c: ak.zip({f: raw[f"{c}_{f}"] for f in _FIELDS}, with_name="Momentum4D", behavior=behavior)
        for c in ("Muon", "Jet")
    }
    return ak.zip(collections, depth_limit=1, behavior=behavior)


def _partition_observables(raw: ak.Array, n: int, weight_branch: str | None) -> ak.Array:
    events = _events_from_raw(raw)
    mask = ak.num(events["Jet"], axis=1) == n
    selected = events[mask]
    columns = {k: ak.values_astype(v, np.float64) for k, v in observable_columns(selected, n).items()}
    weight = raw[weight_branch] if weight_branch else ak.ones_like(raw["nJet"], dtype=np.float64)
    columns["weight"] = ak.values_astype(weight[mask], np.float64)
    return ak.zip(columns)


def _partition_multiplicity(raw: ak.Array, weight_branch: str | None) -> ak.Array:
    weight = raw[weight_branch] if weight_branch else ak.ones_like(raw["nJet"], dtype=np.float64)
    return ak.zip({"n": ak.num(raw["Jet_pt"], axis=1), "weight": ak.values_astype(weight, np.float64)})


def dask_events_observables(
    paths: Sequence[os.PathLike[str] | str], n: int, tree: str = "Events", step_size: str | int = "100 MB"
) -> Any:
    """A dask-awkward record array of the validation observables (and weight) of ``n``-jet events."""
    _, dak, _, uproot = _import_dask()
    weight = _weight_branch(paths, tree)
    raw = uproot.dask({str(p): tree for p in paths}, step_size=step_size)
    return dak.map_partitions(_partition_observables, raw, n, weight)


def validate_dask(
    reference: Sequence[os.PathLike[str] | str],
    generated: Sequence[os.PathLike[str] | str],
    output_dir: str | os.PathLike[str] | None = None,
    *,
    tree: str = "Events",
    bins: int = 40,
    step_size: str | int = "100 MB",
    scheduler: str | None = None,
    plots: bool = True,
    reference_label: str = "reference",
    generated_label: str = "generated",
    formats: tuple[str, ...] = ("png", "pdf"),
) -> ValidationSummary:
    """:func:`evgen.validation.compare.validate` for files of any size, on a dask scheduler.

    Parameters
    ----------
    scheduler
        ``None``: a local cluster of 2 worker processes; ``"sync"``, ``"threads"`` or
        ``"processes"``: dask's single-machine schedulers; anything else: the address of a
        running ``distributed`` scheduler (e.g. ``tcp://10.0.0.5:8786``).
    step_size
        Partition size for ``uproot.dask`` (events or a size such as ``"100 MB"``).
    """
    dask, dak, hist_dask, uproot = _import_dask()
    import hist

    reference, generated = list(reference), list(generated)
    if not reference or not generated:
        raise InputError("validate_dask needs at least one reference and one generated file")
    weights = {"reference": _weight_branch(reference, tree), "generated": _weight_branch(generated, tree)}
    raws = {
        "reference": uproot.dask({str(p): tree for p in reference}, step_size=step_size),
        "generated": uproot.dask({str(p): tree for p in generated}, step_size=step_size),
    }

    # 1. multiplicities (weighted), one pass over the jet counts
    mult_hists = {}
    for key, raw in raws.items():
        counts = dak.map_partitions(_partition_multiplicity, raw, weights[key])
        h = hist_dask.Hist(hist.axis.Integer(0, _MAX_JETS, name="n"), storage=hist.storage.Weight())
        h.fill(n=counts["n"], weight=counts["weight"])
        mult_hists[key] = h
    with _scheduler(scheduler) as compute_kwargs:
        computed = dask.compute(mult_hists, **compute_kwargs)[0]
        fractions = {}
        for key, h in computed.items():
            values = h.values()
            total = values.sum()
            if total <= 0:
                raise InputError(f"the {key} sample holds no events")
            fractions[key] = {int(n): float(v / total) for n, v in enumerate(values) if v > 0}

        # 2. binning from the head of the reference, as in memory
        head = read_events(reference, tree=tree, entry_stop=BINNING_EVENTS)
        multiplicities = [n for n in sorted(fractions["reference"]) if n >= 1]
        edges = {n: observable_edges(head, n, bins) for n in multiplicities}

        # 3. every histogram in one dask graph
        lazy: dict[tuple[str, int, str], Any] = {}
        for key, raw in raws.items():
            for n in multiplicities:
                obs = dak.map_partitions(_partition_observables, raw, n, weights[key])
                for name, e in edges[n].items():
                    h = hist_dask.Hist(hist.axis.Variable(e, name="x"), storage=hist.storage.Weight())
                    h.fill(x=obs[name], weight=obs["weight"])
                    lazy[(key, n, name)] = h
        filled = dask.compute(lazy, **compute_kwargs)[0]

    summary = ValidationSummary(reference_label, generated_label, fractions)
    for n in multiplicities:
        for name, e in edges[n].items():
            summary.results.append(
                result_from_histograms(
                    name, n, e, filled[("reference", n, name)], filled[("generated", n, name)]
                )
            )
    if output_dir is not None:
        write_summary(summary, output_dir, plots=plots, formats=formats)
    return summary


class _scheduler:
    """Context manager giving ``dask.compute`` keyword arguments for the chosen scheduler."""

    def __init__(self, scheduler: str | None) -> None:
        self.scheduler = scheduler
        self.client: Any = None
        self.cluster: Any = None

    def __enter__(self) -> dict[str, Any]:
        if self.scheduler in ("sync", "synchronous", "threads", "processes"):
            return {"scheduler": "synchronous" if self.scheduler == "sync" else self.scheduler}
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ConfigError(
                f"a dask cluster needs distributed: pip install 'evgen-hep[dask]' ({exc})"
            ) from None
        if self.scheduler is None:
            self.cluster = LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            )
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(self.scheduler, timeout="20s")
            except OSError as exc:
                raise ConfigError(f"cannot reach the dask scheduler at {self.scheduler!r} ({exc})") from None
        return {}

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
