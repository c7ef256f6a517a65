r"""Uncertainty bands of Z+jets observables from BINN weight draws, and Figs. 10-13 of arXiv:2110.13632.

:func:`zjets_bands` draws weights :math:`\theta_k`, generates events with each, and
histograms every validation observable (:func:`evgen.physics.observables.multiplicity_observables`)
per jet multiplicity; :mod:`evgen.statistics.uncertainty` turns the per-draw histograms into
:math:`\langle n\rangle`, :math:`\sigma_\mathrm{stoch}`, :math:`\sigma_\mathrm{pred}` (Eq. 19-22).
Shapes are normalised per multiplicity (each draw's events of ``n`` jets).

Figures (matplotlib + mplhep, imported only here): :func:`plot_bands` (Fig. 11),
:func:`plot_sigma_vs_count` (Fig. 10), :func:`plot_train_size_scan` (Fig. 12) and
:func:`plot_augmentation` (Fig. 13).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.events import event_weights, n_jets
from evgen.statistics.uncertainty import HistogramBand, band_from_counts

__all__ = [
    "Key",
    "observables_by_multiplicity",
    "reference_edges",
    "zjets_bands",
    "reference_histograms",
    "band_validation",
    "scaled_member_variance",
    "sigma_scale_for_coverage",
    "SigmaScale",
    "scale_for",
    "plot_bands",
    "plot_sigma_vs_count",
    "plot_train_size_scan",
    "plot_augmentation",
]

#: ``(jet multiplicity, observable name)``, optionally with a third element tagging another binning.
Key = tuple


def observables_by_multiplicity(
    events: ak.Array, names: Sequence[str] | None = None
) -> dict[Key, tuple[np.ndarray, np.ndarray]]:
    """``{(n, name): (values, weights)}`` for every multiplicity present (and observable in ``names``)."""
    from evgen.physics.observables import multiplicity_observables

    counts = n_jets(events)
    weights = event_weights(events)
    out: dict[Key, tuple[np.ndarray, np.ndarray]] = {}
    for n in sorted(set(np.unique(counts).tolist()) & {1, 2, 3}):
        sel = counts == n
        obs = multiplicity_observables(events[sel], n)
        for name, values in obs.items():
            if names is None or name in names:
                out[(n, name)] = (values, weights[sel])
    return out


def reference_edges(
    reference: Mapping[Key, tuple[np.ndarray, np.ndarray]], bins: int = 40
) -> dict[Key, np.ndarray]:
    """Bin edges per observable: the observable's fixed range or the reference's 0.1-99.9 % quantiles."""
    from evgen.physics.observables import observable_spec
    from evgen.validation.histograms import binning

    return {
        key: binning(values, bins, observable_spec(key[1]).range) for key, (values, _) in reference.items()
    }


def zjets_bands(
    generator: Any,
    n_events: int,
    draws: int,
    edges: Mapping[Key, np.ndarray],
    *,
    seed: int = 0,
    a: float | None = None,
    magic: bool = True,
    progress: bool = False,
) -> dict[Key, HistogramBand]:
    r"""Histogram ``draws`` samples of ``n_events``, one weight draw :math:`\theta_k` each (Eq. 19-21).

    Parameters
    ----------
    generator
        A trained :class:`~evgen_zjets_inn.binn.zjets.ZJetsBINN` (``sample(n, seed=, theta=k[, a=])``).
    edges
        Bin edges per ``(multiplicity, observable)``; only these are histogrammed.
    a
        Nuisance value for an augmented BINN.
    """
    from tqdm.auto import tqdm

    if draws < 2:
        raise InputError(f"draws = {draws}: need at least 2 weight draws")
    names = sorted({key[1] for key in edges})
    counts: dict[Key, list[np.ndarray]] = {k: [] for k in edges}
    sumw2: dict[Key, list[np.ndarray]] = {k: [] for k in edges}
    totals: dict[Key, list[float]] = {k: [] for k in edges}
    totals2: dict[Key, list[float]] = {k: [] for k in edges}
    kwargs: dict[str, Any] = {"magic": magic}
    if a is not None:
        kwargs["a"] = a
    for k in tqdm(range(draws), desc="binn theta draws", unit="draw", disable=not progress):
        events = generator.sample(n_events, seed=seed + k, theta=k, **kwargs)
        observed = observables_by_multiplicity(events, names)
        for key, e in edges.items():
            values, w = observed.get(key[:2], (np.zeros(0), np.zeros(0)))
            counts[key].append(np.histogram(values, e, weights=w)[0])
            sumw2[key].append(np.histogram(values, e, weights=w * w)[0])
            totals[key].append(float(w.sum()))
            totals2[key].append(float(np.sum(w * w)))
    out = {}
    for key, e in edges.items():
        t = np.array(totals[key])
        if np.any(t <= 0):
            continue  # a multiplicity some draw never produced
        out[key] = band_from_counts(e, np.array(counts[key]), np.array(sumw2[key]), t, np.array(totals2[key]))
    return out


def reference_histograms(
    reference: Mapping[Key, tuple[np.ndarray, np.ndarray]], edges: Mapping[Key, np.ndarray]
) -> dict[Key, dict[str, np.ndarray]]:
    """Normalised reference shapes per bin with their statistical errors: ``{"fraction", "error"}``."""
    out = {}
    for key, e in edges.items():
        if key not in reference:
            continue
        values, w = reference[key]
        total = w.sum()
        if total <= 0:
            continue
        h = np.histogram(values, e, weights=w)[0]
        h2 = np.histogram(values, e, weights=w * w)[0]
        out[key] = {"fraction": h / total, "error": np.sqrt(h2) / total}
    return out


def _bulk(reference_fraction: np.ndarray, low: float, high: float) -> np.ndarray:
    """Bins whose reference cumulative fraction lies inside ``[low, high]`` (the bulk of the shape)."""
    total = reference_fraction.sum()
    if total <= 0:
        return np.zeros(reference_fraction.shape, bool)
    cumulative = np.cumsum(reference_fraction) / total
    before = cumulative - reference_fraction / total
    return (before >= low) & (cumulative <= high)


#: One factor on every :math:`\sigma_\mathrm{pred}`, or one per jet multiplicity (``{1: λ1, 2: λ2, 3: λ3}``).
SigmaScale = float | Mapping[int, float]


def _factor(value: Any, given: Any) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ConfigError(f"sigma_scale = {given!r}: every factor must be a positive number")
    return float(value)


def scale_for(sigma_scale: SigmaScale, jets: int) -> float:
    """The factor of ``jets``-jet observables: the one factor, or its multiplicity's (1 where not given)."""
    if isinstance(sigma_scale, Mapping):
        for value in sigma_scale.values():  # every factor checked, not only the one asked for
            _factor(value, sigma_scale)
        return _factor(sigma_scale.get(jets, 1.0), sigma_scale)
    return _factor(sigma_scale, sigma_scale)


def _scale_record(sigma_scale: SigmaScale) -> float | dict[str, float]:
    if isinstance(sigma_scale, Mapping):
        return {str(n): scale_for(sigma_scale, n) for n in sorted(sigma_scale)}
    return _factor(sigma_scale, sigma_scale)


def scaled_member_variance(band: HistogramBand, sigma_scale: float = 1.0) -> np.ndarray:
    r"""The draws' variance of each bin fraction with :math:`\sigma_\mathrm{pred}` scaled by ``sigma_scale``.

    :math:`s^2 = \sigma_\mathrm{stoch}^2 + \lambda^2 (s^2_\text{draws} - \sigma_\mathrm{stoch}^2)`:
    Eq. (21) read backwards with the predicted part widened (:math:`\lambda > 1`) or narrowed;
    the stochastic part of each draw is the generated statistics' and stays. Where the draws'
    estimate of :math:`\sigma_\mathrm{pred}^2` is negative (noise, where the model is precise:
    :func:`~evgen.statistics.coverage.ensemble_pull_variance` keeps it unclipped) it is left as it
    is: scaling it would *narrow* those bins for :math:`\lambda > 1`. ``1`` returns the draws' own
    variance.
    """
    sigma_scale = _factor(sigma_scale, sigma_scale)
    total, stoch = band.fraction_sigma_tot**2, band.fraction_sigma_stoch**2
    if sigma_scale == 1.0:
        return total
    excess = total - stoch
    return stoch + np.where(excess > 0, sigma_scale**2 * excess, excess)


def band_validation(
    bands: Mapping[Key, HistogramBand],
    reference: Mapping[Key, Mapping[str, np.ndarray]],
    min_fraction: float = 1e-3,
    bulk: tuple[float, float] = (0.05, 0.95),
    sigma_scale: SigmaScale = 1.0,
) -> dict[str, Any]:
    r"""Pulls of a held-out reference against the predicted shapes, per observable and pooled.

    :math:`\mathrm{pull} = (g - r)/\sqrt{\sigma_\mathrm{pred}^2(1 + 1/K) + \sigma_\mathrm{stoch}^2/K + \sigma_r^2}`
    with :math:`g` the mean over the :math:`K` draws (or ensemble members) and :math:`\sigma_r`
    the reference's statistical error; bins with a mean fraction below ``min_fraction`` are
    skipped. The reference is not the truth: its own error enters. The variance is the unbiased
    one of :func:`evgen.statistics.coverage.ensemble_pull_variance` (:math:`\sigma_\mathrm{pred}^2`
    not clipped), and coverages use Student-t intervals with its Welch–Satterthwaite degrees of
    freedom per bin (:math:`K - 1` where the spread dominates, Gaussian where the reference's
    statistics do). The *bulk* of an observable is the bins between the ``bulk`` quantiles of the
    reference (all of a bin inside the central 90 % by default); the issue's target is stated there.
    ``sigma_scale`` multiplies every :math:`\sigma_\mathrm{pred}` (:func:`scaled_member_variance`),
    one factor or one per jet multiplicity, chosen on a calibration training with
    :func:`sigma_scale_for_coverage`.
    """
    from evgen.statistics.coverage import (
        COVERAGE_TEST_ALPHA,
        coverage_consistent_probability,
        coverage_p_value,
        coverage_window_probability,
        ensemble_pull_variance,
        pulls,
        summarize_pulls,
    )

    rows, pooled, pooled_bulk, pooled_dof, pooled_bulk_dof = [], [], [], [], []
    for key, band in bands.items():
        if key not in reference:
            continue
        k = band.n_draws
        g = band.mean_fraction
        variance, dof_bins = ensemble_pull_variance(
            scaled_member_variance(band, scale_for(sigma_scale, key[0])),
            band.fraction_sigma_stoch**2,
            reference[key]["error"] ** 2,
            k,
        )
        sigma = np.sqrt(variance)
        keep = g >= min_fraction
        p_all = pulls(g, reference[key]["fraction"], sigma)
        in_bulk = _bulk(reference[key]["fraction"], *bulk) & keep & np.isfinite(p_all)
        use = keep & np.isfinite(p_all)
        p, dof = p_all[use], dof_bins[use]
        if p.size < 2:
            continue
        pooled.append(p)
        pooled_dof.append(dof)
        s = summarize_pulls(p, constraints=1, dof=dof)
        row = {
            "jets": key[0],
            "observable": key[1],
            "bins": int(p.size),
            "pull_width": s.width.value,
            "coverage_68": s.coverage_68.value,
            "chi2_per_ndf": s.chi2.chi2_ndf,
        }
        if in_bulk.sum() >= 2:
            pooled_bulk.append(p_all[in_bulk])
            pooled_bulk_dof.append(dof_bins[in_bulk])
            sb = summarize_pulls(p_all[in_bulk], dof=dof_bins[in_bulk])
            n_bulk = int(in_bulk.sum())
            covered = round(sb.coverage_68.value * n_bulk)  # the fraction back to its count
            row.update(
                bulk_bins=n_bulk,
                bulk_pull_width=sb.width.value,
                bulk_coverage_68=sb.coverage_68.value,
                bulk_coverage_in_60_76=bool(0.60 <= sb.coverage_68.value <= 0.76),
                bulk_coverage_in_60_76_probability_if_calibrated=coverage_window_probability(n_bulk),
                # off beyond the binomial chance of its few bins when below COVERAGE_TEST_ALPHA
                bulk_coverage_p_value=coverage_p_value(covered, n_bulk),
                bulk_coverage_consistent_probability_if_calibrated=coverage_consistent_probability(n_bulk),
            )
        rel = band.relative_sigma_pred[keep]
        row.update(
            median_rel_sigma_pred_percent=float(np.nanmedian(rel) * 100),
            median_rel_reference_error_percent=float(
                np.nanmedian(
                    reference[key]["error"][keep] / np.maximum(reference[key]["fraction"][keep], 1e-300)
                )
                * 100
            ),
        )
        rows.append(row)
    summary = (
        summarize_pulls(
            np.concatenate(pooled), constraints=len(pooled), dof=np.concatenate(pooled_dof)
        ).to_dict()
        if pooled
        else {}
    )
    bulk_summary = (
        summarize_pulls(np.concatenate(pooled_bulk), dof=np.concatenate(pooled_bulk_dof)).to_dict()
        if pooled_bulk
        else {}
    )
    with_bulk = [r for r in rows if "bulk_bins" in r]
    return {
        "sigma_scale": _scale_record(sigma_scale),
        "pooled": summary,
        "pooled_bulk": bulk_summary,
        "observables_bulk_in_60_76": sum(r["bulk_coverage_in_60_76"] for r in with_bulk),
        # a band with exact 68 % intervals lands there by chance only so often (binomial per observable)
        "observables_bulk_in_60_76_if_calibrated": float(
            sum(r["bulk_coverage_in_60_76_probability_if_calibrated"] for r in with_bulk)
        ),
        "observables_with_bulk": len(with_bulk),
        "observables_bulk_coverage_consistent": sum(
            r["bulk_coverage_p_value"] >= COVERAGE_TEST_ALPHA for r in with_bulk
        ),
        "observables_bulk_coverage_consistent_if_calibrated": float(
            sum(r["bulk_coverage_consistent_probability_if_calibrated"] for r in with_bulk)
        ),
        "observables": rows,
    }


def sigma_scale_for_coverage(
    bands: Mapping[Key, HistogramBand],
    reference: Mapping[Key, Mapping[str, np.ndarray]],
    target: float = 0.68,
    *,
    min_fraction: float = 1e-3,
    bulk: tuple[float, float] = (0.05, 0.95),
    bounds: tuple[float, float] = (1e-2, 1e3),
    iterations: int = 40,
    by_multiplicity: bool = False,
) -> float | dict[int, float]:
    r"""The factor on :math:`\sigma_\mathrm{pred}` that brings the pooled bulk 68 % coverage to ``target``.

    A band's global temperature chosen on data: run it on a *calibration* training against a held-out
    sample, then apply the factor (``band_validation(..., sigma_scale=λ)``, ``evgen binn bands
    --sigma-scale λ``) to independent trainings and validate there, as Matchev et al. (Sec. 6)
    ask of a predicted uncertainty. Coverage grows with λ; bisection in :math:`\log\lambda` between
    ``bounds``. Returns ``inf`` when even the upper bound does not reach ``target`` (the reference
    error alone is too small for the bias) and the lower bound when it over-covers there already.
    ``by_multiplicity``: one factor per jet multiplicity (``{n: λ_n}``), each from the pooled bulk of
    that multiplicity's observables: each multiplicity's density is learned by its own subnets
    from its own, differently sized share of the events.
    """
    if by_multiplicity:
        subsets = {
            n: {key: band for key, band in bands.items() if key[0] == n}
            for n in sorted({k[0] for k in bands})
        }
        return {
            n: float(
                sigma_scale_for_coverage(
                    subset,
                    reference,
                    target,
                    min_fraction=min_fraction,
                    bulk=bulk,
                    bounds=bounds,
                    iterations=iterations,
                )
            )
            for n, subset in subsets.items()
            if band_validation(subset, reference, min_fraction, bulk)[
                "pooled_bulk"
            ]  # a multiplicity with a bulk
        }
    if not 0 < target < 1:
        raise ConfigError(f"target = {target!r}: a coverage must lie in (0, 1)")
    lo, hi = (float(b) for b in bounds)
    if not 0 < lo < hi:
        raise ConfigError(f"bounds = {bounds!r}: expected 0 < low < high")

    def coverage(scale: float) -> float:
        pooled = band_validation(bands, reference, min_fraction, bulk, sigma_scale=scale)["pooled_bulk"]
        if not pooled:
            raise InputError("no observable has bulk bins against this reference: nothing to calibrate")
        return float(pooled["coverage_68"].value)

    if coverage(hi) < target:
        return math.inf
    if coverage(lo) >= target:
        return lo
    for _ in range(iterations):
        mid = math.sqrt(lo * hi)
        if coverage(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


# -- figures --------------------------------------------------------------------------------------
def _pyplot() -> Any:
    from evgen.plotting import pyplot

    return pyplot()


def plot_bands(
    bands: Mapping[Key, HistogramBand],
    output_dir: str | Path,
    reference: Mapping[Key, Mapping[str, np.ndarray]] | None = None,
    *,
    label: str = "BINN",
    reference_label: str = "reference",
    formats: Sequence[str] = ("png", "pdf"),
    ncols: int = 4,
    sigma_scale: SigmaScale = 1.0,
) -> list[Path]:
    """Fig. 11: per multiplicity, BINN density with its :math:`\\pm\\sigma_\\mathrm{pred}` band and the
    relative uncertainty, next to a reference histogram; ``binn_bands_{n}j.{png,pdf}``.
    ``sigma_scale`` widens the drawn band as :func:`band_validation` does."""
    from evgen.physics.observables import observable_spec
    from evgen.validation.records import save_figure

    plt = _pyplot()
    written: list[Path] = []
    for n in sorted({key[0] for key in bands if len(key) == 2}):
        keys = [key for key in bands if key[0] == n and len(key) == 2]
        nrows = math.ceil(len(keys) / ncols)
        fig = plt.figure(figsize=(4.2 * ncols, 4.4 * nrows))
        outer = fig.add_gridspec(nrows, ncols, hspace=0.35, wspace=0.4)
        for i, key in enumerate(keys):
            band, scale = bands[key], scale_for(sigma_scale, key[0])
            cell = outer[divmod(i, ncols)].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.05)
            ax, ax_rel = fig.add_subplot(cell[0]), fig.add_subplot(cell[1])
            edges, width = band.edges, band.widths
            d, s = band.density, scale * band.density_sigma_pred
            ax.stairs(d + s, edges, baseline=d - s, fill=True, color="C0", alpha=0.35, lw=0)
            ax.stairs(d, edges, color="C0", label=label)
            rel = scale * band.relative_sigma_pred * 100
            ax_rel.stairs(np.nan_to_num(rel), edges, color="C0")
            if reference is not None and key in reference:
                r = reference[key]
                centers = 0.5 * (edges[1:] + edges[:-1])
                ax.errorbar(
                    centers,
                    r["fraction"] / width,
                    r["error"] / width,
                    fmt=".",
                    color="black",
                    ms=3,
                    label=reference_label,
                )
                with np.errstate(divide="ignore", invalid="ignore"):
                    ref_rel = np.where(r["fraction"] > 0, r["error"] / r["fraction"] * 100, np.nan)
                ax_rel.stairs(np.nan_to_num(ref_rel), edges, color="black", ls=":")
            spec = observable_spec(key[1])
            if spec.log:
                ax.set_yscale("log")
            ax.tick_params(labelbottom=False, labelsize=8)
            ax.set_ylabel("normalised", fontsize=9)
            ax_rel.set_ylim(0, 20)
            ax_rel.set_ylabel(r"$\sigma_\mathrm{pred}$ [%]", fontsize=9)
            ax_rel.set_xlabel(spec.label, fontsize=10)
            ax_rel.tick_params(labelsize=8)
            if i == 0:
                ax.legend(fontsize=8)
        factor = scale_for(sigma_scale, n)
        widened = "" if factor == 1.0 else rf" ($\sigma_\mathrm{{pred}}$ × {factor:.3g})"
        fig.suptitle(
            f"Z + {n} jet{'s' if n > 1 else ''}: {label} density and uncertainty{widened}",
            y=0.995 - 0.004 * nrows,
        )
        written += save_figure(fig, output_dir, f"binn_bands_{n}j", formats)
    return written


def plot_sigma_vs_count(
    bands: Mapping[str, HistogramBand], output_dir: str | Path, *, formats: Sequence[str] = ("png", "pdf")
) -> list[Path]:
    """Fig. 10: :math:`\\sigma_\\mathrm{tot}` per bin against the event count, one panel per sample size
    (``bands``: label -> band); the diagonal is the Poisson :math:`\\sqrt{n}`."""
    from evgen.validation.records import save_figure

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(bands), figsize=(6 * len(bands), 5.5), squeeze=False)
    for ax, (label, band) in zip(axes[0], bands.items(), strict=True):
        mean, sigma = band.mean, band.sigma_tot
        keep = mean > 0
        ax.loglog(mean[keep], sigma[keep], "o", ms=4, color="C0", label=r"$\sigma_\mathrm{tot}$ per bin")
        line = np.geomspace(mean[keep].min() * 0.5, mean[keep].max() * 2, 50)
        ax.loglog(line, np.sqrt(line), "k--", lw=1, label="Poisson √n")
        ax.set(xlabel="events per bin", ylabel=r"$\sigma_\mathrm{tot}$", title=label)
        ax.legend(fontsize=11)
    return save_figure(fig, output_dir, "binn_sigma_vs_count", formats)


def plot_train_size_scan(
    bands: Mapping[int, Mapping[Key, HistogramBand]],
    keys: Sequence[Key],
    output_dir: str | Path,
    *,
    formats: Sequence[str] = ("png", "pdf"),
) -> list[Path]:
    """Fig. 12: relative BINN uncertainty against the observable, one curve per training-set size."""
    from evgen.physics.observables import observable_spec
    from evgen.validation.records import save_figure

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(keys), figsize=(6.5 * len(keys), 5.5), squeeze=False)
    colors = plt.cm.viridis(np.linspace(0.0, 0.9, len(bands)))
    for ax, key in zip(axes[0], keys, strict=True):
        for color, (size, by_key) in zip(colors, sorted(bands.items()), strict=True):
            if key in by_key:
                band = by_key[key]
                ax.stairs(
                    np.nan_to_num(band.relative_sigma_pred * 100),
                    band.edges,
                    color=color,
                    label=f"{size} events",
                )
        ax.set(xlabel=observable_spec(key[1]).label, ylabel=r"$\sigma_\mathrm{pred}/p$ [%]", yscale="log")
        ax.set_title(f"Z + {key[0]} jet{'s' if key[0] > 1 else ''}", fontsize=14)
        ax.legend(fontsize=10)
    return save_figure(fig, output_dir, "binn_train_sizes", formats)


def plot_augmentation(
    bands: Mapping[float, Mapping[Key, HistogramBand]],
    keys: Sequence[Key],
    output_dir: str | Path,
    *,
    formats: Sequence[str] = ("png", "pdf"),
) -> list[Path]:
    """Fig. 13: densities for several nuisance values :math:`a` with their BINN bands (top) and
    the relative BINN uncertainties (bottom)."""
    from evgen.physics.observables import observable_spec
    from evgen.validation.records import save_figure

    plt = _pyplot()
    fig = plt.figure(figsize=(6.5 * len(keys), 7))
    outer = fig.add_gridspec(1, len(keys), wspace=0.3)
    colors = plt.cm.plasma(np.linspace(0.0, 0.8, len(bands)))
    for i, key in enumerate(keys):
        cell = outer[0, i].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.05)
        ax, ax_rel = fig.add_subplot(cell[0]), fig.add_subplot(cell[1])
        for color, (a, by_key) in zip(colors, sorted(bands.items()), strict=True):
            if key not in by_key:
                continue
            band = by_key[key]
            d, s = band.density, band.density_sigma_pred
            ax.stairs(d + s, band.edges, baseline=d - s, fill=True, color=color, alpha=0.3, lw=0)
            ax.stairs(d, band.edges, color=color, label=f"a = {a:g}")
            ax_rel.stairs(np.nan_to_num(band.relative_sigma_pred * 100), band.edges, color=color)
        ax.set_yscale("log")
        ax.set_ylabel("normalised")
        ax.tick_params(labelbottom=False)
        ax.legend(fontsize=10)
        ax_rel.set(xlabel=observable_spec(key[1]).label, ylabel=r"$\sigma_\mathrm{pred}$ [%]")
    return save_figure(fig, output_dir, "binn_augmentation", formats)
