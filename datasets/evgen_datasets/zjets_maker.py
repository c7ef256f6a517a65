"""Make Z → μμ + jets samples with Pythia 8 and FastJet.

The sample of *Generative Networks for Precision Enthusiasts* (arXiv:2110.13632,
Sec. 2.1), remade with Pythia 8 instead of Sherpa: pp → Z/γ* → μ⁺μ⁻ + jets at
√s = 13 TeV from the Z + 1 parton matrix elements ``qqbar2gmZg`` and ``qg2gmZq``
with ``pTHatMin = 20 GeV``, ``m(Z/γ*) > 50 GeV``, ISR, FSR, MPI and hadronisation.

* **Muons**: the two final-state muons whose same-id ancestry reaches the Z
  (bare muons, no photon dressing), pT-ordered, mass 0.1056584 GeV, charge ±1.
* **Jets**: anti-kT, R = 0.4 (FastJet) on every visible final-state particle
  except the two Z muons (neutrinos are invisible); pT > 20 GeV and |η| < 5
  (paper Eq. 2); a jet closer than ΔR = 0.4 to a harder jet is removed, so every
  pair has ΔR_jj > R_min = 0.4 (Eq. 2; anti-kT almost never needs this); the
  three leading jets are kept; events without a jet are dropped.

Work is split over ``jobs`` processes, job ``j`` making a fixed share of the
events with its own Pythia seed :func:`pythia_seed` ``(seed, j)``, so a file is
reproducible from ``(n, seed, jobs)``. Events stream to disk in chunks through
:class:`evgen.io.EventWriter`; the output appears only when complete.

Pythia and FastJet are optional (``pip install 'evgen-hep[data]'``) and imported
only when a sample is made.
"""

from __future__ import annotations

__all__ = [
    "make_zjets",
    "pythia_settings",
    "pythia_seed",
    "MUON_MASS",
    "JET_R",
    "JET_PT_MIN",
    "JET_ETA_MAX",
    "MAX_JETS",
    "PYTHIA_SEED_MAX",
]

import contextlib
import importlib.metadata
import math
import multiprocessing as mp
import os
import queue
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import awkward as ak
import numpy as np
import vector

from evgen.errors import ConfigError, EvgenError
from evgen.events import collider_events

#: Muon mass written for every muon (GeV).
MUON_MASS = 0.1056584
#: Anti-kT radius and minimal jet–jet separation.
JET_R = 0.4
#: Jet acceptance: pT > JET_PT_MIN (GeV), |η| < JET_ETA_MAX.
JET_PT_MIN = 20.0
JET_ETA_MAX = 5.0
#: Leading jets kept per event.
MAX_JETS = 3
#: Largest seed Pythia accepts (``Random:seed``).
PYTHIA_SEED_MAX = 900_000_000

_INSTALL_HINT = "pip install 'evgen-hep[data]'"
_Z_ID = 23
_MUON_ID = 13
#: Pythia events generated per ``nextBatch`` call (about one second of work).
_BATCH = 200
#: Give up when this many Pythia batches in a row yield no event.
_MAX_EMPTY_BATCHES = 20

vector.register_awkward()


# -- configuration -----------------------------------------------------------------


def pythia_settings(ecm: float = 13000.0, pthat_min: float = 20.0) -> list[str]:
    """The Pythia 8 settings of the sample (without seed and print options)."""
    return [
        f"Beams:eCM = {float(ecm)!r}",
        "WeakBosonAndParton:qqbar2gmZg = on",
        "WeakBosonAndParton:qg2gmZq = on",
        f"PhaseSpace:pTHatMin = {float(pthat_min)!r}",
        "23:mMin = 50.",
        "23:onMode = off",
        "23:onIfAny = 13",
    ]


def pythia_seed(seed: int, job: int) -> int:
    """Pythia's ``Random:seed`` for job ``job`` of a run with ``seed``: in 1 … 900 000 000.

    Derived with :class:`numpy.random.SeedSequence` from ``(seed, job)``, so jobs
    of one run and runs with different seeds get unrelated streams.
    """
    state = np.random.SeedSequence([int(seed), int(job)]).generate_state(1, dtype=np.uint64)[0]
    return int(state % PYTHIA_SEED_MAX) + 1


def _check_options(
    n: int, output: Path, seed: int, jobs: int, chunk_size: int, ecm: float, pthat_min: float
) -> None:
    def _is_int(value: object) -> bool:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)

    if not _is_int(n) or n <= 0:
        raise ConfigError(f"the number of events must be a positive integer; got {n!r}")
    if not _is_int(jobs) or jobs < 1:
        raise ConfigError(f"jobs must be an integer >= 1; got {jobs!r}")
    if not _is_int(seed) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer; got {seed!r}")
    if not _is_int(chunk_size) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive integer; got {chunk_size!r}")
    if not (isinstance(ecm, int | float) and math.isfinite(ecm) and ecm > 90.0):
        raise ConfigError(f"ecm must be a finite centre-of-mass energy above 90 GeV; got {ecm!r}")
    if not (isinstance(pthat_min, int | float) and math.isfinite(pthat_min) and 0 < pthat_min < ecm / 2):
        raise ConfigError(f"pthat_min must be a positive number below ecm/2; got {pthat_min!r}")
    if output.suffix != ".root":
        raise ConfigError(f"{output}: the output must be a ROOT file name ending in .root")
    if output.is_dir():
        raise ConfigError(f"{output}: is a directory; give a file name for the output")
    if not output.parent.is_dir():
        raise ConfigError(f"{output}: the directory {output.parent} does not exist; create it first")


def _import_generators() -> tuple[ModuleType, ModuleType]:
    try:
        import fastjet
        import pythia8mc
    except ImportError as exc:
        raise EvgenError(
            f"making Z+jets samples needs Pythia 8 and FastJet, but {exc.name!r} is not installed; "
            f"install them with: {_INSTALL_HINT}"
        ) from None
    return pythia8mc, fastjet


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("pythia8mc", "fastjet"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover - imported from elsewhere
            out[dist] = "unknown"
    return out


@contextlib.contextmanager
def _stdout_to_devnull() -> Iterator[None]:
    """Silence C++ output on file descriptor 1 (FastJet's banner)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


# -- the physics: one Pythia instance and its event loop ---------------------------


def _z_muons(pid: np.ndarray, status: np.ndarray, mother: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Indices of final-state muons whose same-id ancestry reaches the Z.

    ``pid``, ``status`` are flat over all particles of a batch; ``mother`` holds
    the flat (batch-global) indices of mother1 and mother2, -1 for none.
    A muon is walked up through mothers with its own id (shower copies, photon
    emissions); it is a Z muon when the particle above that chain is the Z.
    """
    mother1, mother2 = mother
    current = np.flatnonzero((status > 0) & (np.abs(pid) == _MUON_ID))
    start = current
    for _ in range(pid.size):
        m1, m2 = mother1[current], mother2[current]
        up = np.where((m1 >= 0) & (pid[m1] == pid[current]), m1, -1)
        up = np.where((up < 0) & (m2 >= 0) & (pid[m2] == pid[current]), m2, up)
        if not np.any(up >= 0):
            break
        current = np.where(up >= 0, up, current)
    top_mother = mother1[current]
    from_z = (top_mother >= 0) & (np.abs(pid[np.maximum(top_mother, 0)]) == _Z_ID)
    return start[from_z]


def _select_jets(jets: ak.Array) -> ak.Array:
    """Jets with pT > 20 GeV, |η| < 5, ΔR > 0.4 to every harder jet; the 3 leading (paper Eq. 2)."""
    jets = jets[(jets.pt > JET_PT_MIN) & (abs(jets.eta) < JET_ETA_MAX)]
    jets = jets[ak.argsort(jets.pt, axis=1, ascending=False)]
    # [event, jet, other jet]: is a harder jet within R_min of this one?
    jet, other = ak.unzip(ak.cartesian([jets, jets], nested=True))
    i_jet, i_other = ak.unzip(ak.argcartesian([jets, jets], nested=True))
    shadowed = ak.any((i_other < i_jet) & (jet.deltaR(other) <= JET_R), axis=2)
    return jets[~shadowed][:, :MAX_JETS]


class _ZJetsLoop:
    """One Pythia 8 instance turning generated events into accepted Z+jets events."""

    def __init__(self, seed: int, ecm: float, pthat_min: float) -> None:
        pythia8mc, fastjet = _import_generators()
        self._fastjet = fastjet
        self.pythia = pythia8mc.Pythia("", False)
        for line in [
            *pythia_settings(ecm, pthat_min),
            "Random:setSeed = on",
            f"Random:seed = {seed}",
            "Print:quiet = on",
            "Next:numberCount = 0",
        ]:
            if not self.pythia.readString(line):
                raise EvgenError(f"Pythia rejected the setting {line!r}")
        if not self.pythia.init():
            raise EvgenError(f"Pythia failed to initialise with seed {seed}")
        self._jet_definition = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_R)
        self._visible: dict[int, bool] = {}
        self.n_generated = 0
        self.n_accepted = 0
        with _stdout_to_devnull():  # FastJet prints its banner on first use
            self._cluster(ak.Array([[{"px": 1.0, "py": 0.0, "pz": 0.0, "E": 1.0}]]))

    def _cluster(self, particles: ak.Array) -> ak.Array:
        sequence = self._fastjet.ClusterSequence(particles, self._jet_definition)
        jets = sequence.inclusive_jets(min_pt=JET_PT_MIN)
        return ak.zip({"px": jets.px, "py": jets.py, "pz": jets.pz, "E": jets.E}, with_name="Momentum4D")

    def _is_visible(self, ids: np.ndarray) -> np.ndarray:
        for i in np.unique(ids).tolist():
            if i not in self._visible:
                self._visible[i] = bool(self.pythia.particleData.isVisible(i))
        table = np.array(sorted(self._visible.items()))
        return table[np.searchsorted(table[:, 0], ids), 1].astype(bool)

    def batch(self) -> ak.Array:
        """Generate one batch of Pythia events; return the accepted ones as collider events."""
        prt = self.pythia.nextBatch(_BATCH, "skip").prt
        n_events = len(prt)
        self.n_generated += n_events
        counts = ak.to_numpy(ak.num(prt, axis=1))
        flat = ak.flatten(prt)
        event = np.repeat(np.arange(n_events), counts)
        offset = np.repeat(np.cumsum(counts) - counts, counts)
        pid = ak.to_numpy(flat.id)
        status = ak.to_numpy(flat.status)
        mothers = tuple(
            np.where(local > 0, local + offset, -1)
            for local in (ak.to_numpy(flat.mother1), ak.to_numpy(flat.mother2))
        )
        p = flat.p
        px, py, pz, e = (ak.to_numpy(p[c]) for c in ("px", "py", "pz", "e"))

        muons = _z_muons(pid, status, mothers)
        n_muons = np.bincount(event[muons], minlength=n_events)
        is_muon = np.zeros(pid.size, bool)
        is_muon[muons] = True
        final = status > 0
        inputs = final & ~is_muon
        inputs[inputs] = self._is_visible(pid[inputs])

        def jagged(values: np.ndarray) -> ak.Array:
            return ak.unflatten(values[inputs], np.bincount(event[inputs], minlength=n_events))

        particles = ak.zip({"px": jagged(px), "py": jagged(py), "pz": jagged(pz), "E": jagged(e)})
        jets = _select_jets(self._cluster(particles))
        keep = (ak.to_numpy(ak.num(jets, axis=1)) > 0) & (n_muons == 2)

        kept_muons = muons[keep[event[muons]]]
        mu = vector.array(
            {"px": px[kept_muons], "py": py[kept_muons], "pz": pz[kept_muons], "E": e[kept_muons]}
        )
        mu_pt = mu.pt.reshape(-1, 2)
        order = np.argsort(-mu_pt, axis=1, kind="stable")
        rows = np.arange(len(mu_pt))[:, None]

        def muon_field(values: np.ndarray, dtype: type) -> ak.Array:
            pairs = values.reshape(-1, 2)[rows, order].astype(dtype)
            return ak.unflatten(pairs.ravel(), np.full(len(pairs), 2))  # jagged, as NanoAOD

        jets = jets[keep]
        muon = {
            "pt": muon_field(mu.pt, np.float32),
            "eta": muon_field(mu.eta, np.float32),
            "phi": muon_field(mu.phi, np.float32),
            "mass": muon_field(np.full(len(mu), MUON_MASS), np.float32),
            "charge": muon_field(-np.sign(pid[kept_muons]), np.int8),
        }
        jet = {
            "pt": ak.values_astype(jets.pt, np.float32),
            "eta": ak.values_astype(jets.eta, np.float32),
            "phi": ak.values_astype(jets.phi, np.float32),
            "mass": ak.values_astype(np.sqrt(np.maximum(jets.mass2, 0.0)), np.float32),
        }
        events = collider_events({"Muon": muon, "Jet": jet})
        finite = np.ones(len(events), bool)
        for coll in (muon, jet):
            for field in ("pt", "eta", "phi", "mass"):
                finite &= ak.to_numpy(ak.all(np.isfinite(coll[field]), axis=1))
        events = events[finite]
        self.n_accepted += len(events)
        return events

    def chunks(self, n: int, chunk_size: int, report: Callable[[int], None]) -> Iterator[ak.Array]:
        """Yield exactly ``n`` accepted events in chunks of ``chunk_size`` (the last may be shorter)."""
        pending: list[ak.Array] = []
        n_pending = n_done = empty = 0
        while n_done + n_pending < n:
            events = self.batch()
            empty = 0 if len(events) else empty + 1
            if empty >= _MAX_EMPTY_BATCHES:
                raise EvgenError(
                    f"Pythia produced no accepted event in {empty * _BATCH} tries; check the settings"
                )
            events = events[: n - n_done - n_pending]
            pending.append(events)
            n_pending += len(events)
            report(len(events))
            while n_pending >= chunk_size or (n_pending and n_done + n_pending == n):
                merged = ak.concatenate(pending) if len(pending) > 1 else pending[0]
                size = min(chunk_size, n_pending)
                yield merged[:size]
                pending = [merged[size:]]
                n_pending -= size
                n_done += size


# -- running jobs and writing --------------------------------------------------------


def _run_job(
    job: int,
    n: int,
    seed: int,
    ecm: float,
    pthat_min: float,
    chunk_size: int,
    writer: Any,
    report: Callable[[int], None],
) -> dict[str, int]:
    loop = _ZJetsLoop(seed, ecm, pthat_min)
    for chunk in loop.chunks(n, chunk_size, report):
        writer.extend(chunk)
    return {"job": job, "pythia_seed": seed, "generated": loop.n_generated, "accepted": loop.n_accepted}


def _job_process(
    job: int,
    n: int,
    seed: int,
    ecm: float,
    pthat_min: float,
    chunk_size: int,
    part: str,
    first_event: int,
    messages: Any,
) -> None:
    """Entry point of a worker process: write one job's share to ``part``."""
    from evgen.io import EventWriter

    try:
        with EventWriter(part, first_event=first_event) as writer:
            stats = _run_job(
                job, n, seed, ecm, pthat_min, chunk_size, writer, lambda k: messages.put(("progress", job, k))
            )
        messages.put(("done", job, stats))
    except BaseException as exc:  # report everything, including KeyboardInterrupt, to the parent
        detail = str(exc) if isinstance(exc, EvgenError) else traceback.format_exc()
        messages.put(("error", job, detail))


def _shares(n: int, jobs: int) -> list[int]:
    return [n // jobs + (1 if j < n % jobs else 0) for j in range(jobs)]


def _run_parallel(
    shares: list[int],
    seeds: list[int],
    ecm: float,
    pthat_min: float,
    chunk_size: int,
    tmp: Path,
    bar: Any,
) -> tuple[list[Path], list[dict[str, int]]]:
    context = mp.get_context("spawn")
    messages = context.Queue()
    parts, processes, stats = [], {}, {}
    first_event = 1
    for job, (share, seed) in enumerate(zip(shares, seeds, strict=True)):
        if share == 0:
            continue
        part = tmp / f"job{job}.root"
        parts.append(part)
        processes[job] = context.Process(
            target=_job_process,
            args=(job, share, seed, ecm, pthat_min, chunk_size, str(part), first_event, messages),
            name=f"evgen-zjets-{job}",
            daemon=True,
        )
        first_event += share
    try:
        for process in processes.values():
            process.start()
        while len(stats) < len(processes):
            try:
                kind, job, payload = messages.get(timeout=1.0)
            except queue.Empty:
                kind, job, payload = "idle", -1, None
            if kind == "progress":
                bar.update(payload)
            elif kind == "done":
                stats[job] = payload
            elif kind == "error":
                raise EvgenError(f"Z+jets job {job} failed: {payload}")
            for job, process in processes.items():
                if job not in stats and process.exitcode not in (None, 0):  # killed or crashed
                    raise EvgenError(
                        f"Z+jets job {job} died (exit code {process.exitcode}); in a script, call "
                        "make_zjets under `if __name__ == '__main__':` (workers are spawned)"
                    )
        for process in processes.values():
            process.join()
    finally:
        for process in processes.values():
            if process.is_alive():
                process.terminate()
                process.join()
        messages.close()
    return parts, [stats[j] for j in sorted(stats)]


def make_zjets(
    n: int,
    output: str | os.PathLike[str],
    *,
    seed: int = 1,
    jobs: int = 1,
    progress: bool = True,
    chunk_size: int = 5000,
    ecm: float = 13000.0,
    pthat_min: float = 20.0,
) -> Path:
    """Generate ``n`` Z → μμ + jets events with Pythia 8 + FastJet into a ROOT file.

    Parameters
    ----------
    n
        Accepted events to write (events with two Z muons and at least one jet).
    output
        ROOT file to create (NanoAOD-style branches, see :mod:`evgen.io`); its
        directory must exist. The file appears only once it is complete.
    seed
        Run seed; job ``j`` uses Pythia seed :func:`pythia_seed` ``(seed, j)``.
    jobs
        Worker processes; job ``j`` makes a fixed share of ``n``, so the output is
        reproducible from ``(n, seed, jobs)`` (but differs between job counts).
        Workers are started with ``spawn``: in a script, call this under
        ``if __name__ == "__main__":``.
    progress
        Show a tqdm progress bar (rate and ETA) over accepted events.
    chunk_size
        Events held in memory per job before they are written.
    ecm, pthat_min
        Centre-of-mass energy and Pythia's ``PhaseSpace:pTHatMin`` (GeV).

    Returns
    -------
    Path
        The written file. Its ``evgen_metadata`` records generator, versions,
        settings, seeds and acceptance.
    """
    output = Path(output)
    _check_options(n, output, seed, jobs, chunk_size, ecm, pthat_min)
    _import_generators()
    from tqdm import tqdm

    from evgen.io import EventWriter, iterate_events

    shares = _shares(n, jobs)
    seeds = [pythia_seed(seed, job) for job in range(jobs)]
    metadata: dict[str, Any] = {
        "generator": "pythia8",
        "process": "pp -> Z/gamma* -> mu+ mu- + jets",
        "maker": "evgen_datasets.zjets_maker.make_zjets",
        "pythia_version": _versions()["pythia8mc"],
        "fastjet_version": _versions()["fastjet"],
        "settings": pythia_settings(ecm, pthat_min),
        "seed": seed,
        "jobs": jobs,
        "pythia_seeds": seeds,
        "events_per_job": shares,
        "muons": "bare final-state muons whose same-id ancestry reaches the Z",
        "jets": {
            "algorithm": "anti-kt",
            "R": JET_R,
            "pt_min": JET_PT_MIN,
            "abs_eta_max": JET_ETA_MAX,
            "min_delta_r": JET_R,
            "max_jets": MAX_JETS,
            "inputs": "visible final-state particles except the two Z muons",
        },
    }
    with tqdm(total=n, unit="ev", desc="Z->mumu+jets", disable=not progress, smoothing=0.1) as bar:
        with EventWriter(output, metadata=metadata) as writer:
            if jobs == 1:
                stats = [_run_job(0, n, seeds[0], ecm, pthat_min, chunk_size, writer, bar.update)]
            else:
                with tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}.parts-") as tmp:
                    parts, stats = _run_parallel(shares, seeds, ecm, pthat_min, chunk_size, Path(tmp), bar)
                    for part in parts:
                        for chunk in iterate_events(part, step_size=chunk_size):
                            writer.extend(chunk)
            generated = sum(s["generated"] for s in stats)
            writer.metadata["pythia_events"] = generated
            writer.metadata["acceptance"] = sum(s["accepted"] for s in stats) / generated
    return output
