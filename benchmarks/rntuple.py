"""TTree against RNTuple: file size, writing and reading speed of the same events.

Usage::

    python benchmarks/rntuple.py                   # 1M events resampled from the shipped sample
    python benchmarks/rntuple.py --events 200000

Writes the same events with ``write_events(..., format="ttree")`` and ``format="rntuple"``
(both zlib level 1, uproot's default), then reads them back with ``read_events`` and
``iterate_events``; prints bytes/event and events/s for each, best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np

from evgen.io import iterate_events, read_events, write_events


def _events(n: int) -> ak.Array:
    from evgen import plugins

    sample = read_events(plugins.get_dataset("zjets-small").path)
    index = np.random.default_rng(0).integers(0, len(sample), n)
    events = sample[index]
    return ak.without_field(events, "event") if "event" in ak.fields(events) else events


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    events = _events(args.events)
    n = len(events)
    print(f"{n} events")
    print("| format | bytes/event | write events/s | read_events events/s | iterate_events events/s |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("ttree", "rntuple"):
            path = Path(tmp) / f"{fmt}.root"
            t_write = _best(lambda fmt=fmt, path=path: write_events(path, events, format=fmt), args.repeat)
            t_read = _best(lambda path=path: read_events(path), args.repeat)
            t_iter = _best(
                lambda path=path: sum(len(c) for c in iterate_events(path, step_size=100_000)), args.repeat
            )
            print(
                f"| {fmt} | {path.stat().st_size / n:.1f} | {n / t_write:,.0f} | {n / t_read:,.0f} | "
                f"{n / t_iter:,.0f} |"
            )


if __name__ == "__main__":
    main()
