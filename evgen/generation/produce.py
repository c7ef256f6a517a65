"""Producing events from a run directory: one file, or a production split into shards.

:func:`generate_from_run` streams ``n`` events of a trained run into a ROOT file;
with ``shards=K`` it hands over to :func:`generate_shards`, which plans the shards
(:mod:`evgen.generation.shards`) and writes each through :func:`generate_from_run`.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evgen.errors import ConfigError, InputError
from evgen.generation.run_dir import RunDir, load_generator
from evgen.generation.shards import (
    PRODUCTION,
    Shard,
    plan_shards,
    shard_file_name,
    write_fileset,
)

if TYPE_CHECKING:
    from evgen.interfaces import Generator

__all__ = ["generate_from_run", "generate_shards"]


def _chunk_seeds(seed: int, n_chunks: int) -> list[int]:
    import numpy as np

    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n_chunks)]


def _one_file_checks(
    n: int, chunk_size: int, jobs: int, shards: int, shard_index: int | None, seed: int | None
) -> Shard | None:
    """The options of a production into one file, checked; the shard it is (None: the whole production)."""
    if jobs != 1:
        raise ConfigError("--jobs runs several shards at once: use it with --shards K (and no --shard-index)")
    if n <= 0:
        raise ConfigError(f"-n must be a positive number of events; got {n}")
    if chunk_size <= 0:
        raise ConfigError(f"--chunk-size must be positive; got {chunk_size}")
    shard = None
    if shard_index is not None:
        if seed is None:
            raise ConfigError(
                "--shard-index needs --seed: every shard of a production must be generated with the same seed"
            )
        shard = Shard(shard_index, shards, n, seed)
    return shard


def _sample_options(generator: Generator, magic: bool) -> dict[str, Any]:
    """Options for ``generator.sample``: ``magic=False`` when asked (and the generator has it)."""
    kwargs: dict[str, Any] = {}
    if not magic:
        if "magic" not in inspect.signature(generator.sample).parameters:
            raise ConfigError(f"generator {generator.name!r} has no magic transformation to switch off")
        kwargs["magic"] = False
    return kwargs


def _plan(
    run: RunDir,
    n: int,
    seed: int,
    chunk_size: int,
    magic: bool,
    device: str,
    format: str,
    shard: Shard | None,
) -> tuple[dict[str, Any], dict[str, Any], list[int], dict[str, Any]]:
    """What to write: the generation settings, the writer's options, one seed per chunk and the
    file's metadata (the run's config and provenance, the generation settings)."""
    generation: dict[str, Any] = {
        "n": n,
        "seed": seed,
        "chunk_size": chunk_size,
        "magic": magic,
        "device": device,
        "format": format,
    }
    writer_options: dict[str, Any] = {"format": format}
    if shard is None:
        seeds = _chunk_seeds(seed, -(-n // chunk_size))
    else:
        seeds = shard.chunk_seeds(chunk_size)
        generation.update(n=shard.n, shard=shard.metadata())
        writer_options.update(first_event=shard.first_event, luminosity_block=shard.luminosity_block)
    metadata = {
        "generator": run.generator_name(),
        "run_dir": str(run.path.resolve()),
        "config": run.read_config(),
        "provenance": run.read_provenance(),
        "generation": generation,
    }
    return generation, writer_options, seeds, metadata


def generate_from_run(
    run_dir: str | os.PathLike[str],
    n: int,
    output: str | os.PathLike[str],
    *,
    chunk_size: int = 100_000,
    seed: int | None = None,
    magic: bool = True,
    progress: bool = True,
    shards: int = 1,
    shard_index: int | None = None,
    jobs: int = 1,
    on_chunk: Callable[[int], object] | None = None,
    generator: Generator | None = None,
    format: str = "ttree",
    device: str = "cpu",
    overlap: bool | None = None,
) -> Path:
    """Generate ``n`` events from a run directory and stream them to a ROOT file.

    Events are produced and written ``chunk_size`` at a time, so memory stays
    bounded for any ``n``; the file appears only when complete. Chunk ``i`` is
    sampled with a seed spawned from ``seed``, so a seed fixes the output for a
    given chunk size. The run's provenance and the generation options go into the
    file's metadata (``evgen.io.read_metadata``).

    Parameters
    ----------
    magic
        Apply the inverse magic weights (Eq. 9) when the run was trained with the
        magic transformation; ``False`` gives the smoothed density the network learned.
    shards, shard_index
        Split the production of ``n`` events into ``shards`` files
        (:mod:`evgen.generation.shards`). With ``shard_index``, write only that shard to
        ``output`` (``seed`` is then required, so that independently run shards
        belong to one production); without it, write all shards into the
        directory ``output`` and return its ``fileset.json``.
    jobs
        Processes for all shards at once (``shards > 1`` without ``shard_index``).
    on_chunk
        Called with the number of events after every written chunk (progress reporting).
    generator
        The run's generator when already loaded (saves loading it again).
    format
        ``"ttree"`` (default) or ``"rntuple"``: the same fields and metadata either way.
    device
        Where the networks sample: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA
        when present). Decoding and writing stay on the CPU. A seed fixes the events for a
        given device (GPU kernels draw other random numbers than the CPU's).
    overlap
        Sample the next chunk while the current one is written (:mod:`evgen.generation.write`);
        the file is the same either way. By default on for a GPU; off on the CPU, where
        sampling and writing would compete for the same cores (measured: 13 % slower on
        a busy 2-core machine, ``docs/scaling.md``).
    """
    from evgen.devices import resolve_device_name
    from evgen.io.writer import check_format

    format = check_format(format)
    device = resolve_device_name(device)
    if shards < 1:
        raise ConfigError(f"--shards {shards}: must be a positive number of shards")
    if shard_index is None and shards > 1:
        return generate_shards(
            run_dir,
            n,
            output,
            shards=shards,
            jobs=jobs,
            chunk_size=chunk_size,
            seed=seed,
            magic=magic,
            progress=progress,
            format=format,
            device=device,
        )
    shard = _one_file_checks(n, chunk_size, jobs, shards, shard_index, seed)
    run = RunDir(run_dir)
    if generator is None:
        generator = load_generator(run.path)
    generator = generator.to(device)
    kwargs = _sample_options(generator, magic)
    if seed is None:
        import numpy as np

        seed = int(np.random.SeedSequence().generate_state(1)[0])
    generation, writer_options, seeds, metadata = _plan(
        run, n, seed, chunk_size, magic, device, format, shard
    )
    from evgen.generation.write import write_generated

    write_generated(
        generator,
        generation["n"],
        output,
        seeds,
        chunk_size,
        sample_options=kwargs,
        metadata=metadata,
        writer_options=writer_options,
        progress=progress,
        on_chunk=on_chunk,
        overlap=device != "cpu" if overlap is None else overlap,
    )
    return Path(output)


# -- running a production ------------------------------------------------------------------
def _production(
    directory: Path, run_dir: Path, n: int, shards: int, seed: int | None, chunk_size: int, magic: bool
) -> dict[str, Any]:
    """The production this directory holds (or starts): a rerun reuses the recorded seed."""
    import numpy as np

    from evgen.files import atomic_write

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
