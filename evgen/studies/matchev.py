"""Matchev et al., Appendix A: a "perfect GAN" cannot beat its training statistics.

The truth is the unit Gaussian of Eq. 25. The "perfectly trained GAN" of Eq. 26 is a
Gaussian fitted (maximum likelihood) to :math:`n` training events from the truth; it
then generates :math:`n_\\mathrm{gen}` events. Measuring :math:`\\mu` as the sample
mean in many pseudo-experiments (a new training sample for each),

* events sampled from the truth give a spread :math:`1/\\sqrt{n_\\mathrm{gen}}`;
* events from the fitted Gaussian give
  :math:`\\sqrt{\\sigma_\\mathrm{train}^2 + \\sigma_\\mathrm{gen}^2}` with
  :math:`\\sigma_\\mathrm{train} = 1/\\sqrt{n}` (the training sample's statistical error,
  inherited as a systematic one) and :math:`\\sigma_\\mathrm{gen} = 1/\\sqrt{n_\\mathrm{gen}}`:
  it plateaus at :math:`1/\\sqrt{n}` however many events are generated (Figs. 5, 6).

Figure 7 follows three training samples: each funnel of generated means converges
to its own training mean, not to the truth.

Sampling
--------
The sample mean of :math:`m` draws from :math:`N(\\mu, \\sigma^2)` is exactly
:math:`N(\\mu, \\sigma^2/m)`, so by default (``method="exact"``) generated means are drawn
directly from that distribution: 100k pseudo-experiments take well under a second
at any :math:`n_\\mathrm{gen}`. ``method="explicit"`` draws every event (for
cross-checks at small sizes). Training samples are always drawn event by event.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from evgen.errors import ConfigError
from evgen.interfaces import Measurement

__all__ = [
    "DEFAULT_N_GEN",
    "train_perfect_gans",
    "sample_means",
    "run_matchev",
    "plot_matchev",
]

#: Generated sample sizes of the default study (Matchev Fig. 5 uses 30 ... 1000).
DEFAULT_N_GEN = (30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000)

#: Largest number of normal draws held in memory at once.
_CHUNK = 4_000_000


def train_perfect_gans(
    n_train: int, n_experiments: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Fit Eq. 26 to ``n_experiments`` independent training samples of ``n_train`` events.

    Returns the maximum-likelihood :math:`(\\hat\\mu_n, \\hat\\sigma_n)` of each, drawing
    every training event from the truth (Eq. 25).
    """
    mu = np.empty(n_experiments)
    sigma = np.empty(n_experiments)
    step = max(1, _CHUNK // n_train)
    for start in range(0, n_experiments, step):
        stop = min(start + step, n_experiments)
        x = rng.standard_normal((stop - start, n_train))
        mu[start:stop] = x.mean(axis=1)
        sigma[start:stop] = x.std(axis=1)  # maximum likelihood (ddof=0)
    return mu, sigma


def sample_means(
    mu: np.ndarray | float,
    sigma: np.ndarray | float,
    n_gen: int,
    rng: np.random.Generator,
    size: int | None = None,
    method: Literal["exact", "explicit"] = "exact",
) -> np.ndarray:
    """Sample means of ``n_gen`` events drawn from :math:`N(\\mu, \\sigma^2)`, one per entry.

    ``mu`` and ``sigma`` broadcast against ``size`` (default: their common length).
    """
    mu_b, sigma_b = np.broadcast_arrays(np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64))
    if size is not None:
        mu_b, sigma_b = np.broadcast_to(mu_b, (size,)), np.broadcast_to(sigma_b, (size,))
    mu_b, sigma_b = mu_b.ravel(), sigma_b.ravel()
    n = len(mu_b)
    if method == "exact":
        return mu_b + sigma_b * rng.standard_normal(n) / math.sqrt(n_gen)
    if method != "explicit":
        raise ConfigError(f"method must be 'exact' or 'explicit'; got {method!r}")
    out = np.empty(n)
    step = max(1, _CHUNK // n_gen)
    for start in range(0, n, step):
        stop = min(start + step, n)
        z = rng.standard_normal((stop - start, n_gen)).mean(axis=1)
        out[start:stop] = mu_b[start:stop] + sigma_b[start:stop] * z
    return out


def _std(values: np.ndarray) -> Measurement:
    """Standard deviation with its (Gaussian) error :math:`s/\\sqrt{2(k-1)}`."""
    k = len(values)
    s = float(np.std(values, ddof=1))
    return Measurement(s, s / math.sqrt(2.0 * (k - 1)))


def _spread_vs_n_gen(
    n_gen: Sequence[int],
    n_train: int,
    pseudo_experiments: int,
    mu_hat: np.ndarray,
    sigma_hat: np.ndarray,
    rng_true: np.random.Generator,
    rng_gan: np.random.Generator,
    method: str,
    progress: bool,
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Per ``n_gen``: sample means of true and of "perfect GAN" events over the pseudo-experiments,
    their spread against the prediction sqrt(1/n_train + 1/n_gen), and the in-situ coverage."""
    from tqdm.auto import tqdm

    true_means = np.empty((len(n_gen), pseudo_experiments))
    gan_means = np.empty((len(n_gen), pseudo_experiments))
    rows: list[dict[str, Any]] = []
    sigma_train = 1.0 / math.sqrt(n_train)
    for i, n in enumerate(tqdm(n_gen, desc="matchev n_gen", unit="size", disable=not progress)):
        true_means[i] = sample_means(0.0, 1.0, n, rng_true, size=pseudo_experiments, method=method)
        gan_means[i] = sample_means(mu_hat, sigma_hat, n, rng_gan, method=method)
        std_true, std_gan = _std(true_means[i]), _std(gan_means[i])
        predicted = math.sqrt(sigma_train**2 + 1.0 / n)
        in_situ = sigma_hat * math.sqrt(1.0 / n_train + 1.0 / n)
        rows.append(
            {
                "n_gen": n,
                "std_true": std_true,
                "expected_true": 1.0 / math.sqrt(n),
                "std_gan": std_gan,
                "predicted_gan": predicted,
                "ratio_gan": Measurement(std_gan.value / predicted, std_gan.error / predicted),
                "in_situ_rms": float(np.sqrt(np.mean(in_situ**2))),
                "coverage_1sigma": float(np.mean(np.abs(gan_means[i]) <= in_situ)),
            }
        )
    return true_means, gan_means, rows


def _funnels(
    n_gen: Sequence[int],
    mu_hat: np.ndarray,
    sigma_hat: np.ndarray,
    rng_funnel: np.random.Generator,
    n_funnels: int,
    funnel_experiments: int,
    funnel_examples: int,
) -> tuple[list[dict[str, Any]], np.ndarray, np.ndarray]:
    """The funnels: for a few representative trainings, the mean of n_gen generated events
    converging to the training's mean (not the truth's) as n_gen grows; and example paths."""
    funnel_n = np.unique(np.round(np.logspace(math.log10(n_gen[0]), math.log10(n_gen[-1]), 25)).astype(int))
    picks = _representative(mu_hat, n_funnels)
    funnels = []
    for k in picks:
        means = np.stack(
            [sample_means(mu_hat[k], sigma_hat[k], n, rng_funnel, size=funnel_experiments) for n in funnel_n]
        )
        funnels.append(
            {
                "training_mean": float(mu_hat[k]),
                "training_sigma": float(sigma_hat[k]),
                "n_gen": funnel_n,
                "mean": means.mean(axis=1),
                "std": means.std(axis=1, ddof=1),
            }
        )
    others = np.setdiff1d(np.arange(len(mu_hat)), picks)[:funnel_examples]  # one per pseudo-experiment
    examples = np.stack([sample_means(mu_hat[others], sigma_hat[others], n, rng_funnel) for n in funnel_n])
    return funnels, funnel_n, examples


def _write_matchev(
    output_dir: Path,
    result: dict[str, Any],
    true_means: np.ndarray,
    gan_means: np.ndarray,
    mu_hat: np.ndarray,
    funnels: list[dict[str, Any]],
    funnel_n: np.ndarray,
    examples: np.ndarray,
    *,
    plot: bool,
) -> list[str]:
    """Write the figures (with ``plot``) and the JSON + Markdown report; return the file names."""
    from evgen.validation.records import write_report

    files: list[str] = []
    if plot:
        for path in plot_matchev(
            output_dir, result, true_means, gan_means, mu_hat, funnels, funnel_n, examples
        ):
            files.append(path.name)
    paths = write_report(
        output_dir,
        "matchev",
        result,
        title="Matchev et al. Appendix A: a perfect GAN trained on n events",
        description=(
            "Spread of the sample mean of n_gen events drawn from the truth N(0,1) and from a "
            f"Gaussian fitted to n_train = {result['config']['n_train']} true events (a new training sample per "
            "pseudo-experiment). Prediction for the GAN: sqrt(1/n_train + 1/n_gen); in-situ "
            "prediction: sigma_hat * sqrt(1/n_train + 1/n_gen) from the training sample alone, "
            "with its coverage of the true mean (expected 0.683)."
        ),
    )
    files += [p.name for p in paths.values()]
    return files


def run_matchev(
    output_dir: str | Path | None,
    *,
    n_train: int = 100,
    n_gen: Sequence[int] = DEFAULT_N_GEN,
    pseudo_experiments: int = 100_000,
    n_funnels: int = 3,
    funnel_experiments: int = 1000,
    funnel_examples: int = 100,
    seed: int = 0,
    method: Literal["exact", "explicit"] = "exact",
    plot: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the Gaussian toy of Matchev et al. Appendix A and write its report and figures.

    Parameters
    ----------
    output_dir
        Where ``matchev.json``, ``matchev.md`` and the figures go (None: write nothing).
    n_train
        Training events per "perfect GAN" (Eq. 26).
    n_gen
        Generated sample sizes.
    pseudo_experiments
        Pseudo-experiments per sample size, each with its own training sample.
    n_funnels, funnel_experiments, funnel_examples
        Fig. 7: number of representative trainings, generated samples per training and
        sample size, and further trainings shown as faint points.
    seed
        Seed of every random draw; results are reproducible.
    method
        ``"exact"`` or ``"explicit"`` sampling of generated means (module docstring).
    plot
        Write ``matchev_fig5/6/7`` as PNG and PDF (needs matplotlib and mplhep).
    progress
        Show a tqdm progress bar over the sample sizes.

    Returns
    -------
    dict
        ``config``; ``rows`` (per ``n_gen``: observed spreads of true and GAN means,
        the prediction :math:`\\sqrt{1/n + 1/n_\\mathrm{gen}}`, the ratio observed /
        predicted, the in-situ prediction :math:`\\hat\\sigma_n\\sqrt{1/n + 1/n_\\mathrm{gen}}`
        and its coverage); ``plateau``; ``agreement``; ``funnels``; ``files``.
    """
    n_gen = sorted({int(n) for n in n_gen})
    if n_train < 2:
        raise ConfigError(f"n_train must be at least 2 to fit a Gaussian; got {n_train}")
    if not n_gen or n_gen[0] < 1:
        raise ConfigError(f"n_gen must be positive sample sizes; got {n_gen}")
    if pseudo_experiments < 10:
        raise ConfigError(f"need at least 10 pseudo-experiments; got {pseudo_experiments}")
    if n_funnels + funnel_examples > pseudo_experiments:
        raise ConfigError("n_funnels + funnel_examples must not exceed pseudo_experiments")

    seeds = np.random.SeedSequence(seed).spawn(4)
    rng_train, rng_true, rng_gan, rng_funnel = (np.random.default_rng(s) for s in seeds)
    mu_hat, sigma_hat = train_perfect_gans(n_train, pseudo_experiments, rng_train)

    true_means, gan_means, rows = _spread_vs_n_gen(
        n_gen, n_train, pseudo_experiments, mu_hat, sigma_hat, rng_true, rng_gan, method, progress
    )
    sigma_train = 1.0 / math.sqrt(n_train)

    ratios = np.array([r["ratio_gan"].value for r in rows])
    largest = rows[-1]
    result: dict[str, Any] = {
        "config": {
            "n_train": n_train,
            "n_gen": n_gen,
            "pseudo_experiments": pseudo_experiments,
            "seed": seed,
            "method": method,
        },
        "rows": rows,
        "plateau": {
            "n_gen": largest["n_gen"],
            "std_gan": largest["std_gan"],
            "one_over_sqrt_n_train": sigma_train,
            "ratio": largest["std_gan"].value / sigma_train,
            "std_training_means": _std(mu_hat),
        },
        "agreement": {
            "max_abs_ratio_minus_one": float(np.max(np.abs(ratios - 1.0))),
            "within_10_percent": bool(np.all(np.abs(ratios - 1.0) < 0.10)),
            "coverage_expected": math.erf(1.0 / math.sqrt(2.0)),
        },
    }

    funnels, funnel_n, examples = _funnels(
        n_gen, mu_hat, sigma_hat, rng_funnel, n_funnels, funnel_experiments, funnel_examples
    )
    result["funnels"] = [
        {
            "training_mean": f["training_mean"],
            "training_sigma": f["training_sigma"],
            "final_mean": float(f["mean"][-1]),
            "final_std": float(f["std"][-1]),
        }
        for f in funnels
    ]

    files: list[str] = []
    if output_dir is not None:
        files = _write_matchev(
            Path(output_dir), result, true_means, gan_means, mu_hat, funnels, funnel_n, examples, plot=plot
        )
    result["files"] = files
    return result


def _representative(mu_hat: np.ndarray, n: int) -> np.ndarray:
    """Indices of trainings whose means sit at evenly spaced quantiles (16 % ... 84 %)."""
    if n <= 0:
        return np.array([], dtype=int)
    levels = [0.5] if n == 1 else np.linspace(0.16, 0.84, n)
    targets = np.quantile(mu_hat, levels)
    picks: list[int] = []
    for t in targets:
        order = np.argsort(np.abs(mu_hat - t))
        picks.append(int(next(i for i in order if i not in picks)))
    return np.array(picks)


def plot_matchev(
    output_dir: Path,
    result: dict[str, Any],
    true_means: np.ndarray,
    gan_means: np.ndarray,
    mu_hat: np.ndarray,
    funnels: list[dict[str, Any]],
    funnel_n: np.ndarray,
    examples: np.ndarray,
) -> list[Path]:
    """Matchev Figs. 5, 6 and 7 as ``matchev_fig{5,6,7}.png/.pdf``."""
    import matplotlib.pyplot as plt
    import mplhep as hep

    from evgen.validation.records import save_figure

    cfg = result["config"]
    n_gen, n_train = cfg["n_gen"], cfg["n_train"]
    paths: list[Path] = []
    with plt.style.context(hep.style.ROOT):
        # Fig. 5: distributions of sample means, truth (left) and perfect GAN (right)
        fig, axes = plt.subplots(1, 2, figsize=(14, 6), sharey=True)
        width = 4.0 / math.sqrt(min(n_gen[0], n_train))
        edges = np.linspace(-width, width, 161)
        shown = [i for i, n in enumerate(n_gen) if n <= 1000] or list(range(min(4, len(n_gen))))
        colors = plt.cm.viridis(np.linspace(0.0, 0.85, len(shown)))
        for ax, means, label in ((axes[0], true_means, "true sampling"), (axes[1], gan_means, "perfect GAN")):
            for color, i in zip(colors, shown, strict=True):
                counts, _ = np.histogram(means[i], bins=edges, density=True)
                hep.histplot(counts, edges, ax=ax, color=color, label=f"$n_{{gen}}$ = {n_gen[i]}")
            ax.set_xlabel(r"sample mean $\hat\mu$")
            ax.set_title(label + (f" ($n$ = {n_train})" if means is gan_means else ""), fontsize=16)
        axes[0].set_ylabel("density")
        axes[1].legend(fontsize=11)
        paths += save_figure(fig, output_dir, "matchev_fig5")

        # Fig. 6: spread of the sample mean against n_gen
        fig, ax = plt.subplots(figsize=(8, 6))
        rows = result["rows"]
        grid = np.logspace(math.log10(n_gen[0]), math.log10(n_gen[-1]), 200)
        ax.errorbar(
            n_gen,
            [r["std_true"].value for r in rows],
            [r["std_true"].error for r in rows],
            fmt="o",
            color="tab:orange",
            label="true sampling",
        )
        ax.errorbar(
            n_gen,
            [r["std_gan"].value for r in rows],
            [r["std_gan"].error for r in rows],
            fmt="s",
            color="tab:blue",
            label=f"perfect GAN ($n$ = {n_train})",
        )
        ax.plot(grid, 1 / np.sqrt(grid), color="tab:orange", lw=1, label="1/√$n_{gen}$")
        ax.plot(
            grid,
            np.sqrt(1 / n_train + 1 / grid),
            color="tab:blue",
            lw=1,
            label="√(1/$n$ + 1/$n_{gen}$)",
        )
        ax.axhline(1 / math.sqrt(n_train), color="gray", ls="--", lw=1, label="1/√$n$")
        ax.set(xscale="log", yscale="log", xlabel=r"$n_{gen}$", ylabel=r"std of sample mean")
        ax.legend(fontsize=12)
        paths += save_figure(fig, output_dir, "matchev_fig6")

        # Fig. 7: training means (top) and funnels of three perfect GANs (bottom)
        fig, (top, bottom) = plt.subplots(
            2, 1, figsize=(9, 11), gridspec_kw={"height_ratios": [1, 2], "hspace": 0.35}
        )
        width = 5.0 / math.sqrt(n_train)
        edges = np.linspace(-width, width, 61)
        counts, _ = np.histogram(mu_hat, bins=edges, density=True)
        hep.histplot(counts, edges, ax=top, color="tab:blue", histtype="fill", alpha=0.5)
        for f in funnels:
            height = counts[np.clip(np.searchsorted(edges, f["training_mean"]) - 1, 0, len(counts) - 1)]
            top.plot([f["training_mean"]], [height], "o", color="red", ms=8)
        top.set(xlabel=rf"training-sample mean ($n$ = {n_train})", ylabel="density")
        for j in range(examples.shape[1]):
            bottom.plot(funnel_n, examples[:, j], ".", color="tab:blue", alpha=0.08, ms=3)
        for f in funnels:
            bottom.fill_between(
                f["n_gen"], f["mean"] - f["std"], f["mean"] + f["std"], color="red", alpha=0.25
            )
            bottom.plot(f["n_gen"], f["mean"], "k--", lw=1)
            bottom.plot([f["n_gen"][-1]], [f["training_mean"]], "o", color="red", ms=8)
        bottom.axhline(0.0, color="gray", lw=0.8)
        bottom.set(xscale="log", xlabel=r"$n_{gen}$", ylabel=r"sample mean of generated events")
        paths += save_figure(fig, output_dir, "matchev_fig7")
    return paths
