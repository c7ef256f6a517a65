"""Sharded generation: one production of ``N`` events split into ``K`` independent files.

A production is fixed by the run directory, ``N``, ``K``, the production seed and
the chunk size. Shard ``i`` (``0 ≤ i < K``)

* holds ``⌈N/K⌉`` events (the last shard the rest), numbered
  ``1 + i·⌈N/K⌉ …``: event numbers are disjoint and cover ``1 … N``;
* has ``luminosityBlock = i + 1`` (``run = 1``), so ``(run, luminosityBlock, event)``
  is unique in the production and a file's lumi block says which shard it is;
* draws its random numbers from ``SeedSequence(seed, spawn_key=(i, j))`` for its
  chunk ``j`` (numpy's spawned streams: independent of every other shard's, and
  the same whichever machine, process or order the shard runs in).

So shards can be written anywhere (a batch job per shard with
``evgen generate RUN -n N -o shard_i.root --shards K --shard-index i --seed S``)
and the union of the files is the same production. :func:`evgen.generation.produce.generate_shards` runs
all shards of a production on this machine (``--jobs`` processes), skips shards
already written (rerun it after an interruption), and writes the file lists that
``uproot.dask`` (``fileset.json``: ``{path: "Events"}``) and coffea
(``fileset.coffea.json``: ``{dataset: {"files": {path: "Events"}, "metadata": {...}}}``)
read.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from evgen.errors import ConfigError, InputError

__all__ = [
    "Shard",
    "plan_shards",
    "shard_file_name",
    "write_fileset",
    "read_fileset",
    "FILESET",
    "COFFEA_FILESET",
    "PRODUCTION",
]

#: ``{path: tree}`` for ``uproot.dask(json.load(open(FILESET)))``.
FILESET = "fileset.json"
#: ``{dataset: {"files": {path: tree}, "metadata": {...}}}`` for coffea's dataset tools.
COFFEA_FILESET = "fileset.coffea.json"
#: The production's parameters (seed included), so a rerun continues the same production.
PRODUCTION = "production.json"


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of a production of ``n_total`` events in ``count`` shards (see the module docstring)."""

    index: int
    count: int
    n_total: int
    seed: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ConfigError(f"--shards {self.count}: must be a positive number of shards")
        if not 0 <= self.index < self.count:
            raise ConfigError(
                f"--shard-index {self.index}: must lie in 0…{self.count - 1} for --shards {self.count}"
            )
        if self.n_total < 1:
            raise ConfigError(f"-n {self.n_total}: must be a positive number of events")
        if self.seed < 0:
            raise ConfigError(f"--seed {self.seed}: must be non-negative")
        used = math.ceil(self.n_total / self.per_shard)
        if used < self.count:
            raise ConfigError(
                f"-n {self.n_total} in --shards {self.count}: shards of ⌈N/K⌉ = {self.per_shard} events "
                f"fill only {used} shards; use --shards {used} or fewer"
            )

    @property
    def per_shard(self) -> int:
        """``⌈N/K⌉``: events of every shard but possibly the last."""
        return math.ceil(self.n_total / self.count)

    @property
    def n(self) -> int:
        """Events in this shard."""
        return min(self.per_shard, self.n_total - self.index * self.per_shard)

    @property
    def first_event(self) -> int:
        return 1 + self.index * self.per_shard

    @property
    def last_event(self) -> int:
        return self.first_event + self.n - 1

    @property
    def luminosity_block(self) -> int:
        return self.index + 1

    def chunk_seeds(self, chunk_size: int) -> list[int]:
        """One 63-bit seed per chunk of ``chunk_size`` events, from ``SeedSequence(seed, spawn_key=(index, j))``.

        63 bits keep the chance that two of the 10⁵ chunks of a 10¹⁰-event
        production share a seed below 10⁻⁹ (32-bit seeds would make it likely).
        """
        import numpy as np

        n_chunks = -(-self.n // chunk_size)
        return [
            int(
                np.random.SeedSequence(self.seed, spawn_key=(self.index, j)).generate_state(1, np.uint64)[0]
                >> 1
            )
            for j in range(n_chunks)
        ]

    def metadata(self) -> dict[str, Any]:
        """What goes into the file's ``generation.shard`` metadata."""
        return {
            **asdict(self),
            "n": self.n,
            "first_event": self.first_event,
            "last_event": self.last_event,
            "luminosity_block": self.luminosity_block,
        }


def plan_shards(n: int, shards: int, seed: int) -> list[Shard]:
    """All shards of a production of ``n`` events in ``shards`` files with production seed ``seed``."""
    return [Shard(i, shards, n, seed) for i in range(shards)]


def shard_file_name(index: int, count: int, stem: str = "events") -> str:
    """``events_007.root``: zero-padded so that the files sort in shard order."""
    return f"{stem}_{index:0{max(3, len(str(count - 1)))}d}.root"


def write_fileset(
    directory: str | os.PathLike[str],
    files: list[str | os.PathLike[str]],
    *,
    dataset: str,
    tree: str = "Events",
    metadata: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``fileset.json`` (uproot.dask) and ``fileset.coffea.json`` (coffea) listing ``files``.

    Paths are absolute, so the lists work from any working directory on machines
    that see the same file system.
    """
    from evgen.files import atomic_write

    directory = Path(directory)
    mapping = {str(Path(f).resolve()): tree for f in files}
    plain = atomic_write(directory / FILESET, json.dumps(mapping, indent=2) + "\n")
    coffea = {dataset: {"files": mapping, "metadata": dict(metadata or {})}}
    return plain, atomic_write(directory / COFFEA_FILESET, json.dumps(coffea, indent=2, default=str) + "\n")


def read_fileset(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``{path: tree}`` mapping of a fileset (either form; all data sets of a coffea one)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: fileset not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    if all(isinstance(v, str) for v in data.values()):
        return dict(data)
    out: dict[str, str] = {}
    for name, spec in data.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("files"), dict):
            raise InputError(f"{path}: data set {name!r} has no 'files' mapping")
        out.update(spec["files"])
    return out
