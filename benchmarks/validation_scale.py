"""Validation at scale: dask (2 local workers) against the in-memory path.

Usage::

    python benchmarks/validation_scale.py --events 10000000 --files 10

Writes ``--files`` files holding ``--events`` events in total (resampled from the
shipped sample) as the "generated" sample, validates them against the shipped
sample with ``evgen.validation.compare.validate`` (everything in memory) and with
``evgen.validation.dask_backend.validate_dask`` on a local cluster of 2 worker processes,
each in a fresh subprocess, and prints wall time and peak memory (VmHWM of the
process, plus each dask worker's) for both, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
mode, ref, step = sys.argv[1], sys.argv[2], sys.argv[3]
gen = sys.argv[4:]
t0 = time.perf_counter()
workers = []
if mode == "memory":
    from evgen.io import read_events
    from evgen.validation.compare import validate
    s = validate(read_events(ref), read_events(gen), plots=False)
else:
    from distributed import Client, LocalCluster
    from evgen.validation.dask_backend import validate_dask
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        s = validate_dask([ref], gen, plots=False, scheduler=cluster.scheduler_address, step_size=int(step))
        workers = list(client.run(hwm).values())
print(json.dumps({"seconds": time.perf_counter() - t0, "main_mib": hwm(), "workers_mib": workers,
                  "chi2": [r.comparison.chi2 for r in s.results]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--step", type=int, default=500_000, help="events per dask partition")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    import awkward as ak

    from evgen import plugins
    from evgen.io import EventWriter, read_events

    ref = plugins.get_dataset("zjets-small").path
    base = read_events(ref)
    base = base[[f for f in ak.fields(base) if f not in ("run", "luminosityBlock", "event")]]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        files, per_file, first = [], args.events // args.files, 1
        for i in range(args.files):
            path = Path(tmp) / f"gen_{i}.root"
            with EventWriter(path, first_event=first) as w:
                for start in range(0, per_file, 1_000_000):
                    w.extend(base[rng.integers(0, len(base), min(1_000_000, per_file - start))])
            first += per_file
            files.append(str(path))
        size = sum(Path(f).stat().st_size for f in files) / 2**20
        print(f"generated sample: {per_file * args.files} events in {args.files} files, {size:.0f} MiB")
        results = {}
        for mode in ("dask", "memory"):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, mode, str(ref), str(args.step), *files],
                capture_output=True,
                text=True,
            )
            if out.returncode:
                print(out.stderr[-3000:])
                raise SystemExit(f"{mode} run failed")
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
            r = results[mode]
            peak = r["main_mib"] + sum(r["workers_mib"])
            print(
                f"{mode:6s}: {r['seconds']:7.1f} s, peak memory {peak:7.0f} MiB "
                f"(main {r['main_mib']:.0f}, workers {[round(w) for w in r['workers_mib']]})"
            )
        d, m = results["dask"], results["memory"]
        print(
            f"dask / memory: time {d['seconds'] / m['seconds']:.2f}, "
            f"peak memory {(d['main_mib'] + sum(d['workers_mib'])) / m['main_mib']:.2f}"
        )
        print("same χ² on both paths:", bool(np.allclose(d["chi2"], m["chi2"], rtol=1e-9)))
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
