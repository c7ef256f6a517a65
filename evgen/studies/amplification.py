r"""Predicted and validated amplification: the three steps of Matchev et al., Sec. 6, on a toy.

Matchev, Roman, Shyamsundar (arXiv:2002.06307, Sec. 6) ask of any claim that
generated events are worth more than their training sample:

1. **predict** the uncertainty of histograms of a large generated sample from the
   model alone (no truth, no extra simulation);
2. **validate** the prediction: generated histograms agree with the truth within it
   (pulls, :math:`\chi^2`, coverage);
3. **demonstrate** that the predicted uncertainty is smaller than the training
   sample's own statistical uncertainty.

This study does all three on a toy with exact truth (camel back by default). For
each of ``trainings`` independent training samples of ``n_train`` events:

* a Bayesian INN (``toy-binn``) is trained; ``draws`` weight draws
  :math:`\theta_k` each generate ``n_generated`` events, histogrammed in the toy's
  equal-probability cells; the generated histogram is the mean over draws
  (Eq. 18) and its predicted error per cell
  :math:`\sigma^2 = \sigma_\mathrm{pred}^2(1 + 1/K) + \sigma_\mathrm{stoch}^2/K`
  (Eq. 19-21, :mod:`evgen.statistics.uncertainty`; the :math:`1/K` terms are the finite number of draws);
* a second method, ``ensemble`` deterministic INNs trained on bootstrap resamples of
  the training sample: the spread over members is :math:`\sigma_\mathrm{pred}`;
* for contrast, a deep ensemble: ``ensemble`` deterministic INNs trained on the *same*
  training sample with different seeds: their spread sees only the training noise, not
  the fluctuation of the training sample;
* the naive error a user gets by treating the generated events as data,
  :math:`\sqrt{g(1-g)/n_\mathrm{gen}}`, for contrast;
* the training sample itself with its binomial error, as a calibration check.

Validation pools the pulls :math:`(g_j - 1/N)/\sigma_j` over cells and trainings
(:mod:`evgen.statistics.coverage`). An error estimated from :math:`K` draws or members is itself
uncertain, so the 68 % and 95 % intervals of the BINN and the ensembles are Student-t
intervals with :math:`K - 1` degrees of freedom (for :math:`K = 8`: ±1.08σ and ±2.36σ). The predicted amplification is
:math:`A_\mathrm{pred} = \sum_j g_j(1-g_j) / (n_\mathrm{train}\sum_j\sigma_j^2)`: the
number of true events whose multinomial errors equal the predicted ones, over
:math:`n_\mathrm{train}`. It is compared with the measured amplification from the
quantile MSE against the truth (:mod:`evgen.statistics.amplification`; the equal-probability
cells are the same, and the prediction uses them only as bin edges).

Trained models are not kept; each training's histograms are stored under
``OUTPUT/trainings/`` so an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.interfaces import Measurement, ToyDataset

__all__ = [
    "METHODS",
    "QUICK",
    "train_and_histogram",
    "predicted_errors",
    "run_amplification",
    "plot_amplification",
]

#: The uncertainty predictions compared, in report order.
METHODS = ("binn", "bootstrap", "ensemble", "naive", "training")
#: The methods that predict an uncertainty from the model alone.
PREDICTING = ("binn", "bootstrap", "ensemble")

#: Settings of ``--quick`` (a CPU smoke run of about a minute).
QUICK: dict[str, Any] = {
    "n_train": 500,
    "trainings": 2,
    "draws": 8,
    "ensemble": 3,
    "n_generated": 20_000,
    "binn_config": {"training": {"epochs": 60}},
    "ensemble_config": {"training": {"epochs": 40}},
}

#: Default ``toy-binn`` options of the study (CPU-sized; see docs/uncertainties.md): the
#: evidence lower bound (``kl_weight = 1``) with an empirical-Bayes prior. Its predicted
#: errors are conservative on the camel back; a tempered posterior (``kl_weight`` < 1) is an
#: option (``--binn-option kl_weight=0.1``) that did not validate on independent trainings.
BINN_DEFAULTS: dict[str, Any] = {
    "bayesian": True,
    "prior": "empirical",
    "kl_weight": 1.0,
    "log_sigma2_init": -6.0,
    "net": {"blocks": 2, "bins": 16, "hidden": 16, "layers": 2, "spline": "cubic"},
    "training": {"epochs": 600, "batch_size": 256, "lr_start": 1e-3, "lr_max": 1e-2},
}
#: Default options of the deterministic bootstrap members.
ENSEMBLE_DEFAULTS: dict[str, Any] = {
    "bayesian": False,
    "net": {"blocks": 2, "bins": 16, "hidden": 16, "layers": 2, "spline": "cubic"},
    "training": {"epochs": 300, "batch_size": 256, "lr_start": 1e-3, "lr_max": 1e-2},
}


def _cell_counts(toy: ToyDataset, points: np.ndarray, n_per_axis: Sequence[int]) -> np.ndarray:
    from evgen.statistics.quantiles import quantile_fractions

    return quantile_fractions(toy, points, n_per_axis).ravel() * len(points)


def train_and_histogram(
    toy: ToyDataset,
    training: np.ndarray,
    n_per_axis: Sequence[int],
    *,
    draws: int,
    ensemble: int,
    n_generated: int,
    binn_config: Mapping[str, Any],
    ensemble_config: Mapping[str, Any],
    seed: int,
    small_n: int = 100,
    fine_bins: int = 60,
) -> dict[str, np.ndarray]:
    """Train the BINN and the bootstrap ensemble on one training sample; histogram their draws.

    Returns per-draw cell counts: ``binn`` (``draws`` x cells, ``n_generated`` events each),
    ``bootstrap`` (``ensemble`` x cells) and ``training`` (the training sample's counts); for
    the Fig. 10 analogue, ``binn_fine`` and ``binn_fine_small``: the same draws histogrammed in
    ``fine_bins`` equal bins of the first truth coordinate (edges ``fine_edges``, from the
    training sample) with ``n_generated`` and ``small_n`` events.
    """
    from evgen.events import toy_events
    from evgen.plugins import get_generator

    cls = get_generator("toy-binn")
    binn = cls({**dict(binn_config), "seed": seed % (2**31)})
    binn.fit(toy_events(training))
    coordinate = toy.to_truth_coordinates(training)[:, 0]
    fine = np.linspace(*np.quantile(coordinate, [0.001, 0.999]), fine_bins + 1)
    out: dict[str, np.ndarray] = {"training": _cell_counts(toy, training, n_per_axis), "fine_edges": fine}
    cells, fine_large, fine_small = [], [], []
    for k in range(draws):
        points = binn.sample_points(n_generated, seed=seed + k, theta=k)
        cells.append(_cell_counts(toy, points, n_per_axis))
        fine_large.append(np.histogram(toy.to_truth_coordinates(points)[:, 0], fine)[0])
        small = binn.sample_points(small_n, seed=seed + 10_000 + k, theta=k)
        fine_small.append(np.histogram(toy.to_truth_coordinates(small)[:, 0], fine)[0])
    out["binn"], out["binn_fine"], out["binn_fine_small"] = (
        np.stack(cells),
        np.stack(fine_large),
        np.stack(fine_small),
    )
    out["small_n"] = np.array(small_n)
    rng = np.random.default_rng(seed)
    members = []
    for m in range(ensemble):
        resample = training[rng.integers(0, len(training), len(training))]
        member = cls({**dict(ensemble_config), "seed": (seed + 1 + m) % (2**31)})
        member.fit(toy_events(resample))
        members.append(
            _cell_counts(toy, member.sample_points(n_generated, seed=seed + 20_000 + m), n_per_axis)
        )
    out["bootstrap"] = np.stack(members)
    seeded = []
    for m in range(ensemble):
        member = cls({**dict(ensemble_config), "seed": (seed + 101 + m) % (2**31)})
        member.fit(toy_events(training))
        seeded.append(
            _cell_counts(toy, member.sample_points(n_generated, seed=seed + 30_000 + m), n_per_axis)
        )
    out["ensemble"] = np.stack(seeded)
    return out


def predicted_errors(
    counts: Mapping[str, np.ndarray], n_generated: int, n_train: int
) -> dict[str, dict[str, Any]]:
    r"""Generated histogram (cell fractions) and its predicted error per method, from one training.

    ``binn``, ``bootstrap`` and ``ensemble``: mean fraction over draws (members) and
    :math:`\sqrt{\sigma_\mathrm{pred}^2(1 + 1/K) + \sigma_\mathrm{stoch}^2/K}`, with ``dof`` = K - 1;
    ``naive``: the BINN histogram with the errors of ``K * n_generated`` sampled events;
    ``training``: the training histogram with its binomial errors.
    """
    from evgen.statistics.uncertainty import band_from_counts

    out: dict[str, dict[str, Any]] = {}
    for method in PREDICTING:
        if method not in counts:
            continue
        c = np.asarray(counts[method], dtype=np.float64)
        k = c.shape[0]
        band = band_from_counts(np.arange(c.shape[1] + 1.0), c, totals=np.full(k, float(n_generated)))
        sigma = np.sqrt(band.fraction_sigma_pred**2 * (1.0 + 1.0 / k) + band.fraction_sigma_stoch**2 / k)
        out[method] = {
            "fractions": band.mean_fraction,
            "sigma": sigma,
            "sigma_pred": band.fraction_sigma_pred,
            "n_events": k * n_generated,
            "dof": k - 1,
        }
    g = out["binn"]["fractions"]
    n_all = out["binn"]["n_events"]
    out["naive"] = {"fractions": g, "sigma": np.sqrt(g * (1 - g) / n_all), "n_events": n_all, "dof": math.inf}
    t = np.asarray(counts["training"], dtype=np.float64) / n_train
    out["training"] = {
        "fractions": t,
        "sigma": np.sqrt(np.maximum(t * (1 - t), 0.0) / n_train),
        "n_events": n_train,
        "dof": math.inf,
    }
    return out


def _predicted_amplification(fractions: np.ndarray, sigma: np.ndarray, n_train: int) -> float:
    denominator = n_train * float(np.sum(sigma**2))
    return float(np.sum(fractions * (1 - fractions))) / denominator if denominator > 0 else math.inf


def _histograms_of_trainings(
    dataset: ToyDataset,
    config: Mapping[str, Any],
    store: Path | None,
    key: str,
    seeds: Sequence[np.random.SeedSequence],
    *,
    resume: bool,
    progress: bool,
) -> list[dict[str, np.ndarray]]:
    """Per training: draw its sample, train and histogram every method (:func:`train_and_histogram`);
    stored in ``store`` under ``key`` and reused when ``resume`` finds the same key."""
    from tqdm.auto import tqdm

    all_counts: list[dict[str, np.ndarray]] = []
    n_train, n_per_axis = config["n_train"], tuple(config["n_per_axis"])
    for r in tqdm(
        range(config["trainings"]), desc="amplification trainings", unit="training", disable=not progress
    ):
        path = None if store is None else store / f"training_{r:03d}.npz"
        if resume and path is not None and path.exists():
            with np.load(path) as saved:
                if str(saved["key"]) == key:
                    all_counts.append({k: saved[k] for k in saved.files if k != "key"})
                    continue
        rng = np.random.default_rng(seeds[r])
        sample = dataset.sample(n_train, rng)
        counts = train_and_histogram(
            dataset,
            sample,
            n_per_axis,
            draws=config["draws"],
            ensemble=config["ensemble"],
            n_generated=config["n_generated"],
            binn_config=config["binn_config"],
            ensemble_config=config["ensemble_config"],
            seed=int(seeds[r].generate_state(1)[0] % (2**31)),
        )
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.tmp.npz")
            np.savez(tmp, key=np.array(key), **counts)
            tmp.replace(path)
        all_counts.append(counts)
    return all_counts


def _compare_with_truth(
    all_counts: Sequence[Mapping[str, np.ndarray]], n_generated: int, n_train: int, n_cells: int
) -> tuple[
    list[str],
    list[str],
    list[dict[str, Any]],
    list[dict[str, Any]],
    dict[str, list[np.ndarray]],
    dict[str, list[float]],
    dict[str, list[np.ndarray]],
    dict[str, float],
]:
    """Per training: each method's predicted errors, pulls against the truth, quantile MSE and
    predicted vs measured amplification (one row per training)."""
    from evgen.statistics.amplification import equivalent_sample_size
    from evgen.statistics.coverage import pulls
    from evgen.statistics.quantiles import quantile_mse

    truth = np.full(n_cells, 1.0 / n_cells)
    per_method_pulls: dict[str, list[np.ndarray]] = {m: [] for m in METHODS}
    rows: list[dict[str, Any]] = []
    methods = [m for m in METHODS if m in all_counts[0] or m == "naive"]
    predicting = [m for m in PREDICTING if m in methods]
    mse: dict[str, list[float]] = {m: [] for m in predicting}
    ratios: dict[str, list[np.ndarray]] = {m: [] for m in predicting}
    dof: dict[str, float] = {}
    predictions = []
    for r, counts in enumerate(all_counts):
        pred = predicted_errors(counts, n_generated, n_train)
        predictions.append(pred)
        row: dict[str, Any] = {"training": r}
        for m in methods:
            p = pulls(pred[m]["fractions"], truth, pred[m]["sigma"])
            per_method_pulls[m].append(p)
            dof[m] = pred[m]["dof"]
        for m in predicting:
            f, s = pred[m]["fractions"], pred[m]["sigma"]
            mse[m].append(quantile_mse(f))
            sigma_train = pred["training"]["sigma"]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios[m].append(s / sigma_train)
            row[f"{m}_amplification_predicted"] = _predicted_amplification(f, s, n_train)
            row[f"{m}_amplification_measured"] = float(equivalent_sample_size(mse[m][-1], n_cells)) / n_train
            row[f"{m}_chi2"] = float(np.nansum(per_method_pulls[m][-1] ** 2))
        row["training_chi2"] = float(np.nansum(per_method_pulls["training"][-1] ** 2))
        rows.append(row)
    return methods, predicting, predictions, rows, per_method_pulls, mse, ratios, dof


def _demonstration(
    predicting: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    mse: Mapping[str, list[float]],
    ratios: Mapping[str, list[np.ndarray]],
    n_cells: int,
    n_train: int,
) -> dict[str, Any]:
    """Per predicting method: predicted vs measured amplification over all trainings."""
    from evgen.statistics.amplification import amplification_summary

    demonstration: dict[str, Any] = {}
    for m in predicting:
        predicted = np.array([row[f"{m}_amplification_predicted"] for row in rows])
        measured = amplification_summary(np.array(mse[m]), n_cells, n_train)
        ratio = np.concatenate(ratios[m])
        a_pred = _mean_spread(predicted)
        a_meas = Measurement(measured["amplification"], measured["amplification_error_of_mean"])
        combined = math.hypot(a_pred.error, a_meas.error)
        demonstration[m] = {
            "amplification_predicted": a_pred,
            "amplification_measured": a_meas,
            "predicted_minus_measured_in_sigma": (a_pred.value - a_meas.value) / combined
            if combined > 0
            else math.nan,
            "predicted_within_measured_error": bool(abs(a_pred.value - a_meas.value) <= a_meas.error),
            "amplification_measured_spread": measured["amplification_spread"],
            "median_sigma_over_training_error": float(np.nanmedian(ratio)),
            "predicted_better_than_training": bool(np.nanmedian(ratio) < 1.0),
        }
    return demonstration


def _write_amplification(
    output_dir: Path,
    result: dict[str, Any],
    all_counts: Sequence[Mapping[str, np.ndarray]],
    predictions: Sequence[Mapping[str, Any]],
    dataset: ToyDataset,
    *,
    plot: bool,
) -> list[str]:
    """Write the figures (with ``plot``) and the JSON + Markdown report; return the file names."""
    from evgen.validation.records import write_report

    config = result["config"]
    files: list[str] = []
    if plot:
        files += [p.name for p in plot_amplification(output_dir, result, all_counts, predictions, dataset)]
    paths = write_report(
        output_dir,
        "amplification",
        result,
        title=f"Predicted and validated amplification on the {config['toy']} toy (Matchev et al. Sec. 6)",
        description=(
            f"{config['trainings']} independent trainings on {config['n_train']} true events each; {config['n_cells']} equal-probability "
            f"cells. BINN: {config['draws']} weight draws x {config['n_generated']} events; bootstrap: {config['ensemble']} deterministic "
            f"INNs on resampled training sets; ensemble: {config['ensemble']} deterministic INNs on the same training "
            "set with other seeds (a deep ensemble); naive: generated events treated as data; training: the "
            "training sample with its binomial errors. Pulls (generated - truth)/sigma_predicted are pooled "
            "over cells and trainings (cells of one histogram are correlated, so binomial errors on the "
            "coverage are approximate); intervals of the BINN and the ensembles are Student-t with K - 1 "
            "degrees of freedom. Predicted amplification: sum g(1-g) / (n_train sum sigma^2); "
            "measured: quantile MSE against the truth (evgen.statistics.amplification)."
        ),
    )
    files += [p.name for p in paths.values()]
    return files


def run_amplification(
    output_dir: str | Path | None,
    *,
    toy: str = "camel",
    n_train: int = 1000,
    trainings: int = 10,
    n_per_axis: Sequence[int] | None = None,
    draws: int = 30,
    ensemble: int = 8,
    n_generated: int = 100_000,
    binn_config: Mapping[str, Any] | None = None,
    ensemble_config: Mapping[str, Any] | None = None,
    seed: int = 0,
    plot: bool = True,
    resume: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Predict, validate and demonstrate the amplification of a Bayesian INN on a toy (Matchev Sec. 6).

    Parameters
    ----------
    output_dir
        Where ``amplification.json``/``.md``, the figures and ``trainings/`` go (None: nothing written,
        no resuming).
    toy
        Registered toy data set (``camel``, ``ring``, ...).
    n_train
        Training events per training.
    trainings
        Independent training samples (pulls are pooled over them).
    n_per_axis
        Equal-probability cells per truth axis (default 20 for 1D, 7 per axis otherwise).
    draws
        BINN weight draws :math:`K`.
    ensemble
        Members of the bootstrap (deterministic INNs on resampled training sets) and of the deep
        ensemble (the same training set, other seeds).
    n_generated
        Events generated per draw or member.
    binn_config, ensemble_config
        ``toy-binn`` options merged over :data:`BINN_DEFAULTS` / :data:`ENSEMBLE_DEFAULTS`.
    seed
        Seeds training samples, trainings and generation.
    plot
        Write the figures (matplotlib, mplhep).
    resume
        Reuse per-training results in ``output_dir/trainings`` written with the same settings.
    progress
        Show a progress bar over trainings.

    Returns
    -------
    dict
        ``config``, ``validation`` (per method: pull mean/width, χ², coverage of 68 % and 95 %),
        ``demonstration`` (predicted vs measured amplification), ``per_training`` rows, ``files``.
    """
    from evgen.plugins import get_dataset
    from evgen.statistics.coverage import summarize_pulls
    from evgen.training.config import deep_merge

    dataset = get_dataset(toy)
    if not isinstance(dataset, ToyDataset):
        raise ConfigError(f"toy = {toy!r}: not a toy with exact truth (try camel, ring, shell5d, gauss)")
    if n_per_axis is None:
        n_per_axis = (20,) if dataset.dim == 1 else (7,) * dataset.dim
    n_per_axis = tuple(int(k) for k in n_per_axis)
    n_cells = math.prod(n_per_axis)
    for name, value, minimum in (
        ("n_train", n_train, 10),
        ("trainings", trainings, 1),
        ("draws", draws, 2),
        ("ensemble", ensemble, 2),
        ("n_generated", n_generated, 100),
    ):
        if int(value) < minimum:
            raise ConfigError(f"{name} = {value}: must be at least {minimum}")
    if n_cells < 2:
        raise ConfigError(f"n_per_axis = {n_per_axis}: need at least 2 cells")
    binn_cfg = deep_merge(BINN_DEFAULTS, dict(binn_config or {}))
    ens_cfg = deep_merge(ENSEMBLE_DEFAULTS, dict(ensemble_config or {}))
    config = {
        "toy": toy,
        "n_train": n_train,
        "trainings": trainings,
        "n_per_axis": list(n_per_axis),
        "n_cells": n_cells,
        "draws": draws,
        "ensemble": ensemble,
        "n_generated": n_generated,
        "seed": seed,
        "binn_config": binn_cfg,
        "ensemble_config": ens_cfg,
    }
    store = None if output_dir is None else Path(output_dir) / "trainings"
    key = json.dumps({k: v for k, v in config.items() if k != "trainings"}, sort_keys=True)
    seeds = np.random.SeedSequence(seed).spawn(trainings)

    all_counts = _histograms_of_trainings(
        dataset, config, store, key, seeds, resume=resume, progress=progress
    )

    methods, predicting, predictions, rows, per_method_pulls, mse, ratios, dof = _compare_with_truth(
        all_counts, n_generated, n_train, n_cells
    )
    validation = {
        m: summarize_pulls(
            np.concatenate(per_method_pulls[m]), constraints=len(all_counts), dof=dof[m]
        ).to_dict()
        for m in methods
    }
    demonstration = _demonstration(predicting, rows, mse, ratios, n_cells, n_train)
    result: dict[str, Any] = {
        "config": config,
        "validation": validation,
        "demonstration": demonstration,
        "per_training": rows,
    }
    files: list[str] = []
    if output_dir is not None:
        files = _write_amplification(Path(output_dir), result, all_counts, predictions, dataset, plot=plot)
    result["files"] = files
    return result


def _mean_spread(values: np.ndarray) -> Measurement:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise InputError("no finite predicted amplification")
    return Measurement(float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else math.nan)


def plot_amplification(
    output_dir: Path,
    result: Mapping[str, Any],
    all_counts: Sequence[Mapping[str, np.ndarray]],
    predictions: Sequence[Mapping[str, Mapping[str, Any]]],
    toy: ToyDataset,
) -> list[Path]:
    """Figures: ``amplification_bands`` (first training), ``amplification_pulls``,
    ``amplification_sigma_vs_count`` (Fig. 10 analogue) and ``amplification_predicted_vs_measured``."""
    import matplotlib.pyplot as plt
    import mplhep as hep

    from evgen.statistics.uncertainty import band_from_counts
    from evgen.validation.records import save_figure

    cfg = result["config"]
    n_cells, n_train, n_gen = cfg["n_cells"], cfg["n_train"], cfg["n_generated"]
    paths: list[Path] = []
    colors = {
        "binn": "tab:blue",
        "bootstrap": "tab:orange",
        "ensemble": "tab:green",
        "naive": "tab:gray",
        "training": "black",
    }
    methods = list(result["validation"])
    with plt.style.context(hep.style.ROOT):
        # relative deviation per cell, first training: the generated histograms with their bands
        pred = predictions[0]
        cells = np.arange(n_cells + 1)
        fig, (ax, ax_rel) = plt.subplots(
            2, 1, figsize=(9, 8), sharex=True, gridspec_kw={"height_ratios": [2, 1], "hspace": 0.06}
        )
        for m in ("binn", "bootstrap"):
            f, s = pred[m]["fractions"] * n_cells, pred[m]["sigma"] * n_cells
            ax.stairs(f + s, cells, baseline=f - s, fill=True, alpha=0.3, color=colors[m], label=f"{m} ±σ")
            ax.stairs(f, cells, color=colors[m])
        t, ts = pred["training"]["fractions"] * n_cells, pred["training"]["sigma"] * n_cells
        ax.errorbar(cells[:-1] + 0.5, t, ts, fmt="o", color="black", ms=4, label=f"training ({n_train})")
        ax.axhline(1.0, color="red", lw=1, label="truth")
        ax.set_ylabel(r"cell fraction $\times N_\mathrm{cells}$")
        ax.legend(fontsize=12)
        for m in ("binn", "bootstrap", "training"):
            rel = pred[m]["sigma"] / np.maximum(pred[m]["fractions"], 1e-12)
            ax_rel.stairs(rel, cells, color=colors[m], label=m)
        ax_rel.set(xlabel="equal-probability cell", ylabel=r"$\sigma/g$")
        ax_rel.legend(fontsize=10)
        paths += save_figure(fig, output_dir, "amplification_bands")

        # pulls of all methods, pooled
        fig, axes = plt.subplots(1, len(methods), figsize=(4.5 * len(methods), 4.5), sharey=True)
        edges = np.linspace(-5, 5, 41)
        grid = np.linspace(-5, 5, 200)
        for ax, m in zip(axes, methods, strict=True):
            values = np.concatenate(
                [(p[m]["fractions"] - 1.0 / n_cells) / p[m]["sigma"] for p in predictions]
            )
            values = values[np.isfinite(values)]
            ax.hist(np.clip(values, -4.99, 4.99), edges, density=True, color=colors[m], alpha=0.6)
            ax.plot(grid, np.exp(-0.5 * grid**2) / math.sqrt(2 * math.pi), "k-", lw=1)
            v = result["validation"][m]
            ax.set_title(m, fontsize=14)
            ax.text(
                0.03,
                0.97,
                f"width {v['pull_width'].value:.2f}\n68%: {v['coverage_68'].value:.2f}\n95%: {v['coverage_95'].value:.2f}",
                transform=ax.transAxes,
                va="top",
                fontsize=11,
            )
            ax.set_xlabel("pull")
        axes[0].set_ylabel("density")
        paths += save_figure(fig, output_dir, "amplification_pulls")

        # sigma_tot vs count (Fig. 10 analogue), BINN, first training, fine bins of the first coordinate
        if "binn_fine" in all_counts[0]:
            first = all_counts[0]
            fig, axes = plt.subplots(1, 2, figsize=(12, 5))
            small_n = int(first["small_n"])
            for ax, key, n in ((axes[0], "binn_fine_small", small_n), (axes[1], "binn_fine", n_gen)):
                counts = np.asarray(first[key], dtype=np.float64)
                band = band_from_counts(first["fine_edges"], counts)
                keep = band.mean > 0
                ax.loglog(
                    band.mean[keep], band.sigma_tot[keep], "o", ms=4, label=r"$\sigma_\mathrm{tot}$ per bin"
                )
                line = np.geomspace(band.mean[keep].min() * 0.5, band.mean[keep].max() * 2, 50)
                ax.loglog(line, np.sqrt(line), "k--", lw=1, label="Poisson √n")
                ax.set(xlabel="events per bin", ylabel=r"$\sigma_\mathrm{tot}$", title=f"{n} events")
                ax.legend(fontsize=11)
            paths += save_figure(fig, output_dir, "amplification_sigma_vs_count")

        # predicted vs measured amplification per training
        fig, ax = plt.subplots(figsize=(6.5, 6))
        top = 0.0
        for m in result["demonstration"]:
            x = [row[f"{m}_amplification_predicted"] for row in result["per_training"]]
            y = [row[f"{m}_amplification_measured"] for row in result["per_training"]]
            ax.plot(x, y, "o", color=colors[m], label=m)
            top = max(top, *x, *y)
        ax.plot([0, top * 1.1], [0, top * 1.1], "k--", lw=1)
        ax.axhline(1.0, color="gray", lw=0.8)
        ax.set(xlabel="predicted amplification", ylabel="measured amplification (quantile MSE)")
        ax.legend(fontsize=12)
        paths += save_figure(fig, output_dir, "amplification_predicted_vs_measured")
    return paths
