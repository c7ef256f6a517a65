"""Streaming generated events to a file, sampling the next chunk while the current one is written.

Chunk ``i`` is sampled with its own seed, in a background thread one chunk ahead of
the writer: while the CPU converts and compresses chunk ``i`` into the ROOT file,
the networks (on a GPU, or on the CPU's other cores) already draw chunk ``i + 1``.
The chunks are written in order, so a seed gives the same file with or without the
overlap. An error in either thread stops both and no output file appears.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from evgen.interfaces import Generator

__all__ = ["prefetched", "write_generated"]

T = TypeVar("T")
R = TypeVar("R")


def prefetched(produce: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
    """``produce(item)`` for every item, in order, computing the next one while the caller
    works on the current one (one background thread, one result ahead)."""
    if not items:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="evgen-sample") as pool:
        future: Future[R] = pool.submit(produce, items[0])
        try:
            for i in range(len(items)):
                result = future.result()
                if i + 1 < len(items):
                    future = pool.submit(produce, items[i + 1])
                yield result
        finally:
            future.cancel()  # a consumer that stops early does not wait for more than the chunk in flight


def write_generated(
    generator: Generator,
    n: int,
    output: str | os.PathLike[str],
    seeds: Sequence[int],
    chunk_size: int,
    *,
    sample_options: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    writer_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    on_chunk: Callable[[int], object] | None = None,
    overlap: bool = True,
) -> None:
    """Sample ``n`` events in chunks (seed ``seeds[i]`` for chunk ``i``) and write them to ``output``.

    With ``overlap`` the next chunk is sampled while the current one is written
    (:func:`prefetched`); without, one after the other. Both give the same file.
    """
    from tqdm.auto import tqdm

    from evgen.io import EventWriter

    options = dict(sample_options or {})
    jobs = [(seed, min(chunk_size, n - i * chunk_size)) for i, seed in enumerate(seeds)]

    def sample(job: tuple[int, int]) -> Any:
        seed, m = job
        return generator.sample(m, seed=seed, **options)

    chunks = prefetched(sample, jobs) if overlap else map(sample, jobs)
    bar = tqdm(total=n, unit="ev", desc="generate", disable=not progress, dynamic_ncols=True)
    try:
        with EventWriter(output, metadata=metadata, **dict(writer_options or {})) as writer:
            if writer.removed_stale:
                names = ", ".join(p.name for p in writer.removed_stale)
                print(f"removed temporary files that killed runs left for {output}: {names}", file=sys.stderr)
            for events in chunks:
                writer.extend(events)
                bar.update(len(events))
                if on_chunk is not None:
                    on_chunk(len(events))
    finally:
        bar.close()
        if hasattr(chunks, "close"):
            chunks.close()
