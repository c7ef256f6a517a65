"""I/O benchmark: evgen's reader and writer against plain uproot, and chunked-iteration memory.

Usage::

    python benchmarks/io.py                     # 1M events resampled from the shipped sample
    python benchmarks/io.py --events 2000000 --input a.root b.root

Prints events/s for each method and the ratio evgen / plain uproot (target ≥ 0.8),
then the peak resident memory of iterating a file ten times larger than the chunk,
next to reading it whole (target: bounded by the chunk, not the file). Each
measurement of memory runs in a fresh subprocess so that peaks do not mix.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from evgen.io import read_events, write_events

BRANCHES = [
    "nMuon",
    "Muon_pt",
    "Muon_eta",
    "Muon_phi",
    "Muon_mass",
    "Muon_charge",
    "nJet",
    "Jet_pt",
    "Jet_eta",
    "Jet_phi",
    "Jet_mass",
    "genWeight",
    "run",
    "luminosityBlock",
    "event",
]


def make_input(n: int, sources: list[str], path: Path, seed: int = 0) -> Path:
    if sources:
        base = read_events(sources)
    else:
        from evgen import plugins

        base = read_events(plugins.get_dataset("zjets-small").path)
    index = np.random.default_rng(seed).integers(0, len(base), n)
    events = base[index]
    events = events[[f for f in ak.fields(events) if f not in ("run", "luminosityBlock", "event")]]
    write_events(path, events)
    return path


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def plain_read(path: Path) -> ak.Array:
    return uproot.open(path)["Events"].arrays(BRANCHES, library="ak")


def plain_write(arrays: ak.Array, path: Path) -> None:
    muon = ak.zip({f: arrays[f"Muon_{f}"] for f in ("pt", "eta", "phi", "mass", "charge")})
    jet = ak.zip({f: arrays[f"Jet_{f}"] for f in ("pt", "eta", "phi", "mass")})
    with uproot.recreate(path) as f:
        ids = {b: ak.to_numpy(arrays[b]) for b in ("run", "luminosityBlock", "event")}
        f.mktree(
            "Events",
            {
                "Muon": muon.type.content,
                "Jet": jet.type.content,
                "genWeight": np.float64,
                **{b: v.dtype for b, v in ids.items()},
            },
        )
        for start in range(0, len(arrays), 100_000):  # the same basket size as evgen's writer
            chunk = slice(start, start + 100_000)
            f["Events"].extend(
                {
                    "Muon": muon[chunk],
                    "Jet": jet[chunk],
                    "genWeight": ak.to_numpy(arrays["genWeight"][chunk]),
                    **{b: v[chunk] for b, v in ids.items()},
                }
            )


MEMORY_CHILD = """
import sys
from evgen.io import iterate_events, read_events

def hwm():  # VmHWM resets at exec, unlike ru_maxrss which a child inherits
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

path, mode, step = sys.argv[1], sys.argv[2], int(sys.argv[3])
base = hwm()
n = 0
if mode == "iterate":
    for chunk in iterate_events(path, step_size=step):
        n += len(chunk)
else:
    n = len(read_events(path))
print(n, base, hwm())
"""


def peak_memory(path: Path, mode: str, step: int) -> tuple[int, float]:
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(path), mode, str(step)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    n, base, peak = int(out[0]), int(out[1]), int(out[2])
    return n, (peak - base) / 1024  # MiB above the interpreter's own footprint


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--input", nargs="*", default=[], help="source files to resample (default: shipped sample)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = make_input(args.events, args.input, tmp / "input.root")
        size_mb = src.stat().st_size / 2**20
        n = uproot.open(src)["Events"].num_entries
        print(f"input: {n} events, {size_mb:.1f} MiB ({src.name})")

        t_plain_read = best_of(args.repeat, lambda: plain_read(src))
        t_evgen_read = best_of(args.repeat, lambda: read_events(src))
        arrays, events = plain_read(src), read_events(src)
        t_plain_write = best_of(args.repeat, lambda: plain_write(arrays, tmp / "plain.root"))
        t_evgen_write = best_of(args.repeat, lambda: write_events(tmp / "evgen.root", events))

        rows = {
            "read": (n / t_plain_read, n / t_evgen_read),
            "write": (n / t_plain_write, n / t_evgen_write),
        }
        print(f"\n{'':6s} {'plain uproot [ev/s]':>20s} {'evgen [ev/s]':>14s} {'evgen/plain':>12s}")
        for name, (plain, ours) in rows.items():
            print(f"{name:6s} {plain:20.3e} {ours:14.3e} {ours / plain:12.2f}")

        step = max(n // 10, 1)
        n_iter, mem_iter = peak_memory(src, "iterate", step)
        n_full, mem_full = peak_memory(src, "full", step)
        print(
            f"\nmemory: iterate in chunks of {step} events: peak +{mem_iter:.0f} MiB; "
            f"read whole file: peak +{mem_full:.0f} MiB; ratio {mem_iter / mem_full:.2f} (chunk/file = 0.10)"
        )
        assert n_iter == n_full == n

        if args.json:
            Path(args.json).write_text(
                json.dumps(
                    {
                        "events": n,
                        "file_mib": size_mb,
                        "read_events_per_s": {"plain": rows["read"][0], "evgen": rows["read"][1]},
                        "write_events_per_s": {"plain": rows["write"][0], "evgen": rows["write"][1]},
                        "memory_mib": {"iterate": mem_iter, "full": mem_full, "chunk_events": step},
                    },
                    indent=2,
                )
            )


if __name__ == "__main__":
    main()
