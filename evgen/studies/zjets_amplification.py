r"""What generated Z+jets events are worth: Matchev et al.'s three steps on collider events.

Matchev, Roman, Shyamsundar (arXiv:2002.06307, Sec. 6) ask of any claim that generated
events are worth more than their training sample: **predict** the uncertainty of the
generated histograms from the model alone, **validate** the prediction against independent
truth, **demonstrate** the gain. :mod:`evgen.studies.amplification` does it on a toy with
exact truth; this study does it on Z → μμ + jets with a truth *file*, for every observable
``evgen validate`` histograms (same binning), at one or several training sizes.

For each training size :math:`n_\mathrm{train}` the inputs are :math:`K` run directories of
one generator, each trained on a bootstrap resample of the same first
:math:`n_\mathrm{train}` events (``scripts/zjets_amplification_members.sh``). Each member
generates ``n_generated`` events; per observable and bin:

* **predict**: the members' mean fraction :math:`\bar\gamma_j` and the bootstrap spread
  :math:`\sigma_{\mathrm{pred},j}` (their variance less each member's own sampling variance,
  :func:`evgen.statistics.uncertainty.band_from_counts`): the uncertainty one trained model
  carries from the fluctuation of its training sample and its training. The ensemble mean's
  uncertainty is :math:`\sigma_j^2 = \sigma_{\mathrm{pred},j}^2 (1 + 1/K)`, so the predicted
  equivalent truth events are
  :math:`n_\mathrm{pred} = \sum_j p_j(1-p_j)/\sum_j \sigma_j^2`
  (:func:`evgen.statistics.equivalent_histogram.predicted_equivalent_events`);
* **validate**: pulls of :math:`\bar\gamma_j` against the truth fractions :math:`\tau_j`,
  :math:`(\bar\gamma_j - \tau_j)/\sqrt{\sigma_j^2 + \mathrm{Var}\,\bar\gamma_j + \mathrm{Var}\,\tau_j}`
  (the truth file's own statistics included; the unbiased variance of
  :func:`evgen.statistics.coverage.ensemble_pull_variance`), and their 68 % coverage (a
  Student-t interval with Welch–Satterthwaite degrees of freedom per bin: :math:`K - 1` where
  the members' spread dominates, Gaussian where the truth's statistics do) over the *bulk*:
  bins holding at least :data:`BULK_FRACTION` of the truth. An observable has 15–40 bulk bins,
  so its coverage scatters by ±0.07–0.12 even for a calibrated band; each coverage gets the
  two-sided binomial p-value of :func:`evgen.statistics.coverage.coverage_p_value`, and the
  report lists the observables off beyond chance (p < 0.05) apart from those that only
  missed the [0.60, 0.76] window;
* **demonstrate**: the equivalent truth events *measured* from the distance of
  :math:`\bar\gamma` to the truth with both samples' statistics subtracted
  (:func:`evgen.statistics.equivalent_histogram.measured_equivalent_events`), next to the
  predicted ones; amplification = equivalent events / the training events of the same jet
  multiplicity. The training sample itself is measured the same way (it must come out near
  its own size: a check of the estimator on real events), and so is each single member
  (what a user with one trained model has).

Generated histograms are stored under ``OUTPUT/n{N}/`` so a second call (more sizes, a
different report) does not sample again.
"""

from __future__ import annotations

import glob
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, InputError

__all__ = [
    "BULK_FRACTION",
    "MIN_MEMBER_TO_TRUTH",
    "too_few_generated_warning",
    "OBSERVABLE_GROUPS",
    "observable_group",
    "histogram_sample",
    "size_report",
    "run_zjets_amplification",
    "parse_members",
]

#: A bin belongs to the bulk when it holds at least this share of the truth's events.
BULK_FRACTION = 0.005
#: Below this ratio of a member's generated events to the truth's (per multiplicity) each member's own
#: sampling noise is as large as the truth's; subtracting it from the members' spread leaves a noisy
#: σ_pred and the 68 % intervals over-cover (0.79 with 4 members at a ratio of 0.6).
MIN_MEMBER_TO_TRUTH = 2.0
#: Observable groups of the amplification figure, by name prefix (the longest prefix that
#: matches decides: ``pt_mumu``, the dimuon system, is not a muon's ``pt_mu``).
OBSERVABLE_GROUPS = {
    "muons": ("pt_mu", "eta_mu", "phi_mu"),
    "jets": ("pt_j", "eta_j", "phi_j", "mass_j"),
    "Z and balance": ("m_mumu", "pt_mumu", "y_mumu", "sum_pt"),
    "jet pairs": ("deta_", "dphi_", "dR_"),
}


def observable_group(name: str) -> str:
    """The :data:`OBSERVABLE_GROUPS` entry of an observable name."""
    matches = [
        (len(p), group)
        for group, prefixes in OBSERVABLE_GROUPS.items()
        for p in prefixes
        if name.startswith(p)
    ]
    return max(matches)[1] if matches else "other"


def _edges(truth: ak.Array) -> dict[tuple[int, str], np.ndarray]:
    from evgen.events import n_jets
    from evgen.validation.compare import observable_edges

    edges: dict[tuple[int, str], np.ndarray] = {}
    for k in sorted(int(v) for v in np.unique(n_jets(truth)) if v >= 1):
        edges.update({(k, name): e for name, e in observable_edges(truth, k).items()})
    return edges


def histogram_sample(
    events: ak.Array, edges: Mapping[tuple[int, str], np.ndarray]
) -> dict[tuple[int, str], tuple[np.ndarray, np.ndarray]]:
    """Sum of weights and of squared weights per bin, for every ``(multiplicity, observable)`` of ``edges``."""
    from evgen.events import event_weights
    from evgen.physics.observables import multiplicity_observables, select_multiplicity

    out: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
    for k in sorted({key[0] for key in edges}):
        selected = select_multiplicity(events, k)
        w = event_weights(selected)
        values = multiplicity_observables(selected, k) if len(selected) else {}
        for (kk, name), e in edges.items():
            if kk != k:
                continue
            x = values.get(name, np.empty(0))
            ww = w if len(x) else np.empty(0)
            out[(k, name)] = (np.histogram(x, e, weights=ww)[0], np.histogram(x, e, weights=ww * ww)[0])
    return out


def _save(
    path: Path, hists: Mapping[tuple[int, str], tuple[np.ndarray, np.ndarray]], meta: dict[str, Any]
) -> None:
    arrays = {}
    for (k, name), (w, w2) in hists.items():
        arrays[f"{k}|{name}|w"] = w
        arrays[f"{k}|{name}|w2"] = w2
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
    tmp.replace(path)


def _load(path: Path, meta: dict[str, Any]) -> dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] | None:
    if not path.exists():
        return None
    with np.load(path) as saved:
        if str(saved["meta"]) != json.dumps(meta, sort_keys=True):
            return None
        out: dict[tuple[int, str], list[np.ndarray]] = {}
        for key in saved.files:
            if key == "meta":
                continue
            k, name, part = key.split("|")
            out.setdefault((int(k), name), [np.empty(0), np.empty(0)])[0 if part == "w" else 1] = saved[key]
    return {key: (v[0], v[1]) for key, v in out.items()}


def _fractions(w: np.ndarray, w2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from evgen.statistics.equivalent_histogram import fraction_variances

    total = w.sum()
    if total <= 0:
        return np.zeros_like(w, dtype=np.float64), np.zeros_like(w, dtype=np.float64)
    return w / total, fraction_variances(w, w2)


def _observable_row(
    truth: tuple[np.ndarray, np.ndarray],
    training: tuple[np.ndarray, np.ndarray],
    members: Sequence[tuple[np.ndarray, np.ndarray]],
    n_train_k: int,
) -> dict[str, Any]:
    """Predict, validate and demonstrate for one observable (module docstring)."""
    from evgen.statistics.coverage import ONE_SIGMA, coverage_p_value, ensemble_pull_variance, z_for_levels
    from evgen.statistics.equivalent_histogram import (
        measured_equivalent_events,
        pooled_shape,
        predicted_equivalent_events,
    )
    from evgen.statistics.uncertainty import band_from_counts

    k = len(members)
    t, tv = truth
    tau, var_tau = _fractions(t, tv)
    # the members as draws of a band: their spread less their own sampling noise (Eq. 21, normalised)
    band = band_from_counts(
        np.arange(len(t) + 1.0), np.array([w for w, _ in members]), np.array([w2 for _, w2 in members])
    )
    mean = band.mean_fraction
    sigma_pred2 = band.fraction_sigma_pred**2
    sigma2 = sigma_pred2 * (1 + 1 / k)
    var_mean = band.fraction_sigma_stoch**2 / k  # the sampling noise of the mean histogram
    total_w = float(sum(w.sum() for w, _ in members))
    total_w2 = float(sum(w2.sum() for _, w2 in members))
    g_values = mean * total_w
    g_variances = mean * total_w2  # only the pooled shape's effective count uses it
    p = pooled_shape(t, tv, g_values, np.maximum(g_variances, 1e-300))

    measured = measured_equivalent_events(
        t,
        g_values,
        truth_variances=tv,
        generated_variances=g_variances,
        generated_fraction_variances=var_mean,
    )
    single = [
        measured_equivalent_events(t, w, truth_variances=tv, generated_variances=w2) for w, w2 in members
    ]
    single_excess = float(np.mean([s.excess for s in single]))
    # the training sample's own fluctuation is what it is worth: nothing of it is subtracted
    training_eq = measured_equivalent_events(
        t,
        training[0],
        truth_variances=tv,
        generated_variances=training[1],
        generated_fraction_variances=np.zeros(len(t)),
    )
    predicted = predicted_equivalent_events(p, np.sqrt(sigma2))
    predicted_single = predicted_equivalent_events(p, np.sqrt(sigma_pred2))

    bulk = tau >= BULK_FRACTION
    pull_variance, dof = ensemble_pull_variance(
        band.fraction_sigma_tot**2, band.fraction_sigma_stoch**2, var_tau, k
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        pulls = (mean - tau) / np.sqrt(pull_variance)
    use = bulk & np.isfinite(pulls)
    bulk_pulls = pulls[use]
    t68 = np.asarray(z_for_levels(ONE_SIGMA, dof[use]))
    covered = int(np.sum(np.abs(bulk_pulls) <= t68))

    predicted_excess = float(np.sum(sigma2))
    # a K-member variance is known to a relative sqrt(2/(K-1))
    predicted_excess_error = predicted_excess * math.sqrt(2 / max(k - 1, 1))
    combined = math.hypot(measured.excess_error, predicted_excess_error)
    z = (measured.excess - predicted_excess) / combined if combined > 0 else math.nan
    return {
        "bins": int(len(t)),
        "n_train": int(n_train_k),
        "predicted": predicted,
        "predicted_single": predicted_single,
        "measured": measured.to_dict(),
        "measured_single": {
            "value": measured.scale / single_excess if single_excess > 0 else math.inf,
            "per_member": [s.value for s in single],
        },
        "training": training_eq.to_dict(),
        "amplification_predicted": predicted / n_train_k if n_train_k else math.nan,
        "amplification_measured": measured.value / n_train_k if n_train_k else math.nan,
        "amplification_low": measured.low / n_train_k if n_train_k else math.nan,
        "amplification_high": measured.high / n_train_k if n_train_k else math.nan,
        "amplification_single": (measured.scale / single_excess / n_train_k)
        if single_excess > 0 and n_train_k
        else math.inf,
        "training_amplification": training_eq.value / n_train_k if n_train_k else math.nan,
        "predicted_minus_measured_sigma": z,
        "agree": bool(abs(z) <= 2) if math.isfinite(z) else False,
        "bulk_bins": int(bulk_pulls.size),
        "coverage_68": covered / bulk_pulls.size if bulk_pulls.size else math.nan,
        "covered_bins": covered,
        # is the coverage the nominal 68 % within the binomial chance of its few bins?
        "coverage_p_value": coverage_p_value(covered, bulk_pulls.size) if bulk_pulls.size else math.nan,
        "t68": float(np.median(t68)) if bulk_pulls.size else math.nan,
        "pull_rms": float(np.sqrt(np.mean(bulk_pulls**2))) if bulk_pulls.size else math.nan,
    }


def _effective_events(w: np.ndarray, w2: np.ndarray) -> float:
    total2 = float(w2.sum())
    return float(w.sum()) ** 2 / total2 if total2 > 0 else 0.0


def _member_to_truth_events(
    truth_hists: Mapping[tuple[int, str], tuple[np.ndarray, np.ndarray]],
    member_hists: Sequence[Mapping[tuple[int, str], tuple[np.ndarray, np.ndarray]]],
) -> dict[str, float]:
    """Per multiplicity: a member's effective generated events over the truth's (first observable's bins)."""
    out: dict[str, float] = {}
    for key in truth_hists:
        if str(key[0]) in out:
            continue
        truth = _effective_events(*truth_hists[key])
        member = float(np.mean([_effective_events(*m[key]) for m in member_hists]))
        out[str(key[0])] = member / truth if truth > 0 else math.inf
    return out


def size_report(
    truth_hists: Mapping[tuple[int, str], tuple[np.ndarray, np.ndarray]],
    training_hists: Mapping[tuple[int, str], tuple[np.ndarray, np.ndarray]],
    member_hists: Sequence[Mapping[tuple[int, str], tuple[np.ndarray, np.ndarray]]],
    n_train_per_multiplicity: Mapping[int, int],
) -> dict[str, Any]:
    """Every observable's row (:func:`_observable_row`) and the pooled coverage of one training size."""
    from evgen.statistics.coverage import (
        COVERAGE_TEST_ALPHA,
        ONE_SIGMA,
        coverage_consistent_probability,
        coverage_window_probability,
    )

    if len(member_hists) < 2:
        raise ConfigError(f"a bootstrap ensemble needs at least 2 members; got {len(member_hists)}")
    rows = []
    for key in truth_hists:
        row = _observable_row(
            truth_hists[key],
            training_hists[key],
            [m[key] for m in member_hists],
            n_train_per_multiplicity[key[0]],
        )
        rows.append({"multiplicity": key[0], "observable": key[1], "group": observable_group(key[1]), **row})
    covered = sum(r["covered_bins"] for r in rows)
    bulk = sum(r["bulk_bins"] for r in rows)
    in_range = [r for r in rows if r["bulk_bins"] and 0.60 <= r["coverage_68"] <= 0.76]
    # what a calibrated band would score on the same bulk bins (binomial per observable)
    expected_in_range = sum(coverage_window_probability(r["bulk_bins"]) for r in rows if r["bulk_bins"])
    # the per-observable test that separates a miscalibrated band from a window missed by chance
    off = [r for r in rows if r["bulk_bins"] and r["coverage_p_value"] < COVERAGE_TEST_ALPHA]
    expected_consistent = sum(coverage_consistent_probability(r["bulk_bins"]) for r in rows if r["bulk_bins"])
    member_to_truth = _member_to_truth_events(truth_hists, member_hists)

    def median(key: str) -> float:
        return float(np.median([r[key] for r in rows]))

    return {
        "members": len(member_hists),
        "median_amplification_predicted": median("amplification_predicted"),
        "median_amplification_measured": median("amplification_measured"),
        "median_amplification_single": median("amplification_single"),
        "median_training_amplification": median("training_amplification"),
        "observables_agreeing": int(sum(r["agree"] for r in rows)),
        # the target: agreement where the prediction is validated (coverage holds)
        "covered_observables_agreeing": int(sum(r["agree"] for r in in_range)),
        "covered_observables": [f"{r['multiplicity']} j {r['observable']}" for r in in_range],
        "n_train_per_multiplicity": {str(k): int(v) for k, v in n_train_per_multiplicity.items()},
        "coverage_68_pooled": covered / bulk if bulk else math.nan,
        "observables_with_coverage_in_60_76": len(in_range),
        "observables_with_coverage_in_60_76_if_calibrated": float(expected_in_range),
        "observables_with_coverage_consistent": int(sum(1 for r in rows if r["bulk_bins"]) - len(off)),
        "observables_with_coverage_consistent_if_calibrated": float(expected_consistent),
        # under- or over-covered beyond the binomial chance (p < COVERAGE_TEST_ALPHA)
        "coverage_off": [
            f"{r['multiplicity']} j {r['observable']} ({r['coverage_68']:.2f}, "
            f"{'under' if r['coverage_68'] < ONE_SIGMA else 'over'})"
            for r in off
        ],
        "member_to_truth_events": member_to_truth,
        # a member's own sampling noise above the truth's: σ_stoch's subtraction is noisy, intervals over-cover
        "too_few_generated": [k for k, r in member_to_truth.items() if r < MIN_MEMBER_TO_TRUTH],
        # the upper end of the measured amplification's 68 % interval below 1
        "worth_less_than_training": [
            f"{r['multiplicity']} j {r['observable']}" for r in rows if r["amplification_high"] < 1
        ],
        "observables": rows,
    }


def parse_members(spec: str) -> tuple[int, list[str]]:
    """``"N:PATTERN[,PATTERN…]"`` → (N, sorted run directories); patterns are globs."""
    size, sep, patterns = spec.partition(":")
    if not sep or not size.strip().isdigit() or int(size) < 1:
        raise ConfigError(f"--members {spec!r}: expected N:RUN_GLOB, e.g. 30000:runs/amp/n30000-m*")
    runs: list[str] = []
    for pattern in patterns.split(","):
        found = sorted(glob.glob(pattern.strip()))
        if not found:
            raise InputError(f"--members {spec!r}: no run directory matches {pattern.strip()!r}")
        runs += found
    return int(size), runs


def _training_counts(training: ak.Array) -> dict[int, int]:
    from evgen.events import n_jets

    counts = n_jets(training)
    return {int(k): int(np.sum(counts == k)) for k in (1, 2, 3)}


def run_zjets_amplification(
    output_dir: str | os.PathLike[str],
    truth: str | os.PathLike[str],
    training_files: Sequence[str | os.PathLike[str]],
    members: Mapping[int, Sequence[str | os.PathLike[str]]],
    *,
    n_generated: int = 200_000,
    seed: int = 1,
    plot: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the study for every training size in ``members`` (size → its bootstrap members' run directories).

    Writes ``amplification.json``, ``amplification.md`` and (with ``plot``)
    ``amplification_vs_ntrain.png``; returns the JSON content.
    """
    from tqdm.auto import tqdm

    from evgen.files import atomic_write
    from evgen.generation.run_dir import load_generator
    from evgen.io import read_events

    if n_generated < 1000:
        raise ConfigError(f"n_generated = {n_generated}: need at least 1000 events per member")
    if not members:
        raise ConfigError("give at least one training size with its members (--members N:RUN_GLOB)")
    out = Path(output_dir)
    truth_events = read_events(truth)
    edges = _edges(truth_events)
    truth_hists = histogram_sample(truth_events, edges)
    sizes: dict[str, Any] = {}
    for n_train in sorted(members):
        runs = [str(r) for r in members[n_train]]
        training = read_events([Path(p) for p in training_files], entry_stop=n_train)
        if len(training) < n_train:
            raise InputError(
                f"the training files hold {len(training)} events, fewer than n_train = {n_train}"
            )
        counts = _training_counts(training)
        training_hists = histogram_sample(training, edges)
        member_hists = []
        for index, run in enumerate(tqdm(runs, desc=f"members n={n_train}", disable=not progress)):
            meta = {
                "run": os.path.abspath(run),
                "n": n_generated,
                "seed": seed + index,
                "truth": os.path.abspath(truth),
            }
            cache = out / f"n{n_train}" / f"member_{index:02d}.npz"
            hists = _load(cache, meta)
            if hists is None:
                generated = load_generator(run).sample(n_generated, seed=seed + index)
                hists = histogram_sample(generated, edges)
                _save(cache, hists, meta)
            member_hists.append(hists)
        report = size_report(truth_hists, training_hists, member_hists, counts)
        report["runs"] = runs
        sizes[str(n_train)] = report
    result = {
        "truth": str(truth),
        "training_files": [str(p) for p in training_files],
        "n_generated_per_member": n_generated,
        "bulk_fraction": BULK_FRACTION,
        "sizes": sizes,
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "amplification.json", json.dumps(result, indent=1, default=_json_default))
    atomic_write(out / "amplification.md", markdown(result))
    if plot:
        plot_amplification_vs_ntrain(result, out / "amplification_vs_ntrain.png")
    return result


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "∞"
    if value >= 100:
        return f"{value:.3g}"
    return f"{value:.2f}"


def too_few_generated_warning(report: Mapping[str, Any]) -> str:
    """The line a report prints when members generated too few events next to the truth (:data:`MIN_MEMBER_TO_TRUTH`)."""
    ratios = report["member_to_truth_events"]
    jets = ", ".join(f"{k} jets ({ratios[k]:.2f} ×)" for k in report["too_few_generated"])
    return (
        f"Warning: each member generated fewer than {MIN_MEMBER_TO_TRUTH:g} × the truth's events with {jets}; "
        "its own sampling noise is then as large as the truth's and the 68 % intervals there over-cover. "
        "Generate more events per member (-n)."
    )


def _coverage_test_sentence(report: Mapping[str, Any]) -> str:
    """The binomial test's verdict (:func:`evgen.statistics.coverage.coverage_p_value`); empty for old reports."""
    if "coverage_off" not in report:
        return ""
    off = report["coverage_off"]
    return (
        f"Coverage consistent with 68 % (binomial p ≥ 0.05): {report['observables_with_coverage_consistent']} "
        f"observables (a calibrated band: {report['observables_with_coverage_consistent_if_calibrated']:.1f}); "
        f"off beyond chance: {len(off)}" + (": " + ", ".join(off) if off else "") + ". "
    )


def markdown(result: Mapping[str, Any]) -> str:
    """One table per training size: predicted and measured equivalent events, amplification, coverage."""
    lines = [
        "# Z+jets amplification: predicted, validated, demonstrated",
        "",
        f"Truth: `{result['truth']}`; {result['n_generated_per_member']} generated events per bootstrap member. "
        "Amplification = equivalent truth events / training events of the same multiplicity "
        "(measured: distance to the truth with both samples' statistics subtracted; predicted: the "
        "bootstrap spread). 'training' is the training sample measured the same way (≈ 1 when the "
        f"estimator is right). Coverage: the share of bulk bins (≥ {100 * result['bulk_fraction']:g} % of the "
        "truth) whose pull lies within the 68 % Student-t interval (Welch–Satterthwaite degrees of freedom "
        "per bin); 'a calibrated band' is how many observables a band with exact 68 % intervals would put "
        "in [0.60, 0.76] on the same bins by chance (binomial); 'p (binomial)' is the two-sided binomial "
        "p-value of an observable's coverage under a calibrated band: below 0.05 it is off beyond chance.",
        "",
    ]
    for size, report in result["sizes"].items():
        less = report["worth_less_than_training"]
        lines += [
            f"## n_train = {size} ({report['members']} bootstrap members; training events per multiplicity "
            f"{report['n_train_per_multiplicity']})",
            "",
            f"Median amplification: predicted {_fmt(report['median_amplification_predicted'])}, measured "
            f"{_fmt(report['median_amplification_measured'])} (one member: "
            f"{_fmt(report['median_amplification_single'])}; the training sample measured as a generator: "
            f"{_fmt(report['median_training_amplification'])}). Predicted and measured agree within 2σ for "
            f"{report['observables_agreeing']} of {len(report['observables'])} observables. "
            f"Pooled 68 % coverage of the bulk: {report['coverage_68_pooled']:.3f}; observables with coverage in "
            f"[0.60, 0.76]: {report['observables_with_coverage_in_60_76']} of {len(report['observables'])} "
            f"(a calibrated band: {report['observables_with_coverage_in_60_76_if_calibrated']:.1f}), "
            f"and of those predicted and measured agree within 2σ for {report['covered_observables_agreeing']}. "
            + _coverage_test_sentence(report)
            + f"Worth less than the training sample (upper end of the 68 % interval below 1): {len(less)} observables"
            + (": " + ", ".join(less) if less else "")
            + ".",
            "",
        ]
        if report.get("too_few_generated"):
            lines += [too_few_generated_warning(report), ""]
        lines += [
            "| jets | observable | A predicted | A measured [68 %] | A one member | training (≈ 1) | "
            "pred − meas (σ) | coverage 68 % | p (binomial) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in report["observables"]:
            lines.append(
                f"| {r['multiplicity']} | {r['observable']} | {_fmt(r['amplification_predicted'])} | "
                f"{_fmt(r['amplification_measured'])} [{_fmt(r['amplification_low'])}, {_fmt(r['amplification_high'])}] | "
                f"{_fmt(r['amplification_single'])} | {_fmt(r['training_amplification'])} | "
                f"{r['predicted_minus_measured_sigma']:+.1f} | {r['coverage_68']:.2f} | "
                f"{r.get('coverage_p_value', math.nan):.2g} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot_amplification_vs_ntrain(result: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """One panel per observable group: measured (points, median over the group) and predicted (line) vs n_train."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from evgen.files import atomic_write

    groups = list(OBSERVABLE_GROUPS)
    fig, axes = plt.subplots(1, len(groups), figsize=(4 * len(groups), 3.6), sharey=True)
    sizes = sorted(int(s) for s in result["sizes"])
    for ax, group in zip(axes, groups, strict=True):
        measured, predicted = [], []
        for s in sizes:
            rows = [r for r in result["sizes"][str(s)]["observables"] if r["group"] == group]
            m = np.array([r["amplification_measured"] for r in rows], dtype=float)
            ax.scatter([s] * len(m), np.clip(m, 1e-3, 1e3), s=8, color="0.7", zorder=1)
            measured.append(np.median(m) if len(m) else np.nan)
            predicted.append(np.median([r["amplification_predicted"] for r in rows]) if rows else np.nan)
        ax.plot(sizes, np.clip(measured, 1e-3, 1e3), "o", color="C0", label="measured (median)")
        ax.plot(sizes, predicted, "--", color="C1", label="predicted (median)")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(group)
        ax.set_xlabel("training events")
    axes[0].set_ylabel("amplification (equivalent / training events)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
