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
and the union of the files is the same production. :func:`generate_shards` runs
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
from collections.abc import Callable, Mapping
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
    "generate_shards",
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
    from evgen.run_dir import atomic_write

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


# -- running a production ------------------------------------------------------------------
def _production(
    directory: Path, run_dir: Path, n: int, shards: int, seed: int | None, chunk_size: int, magic: bool
) -> dict[str, Any]:
    """The production this directory holds (or starts): a rerun reuses the recorded seed."""
    import numpy as np

    from evgen.run_dir import atomic_write

    wanted = {
        "run_dir": str(run_dir.resolve()),
        "n": n,
        "shards": shards,
        "chunk_size": chunk_size,
        "magic": magic,
    }
    path = directory / PRODUCTION
    if path.exists():
        saved = json.loads(path.read_text())
        diff = [f"{k}: {saved.get(k)!r} then, {v!r} now" for k, v in wanted.items() if saved.get(k) != v]
        if seed is not None and seed != saved.get("seed"):
            diff.append(f"seed: {saved.get('seed')!r} then, {seed!r} now")
        if diff:
            raise ConfigError(
                f"{directory}: holds another production ({'; '.join(diff)}); choose another output directory"
            )
        return saved
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
    production = {**wanted, "seed": seed}
    atomic_write(path, json.dumps(production, indent=2, sort_keys=True) + "\n")
    return production


def _done(path: Path, shard: Shard, chunk_size: int, magic: bool, format: str = "ttree") -> bool:
    """Whether ``path`` already holds this shard (files appear only when complete)."""
    if not path.exists():
        return False
    from evgen.io import read_metadata

    generation = read_metadata(path).get("generation", {})
    if (
        generation.get("shard") != shard.metadata()
        or generation.get("chunk_size") != chunk_size
        or generation.get("magic") != magic
        or generation.get("format", "ttree") != format
    ):
        raise ConfigError(
            f"{path}: holds other events (or another --format) than shard {shard.index} of this production; remove it"
        )
    return True


_WORKER: dict[str, Any] = {}


def _init_worker(queue: Any, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _WORKER["queue"] = queue


def _run_in_worker(
    run_dir: str, shard: Shard, path: str, chunk_size: int, magic: bool, format: str = "ttree"
) -> str:
    from evgen.run_dir import generate_from_run

    generate_from_run(
        run_dir,
        shard.n_total,
        path,
        chunk_size=chunk_size,
        seed=shard.seed,
        magic=magic,
        progress=False,
        shards=shard.count,
        shard_index=shard.index,
        on_chunk=_WORKER["queue"].put,
        format=format,
    )
    return path


def generate_shards(
    run_dir: str | os.PathLike[str],
    n: int,
    directory: str | os.PathLike[str],
    *,
    shards: int,
    jobs: int = 1,
    chunk_size: int = 100_000,
    seed: int | None = None,
    magic: bool = True,
    progress: bool = True,
    format: str = "ttree",
    device: str = "cpu",
) -> Path:
    """Generate all ``shards`` files of a production of ``n`` events into ``directory``; returns ``fileset.json``.

    Shards run in ``jobs`` processes (each loads the generator once and uses
    ``cpu_count / jobs`` torch threads unless the run's config sets them). Shards
    already in ``directory`` are checked and skipped, so rerunning the same
    command after an interruption finishes the production; without ``seed`` the
    rerun reuses the seed recorded in ``production.json``. The files are the same
    for any ``jobs``. ``format`` (``ttree`` or ``rntuple``) applies to every shard;
    ``device`` other than the CPU needs ``jobs = 1`` (one process holds the GPU).
    """
    import concurrent.futures as cf
    import multiprocessing as mp

    from tqdm.auto import tqdm

    from evgen.run_dir import RunDir, generate_from_run, load_generator

    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: must be a positive number of processes")
    if chunk_size <= 0:
        raise ConfigError(f"--chunk-size must be positive; got {chunk_size}")
    if jobs > 1 and device != "cpu":
        raise ConfigError(
            f"--device {device} with --jobs {jobs}: one process samples on the GPU; use --jobs 1"
        )
    plan = plan_shards(n, shards, 0)  # validates n and shards before anything is written
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(
            f"{directory}: exists and is not a directory; --shards without --shard-index writes a directory"
        )
    run = RunDir(run_dir)
    name = run.generator_name()  # fails early for a directory that is not a run
    directory.mkdir(parents=True, exist_ok=True)
    production = _production(directory, run.path, n, shards, seed, chunk_size, magic)
    plan = plan_shards(n, shards, production["seed"])
    paths = [directory / shard_file_name(s.index, shards) for s in plan]
    todo = [(s, p) for s, p in zip(plan, paths, strict=True) if not _done(p, s, chunk_size, magic, format)]
    bar = tqdm(
        total=n,
        initial=n - sum(s.n for s, _ in todo),
        unit="ev",
        unit_scale=True,
        desc=f"generate {shards} shards",
        disable=not progress,
        dynamic_ncols=True,
    )
    try:
        if jobs == 1 or len(todo) <= 1:
            generator = load_generator(run.path) if todo else None
            for s, p in todo:
                generate_from_run(
                    run.path,
                    n,
                    p,
                    chunk_size=chunk_size,
                    seed=s.seed,
                    magic=magic,
                    progress=False,
                    shards=shards,
                    shard_index=s.index,
                    on_chunk=bar.update,
                    generator=generator,
                    format=format,
                    device=device,
                )
        else:
            _run_pool(run.path, todo, jobs, chunk_size, magic, bar.update, cf, mp, format)
    finally:
        bar.close()
    info = {
        "generator": name,
        "run_dir": str(run.path.resolve()),
        "n_events": n,
        "shards": shards,
        "seed": production["seed"],
        "chunk_size": chunk_size,
        "magic": magic,
    }
    fileset, _ = write_fileset(directory, paths, dataset=directory.resolve().name, metadata=info)
    return fileset


def _run_pool(
    run_dir: Path,
    todo: list[tuple[Shard, Path]],
    jobs: int,
    chunk_size: int,
    magic: bool,
    update: Callable[[int], object],
    cf: Any,
    mp: Any,
    format: str = "ttree",
) -> None:
    """Shards in ``jobs`` spawned processes; chunk progress comes back through a queue."""
    import queue as queue_module

    ctx = mp.get_context("spawn")
    progress = ctx.Queue()
    threads = max(1, (os.cpu_count() or 1) // jobs)

    def drain() -> None:
        while True:
            try:
                update(progress.get_nowait())
            except queue_module.Empty:
                return

    with cf.ProcessPoolExecutor(
        max_workers=min(jobs, len(todo)),
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(progress, threads),
    ) as pool:
        pending = {
            pool.submit(_run_in_worker, str(run_dir), s, str(p), chunk_size, magic, format) for s, p in todo
        }
        try:
            while pending:
                done, pending = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
                drain()
                for future in done:
                    future.result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    drain()
