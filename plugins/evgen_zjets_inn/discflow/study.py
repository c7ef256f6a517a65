r"""The DiscFlow measurement of Sec. 3 on independent truth: ``evgen discflow study``.

Starting from a trained ``zjets-inn`` run, the study answers the questions of
*Generative Networks for Precision Enthusiasts* (arXiv:2110.13632), Sec. 3, with a
truth sample the networks never saw:

1. **DiscFlow** (Sec. 3.2): the INN is trained on, jointly with the
   per-multiplicity discriminators (``init_from`` the INN run), then a fresh
   reweighter is fitted between the training events and DiscFlow events
   (``final_reweighting``, Fig. 8);
2. **standalone reweighting** of the plain INN (Sec. 3.1, Fig. 5): a reweighter
   fitted between the training events and INN events;
3. every sample (the training sample itself, INN, INN + reweighting, DiscFlow,
   DiscFlow + reweighting) is compared with the truth: χ²/ndf of every
   observable per multiplicity (:func:`evgen.validation.compare.validate`), in particular
   M_μμ and every ΔR_jj, as a ratio to the training sample's own χ²/ndf;
4. a fresh classifier per multiplicity tells each sample from the truth
   (:func:`evgen.validation.consistency.consistency_report`, Sec. 4.3): AUC with its
   bootstrap error (weighted samples enter with their weights);
5. the training cost: seconds of the INN training (from its history) against
   those of the DiscFlow phases.

Every step writes its result under the output directory and is skipped when the
study is rerun (the DiscFlow joint phase also resumes mid-way from its checkpoint).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import awkward as ak

from evgen.errors import InputError
from evgen.events import event_weights, with_weights
from evgen.interfaces import Measurement
from evgen.training.config import deep_merge

__all__ = ["KEY_OBSERVABLES", "key_observables", "run_discflow_study"]

#: Samples compared with the truth, in report order.
SAMPLES = ("training", "inn", "inn+rw", "discflow", "discflow+rw")

#: The classifier of the consistency test (:data:`evgen.validation.consistency.DEFAULT_TEST_CLASSIFIER` with fewer epochs).
TEST_CLASSIFIER: dict[str, Any] = {"layers": 4, "hidden": 128, "epochs": 20, "batch_size": 1024, "lr": 1e-3}


def key_observables(multiplicity: int) -> list[str]:
    """The observables of the issue's target for ``multiplicity`` jets: M_μμ and every ΔR_jj."""
    pairs = [f"dR_j{a}j{b}" for a in range(1, multiplicity + 1) for b in range(a + 1, multiplicity + 1)]
    return ["m_mumu", *pairs]


KEY_OBSERVABLES = {n: key_observables(n) for n in (1, 2, 3)}


def _seconds(history: Any) -> float:
    """Sum of ``seconds`` over every epoch record in a (nested) training history."""
    if isinstance(history, Mapping):
        own = float(history["seconds"]) if isinstance(history.get("seconds"), (int, float)) else 0.0
        return own + sum(_seconds(v) for k, v in history.items() if k != "seconds")
    if isinstance(history, (list, tuple)):
        return sum(_seconds(v) for v in history)
    return 0.0


def _write_json(path: Path, content: Any) -> None:
    from evgen.files import atomic_write
    from evgen.validation.records import to_jsonable

    atomic_write(path, json.dumps(to_jsonable(content), indent=2) + "\n")


def _train_discflow(
    training: ak.Array, inn_run: Path, run_dir: Path, config: Mapping[str, Any], progress: bool
) -> tuple[Any, float]:
    """Train (or load a finished) DiscFlow from ``inn_run``; returns the generator and its wall time."""
    from evgen_zjets_inn.discflow.generator import DiscFlow

    timing = run_dir / "study_timing.json"
    if timing.exists() and (run_dir / "config.json").exists():
        return DiscFlow.load(run_dir), float(json.loads(timing.read_text())["seconds"])
    cfg = deep_merge(dict(config), {"discflow": {"init_from": str(inn_run), "final_reweighting": True}})
    generator = DiscFlow(cfg)
    started = time.perf_counter()
    generator.fit(training, run_dir=run_dir, progress=progress)
    seconds = time.perf_counter() - started
    generator.save(run_dir)
    _write_json(timing, {"seconds": seconds})
    return generator, seconds


def _generate(path: Path, make: Any, metadata: Mapping[str, Any]) -> ak.Array:
    """Read ``path`` if it exists, else ``make()`` the events and write them there."""
    from evgen.io import read_events, write_events

    if path.exists():
        return read_events(path)
    events = make()
    write_events(path, events, metadata=dict(metadata))
    return read_events(path)


def _reweighted(
    training: ak.Array, generated: ak.Array, directory: Path, options: Mapping[str, Any], progress: bool
) -> ak.Array:
    """``generated`` times the weights of a ``discriminator`` reweighter fitted against ``training``."""
    from evgen.plugins import get_reweighter

    cls = get_reweighter("discriminator")
    if (directory / "config.json").exists() or (directory / "reweighter.json").exists():
        reweighter = cls.load(directory)
    else:
        reweighter = cls(dict(options))
        reweighter.fit(training, generated, progress=progress)
        reweighter.save(directory)
    return with_weights(generated, event_weights(generated) * reweighter.weights(generated))


def _chi2_table(validations: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows (multiplicity, observable) with χ²/ndf per sample and the ratio to the training sample's."""
    by_key: dict[tuple[int, str], dict[str, Any]] = {}
    for sample, summary in validations.items():
        for r in summary.results:
            row = by_key.setdefault((r.multiplicity, r.name), {"jets": r.multiplicity, "observable": r.name})
            row[sample] = r.comparison.chi2_ndf
    rows = []
    for (n, name), row in sorted(by_key.items()):
        reference = row.get("training", math.nan)
        for sample in SAMPLES[1:]:
            if sample in row and reference > 0 and math.isfinite(reference):
                row[f"{sample}/training"] = row[sample] / reference
        row["key"] = name in key_observables(n)
        rows.append(row)
    return rows


def _samples(
    training: ak.Array,
    inn_path: Path,
    out: Path,
    n_generated: int,
    seed: int,
    df_options: Mapping[str, Any],
    rw_options: Mapping[str, Any],
    meta: Mapping[str, Any],
    progress: bool,
) -> tuple[dict[str, ak.Array], Any, float]:
    """The five samples compared with the truth (:data:`SAMPLES`): the training sample, the INN,
    the INN reweighted, DiscFlow (trained from the INN) and DiscFlow with its final reweighting."""
    from evgen.generation.run_dir import load_generator

    inn = load_generator(inn_path)
    samples: dict[str, ak.Array] = {"training": training}
    samples["inn"] = _generate(out / "inn.root", lambda: inn.sample(n_generated, seed=seed), meta)
    samples["inn+rw"] = _reweighted(training, samples["inn"], out / "inn_rw", rw_options, progress)
    discflow, discflow_seconds = _train_discflow(training, inn_path, out / "discflow", df_options, progress)
    samples["discflow"] = _generate(
        out / "discflow.root", lambda: discflow.sample(n_generated, seed=seed + 1), meta
    )
    samples["discflow+rw"] = with_weights(
        samples["discflow"],
        event_weights(samples["discflow"]) * discflow.reweighter.weights(samples["discflow"]),
    )
    return samples, discflow, discflow_seconds


def _targets(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per generated sample: its worst χ²/ndf ratio to the training sample's over the key observables."""
    targets = []
    for sample in SAMPLES[1:]:
        ratios = [r[f"{sample}/training"] for r in rows if r["key"] and f"{sample}/training" in r]
        worst = max(ratios) if ratios else math.nan
        targets.append(
            {"sample": sample, "worst_key_chi2_ratio_to_training": worst, "within_2x": bool(worst <= 2.0)}
        )
    return targets


def _auc_per_sample(
    truth: ak.Array,
    samples: Mapping[str, ak.Array],
    auc_path: Path,
    test_classifier: Mapping[str, Any] | None,
    seed: int,
    progress: bool,
) -> dict[str, Any]:
    """AUC of a fresh classifier per multiplicity between each sample and the truth; kept in
    ``auc_path`` after each sample, so a rerun continues where it stopped."""
    from evgen.validation.consistency import consistency_report

    auc: dict[str, Any] = json.loads(auc_path.read_text()) if auc_path.exists() else {}
    for name, events in samples.items():
        if name in auc:
            continue
        report = consistency_report(
            truth, events, config=dict(test_classifier or TEST_CLASSIFIER), seed=seed, progress=progress
        )
        auc[name] = {str(n): {"auc": r.auc, "error": r.auc_error} for n, r in report.results.items()}
        _write_json(auc_path, auc)
    return auc


def run_discflow_study(
    training_files: Sequence[str | os.PathLike[str]],
    truth_files: Sequence[str | os.PathLike[str]],
    inn_run: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    discflow_config: Mapping[str, Any] | None = None,
    reweighter_config: Mapping[str, Any] | None = None,
    test_classifier: Mapping[str, Any] | None = None,
    n_generated: int = 300_000,
    max_events: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Train DiscFlow from ``inn_run``, reweight, and compare everything with the truth.

    Parameters
    ----------
    training_files
        The files the INN was trained on (DiscFlow and the reweighters train on them too).
    truth_files
        Independent truth, never used for training.
    inn_run
        A ``zjets-inn`` run directory (the plain INN and DiscFlow's start).
    output_dir
        Receives ``discflow/`` (the run), ``inn_rw/`` (the standalone reweighter), the
        generated ROOT files, ``discflow_study.json`` and ``discflow_study.md``.
    discflow_config
        Options of the ``discflow`` generator (``[discflow]``, ``[discriminator]``,
        ``[reweighter]``, ...); ``discflow.init_from`` is set to ``inn_run``.
    reweighter_config
        Options of the standalone ``discriminator`` reweighter of the INN (default: the
        DiscFlow run's ``[reweighter]`` section with its ``[discriminator]`` classifier).
    test_classifier
        Classifier of the two-sample test (default :data:`TEST_CLASSIFIER`).
    n_generated
        Events generated from the INN and from DiscFlow.
    max_events
        Read at most this many events from the training and the truth files each.
    seed
        Seeds generation and the two-sample tests.
    progress
        Progress bars.

    Returns
    -------
    dict
        ``chi2`` rows, ``targets`` (the largest ratio to the training sample over M_μμ and
        every ΔR_jj per sample), ``auc`` per sample and multiplicity, ``cost`` in seconds.
    """
    from evgen.io import read_events
    from evgen.validation.compare import validate
    from evgen.validation.records import write_report
    from evgen_zjets_inn.discflow.config import DiscFlowConfig

    out = Path(output_dir)
    inn_path = Path(inn_run)
    if not (inn_path / "config.json").exists():
        raise InputError(f"{inn_path}: not a run directory (no config.json); train a zjets-inn first")
    if n_generated < 100:
        raise InputError(f"n_generated = {n_generated}: generate at least 100 events")
    training = read_events([str(p) for p in training_files], entry_stop=max_events)
    truth = read_events([str(p) for p in truth_files], entry_stop=max_events)
    if len(training) == 0 or len(truth) == 0:
        raise InputError("the training and the truth samples must both hold events")
    out.mkdir(parents=True, exist_ok=True)  # only once the inputs are readable
    df_options = dict(discflow_config or {})
    df_cfg = DiscFlowConfig.from_mapping(deep_merge(df_options, {"discflow": {"init_from": str(inn_path)}}))
    rw_options = (
        dict(reweighter_config)
        if reweighter_config is not None
        else deep_merge(
            {"seed": df_cfg.seed, "classifier": df_cfg.discriminator.to_dict()}, df_cfg.reweighter
        )
    )
    meta = {"study": "discflow", "inn_run": str(inn_path), "seed": seed}

    samples, discflow, discflow_seconds = _samples(
        training, inn_path, out, n_generated, seed, df_options, rw_options, meta, progress
    )

    validations = {
        name: validate(truth, events, None, plots=False, reference_label="truth", generated_label=name)
        for name, events in samples.items()
    }
    rows = _chi2_table(validations)
    targets = _targets(rows)

    auc = _auc_per_sample(truth, samples, out / "auc.json", test_classifier, seed, progress)

    inn_history = (
        json.loads((inn_path / "history.json").read_text()) if (inn_path / "history.json").exists() else {}
    )
    df_history = discflow.history or {}
    cost = {
        "inn_training_seconds": _seconds(inn_history),
        "discflow_total_seconds": discflow_seconds,
        "discflow_joint_seconds": _seconds(df_history.get("joint", [])),
        "device": df_cfg.training.device,
    }
    last = (df_history.get("joint") or [{}])[-1]
    # how hard the last joint epoch pushed: where w_D meets weight_clip the loss weights are largest
    joint = {
        key: last[key]
        for key in ("alpha0", "mean_abs_half_minus_d", "clipped_fraction", "max_loss_weight")
        if key in last
    }
    auc_rows = [
        {"sample": name, **{f"{n} jets": Measurement(v["auc"], v["error"]) for n, v in per_n.items()}}
        for name, per_n in auc.items()
    ]
    result = {
        "targets": targets,
        "auc": auc_rows,
        "cost": cost,
        "joint_last_epoch": joint,
        "chi2_key_observables": [r for r in rows if r["key"]],
        "chi2": rows,
        "config": {
            "training_files": [str(p) for p in training_files],
            "truth_files": [str(p) for p in truth_files],
            "inn_run": str(inn_path),
            "n_training": len(training),
            "n_truth": len(truth),
            "n_generated": n_generated,
            "seed": seed,
            "discflow": discflow.config.to_dict(),
            "reweighter": rw_options,
        },
    }
    write_report(
        out,
        "discflow_study",
        result,
        title="DiscFlow and reweighting against independent truth (Precision Enthusiasts Sec. 3)",
        description=(
            "χ²/ndf of every observable against the truth sample for the training sample itself, the plain INN, "
            "the INN with standalone reweighting, DiscFlow and DiscFlow with its final reweighting; the target "
            "(issue) is χ²/ndf of M_μμ and every ΔR_jj at most twice the training sample's. AUC: a fresh "
            "classifier per multiplicity between each sample and the truth (0.5 = indistinguishable)."
        ),
    )
    return result
