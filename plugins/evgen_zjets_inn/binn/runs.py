"""What ``evgen binn bands`` and ``evgen binn scan`` run: public functions a notebook can call too.

* :func:`run_bands`: BINN bands of every observable (Fig. 11), σ_tot against the count
  for two sample sizes (Fig. 10), Fig. 13 for several nuisance values, and, given a
  held-out reference, the pulls and coverage of that reference against the bands;
* :func:`run_train_size_scan`: one BINN per training-set size, relative uncertainty
  against the observable (Fig. 12). Each size's run directory is kept and reused.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evgen.errors import ConfigError, InputError

__all__ = ["run_bands", "run_train_size_scan", "FIG10_KEY", "FIG12_KEYS", "FIG13_KEYS"]

#: Fig. 10: the leading-jet pT of Z + 1 jet, 60 bins.
FIG10_KEY = (1, "pt_j1")
#: Fig. 12: muon and jet transverse momenta of Z + 1 jet.
FIG12_KEYS = ((1, "pt_mu1"), (1, "pt_j1"))
#: Fig. 13: leading and second jet pT of Z + 2 jets.
FIG13_KEYS = ((2, "pt_j1"), (2, "pt_j2"))


def _reference(paths: Sequence[str | os.PathLike[str]], max_events: int | None) -> Any:
    from evgen.io import read_events

    return read_events([Path(p) for p in paths], entry_stop=max_events)


def _bands_generator(
    run: Any, draws: int | None, a_values: Sequence[float] | None
) -> tuple[list[Any], Any, int]:
    """The run directories, the generator that predicts the bands (a ``binn`` or an ensemble of
    runs) and its number of draws (or members)."""
    from evgen.generation.run_dir import load_generator
    from evgen_zjets_inn.binn.zjets import ZJetsBINN

    runs = [run] if isinstance(run, (str, os.PathLike)) else list(run)
    if not runs:
        raise ConfigError("give a binn run directory or several run directories (an ensemble)")
    if len(runs) > 1:
        from evgen.generation.ensemble import RunEnsemble

        if a_values:
            raise ConfigError("--a needs one augmented binn run, not an ensemble")
        generator: Any = RunEnsemble(runs)
        if draws is not None and draws != len(runs):
            raise ConfigError(f"draws = {draws}: an ensemble of {len(runs)} runs has {len(runs)} members")
        draws = len(runs)
    else:
        run = runs[0]
        generator = load_generator(run)
        if not isinstance(generator, ZJetsBINN):
            raise InputError(
                f"{run}: holds a {generator.name!r} run; binn bands need a 'binn' run "
                "(or several runs, an ensemble)"
            )
        draws = int(draws or generator.config.bayes.draws)
    return runs, generator, draws


def _bands_binning(
    generator: Any,
    reference: Any,
    max_reference: int | None,
    n_events: int,
    seed: int,
    bins: int,
    observables: Sequence[str] | None,
    *,
    plot: bool,
) -> tuple[dict[Any, Any], dict[Any, np.ndarray], tuple[Any, ...]]:
    """The reference's observables per multiplicity and the bin edges (from the reference, or from a
    first generated sample), with the Fig. 10 binning added when plotting."""
    from evgen_zjets_inn.binn.bands import observables_by_multiplicity, reference_edges

    if reference:
        ref_events = _reference(reference, max_reference)
    else:  # the binning comes from a first generated sample
        ref_events = generator.sample(min(n_events, 50_000), seed=seed + 999_999, theta="map")
    ref_obs = observables_by_multiplicity(ref_events)
    if not ref_obs:
        raise InputError("the reference holds no events with 1-3 jets to bin")
    edges = reference_edges(ref_obs, bins)
    if observables is not None:
        unknown = sorted(set(observables) - {name for _, name in edges})
        if unknown:
            known = ", ".join(sorted({name for _, name in edges}))
            raise ConfigError(f"unknown observable(s) {', '.join(unknown)}; known: {known}")
        edges = {key: e for key, e in edges.items() if key[1] in observables}
    fig10 = (*FIG10_KEY, "fig10")
    if plot and FIG10_KEY in ref_obs:  # Fig. 10 binning (60 bins) histogrammed in the same pass
        edges[fig10] = reference_edges({FIG10_KEY: ref_obs[FIG10_KEY]}, 60)[FIG10_KEY]
    return ref_obs, edges, fig10


def _band_sizes(bands: Mapping[Any, Any]) -> list[dict[str, Any]]:
    """Per multiplicity and observable: the median relative sigma_pred and sigma_stoch in percent."""
    return [
        {
            "jets": key[0],
            "observable": key[1],
            "median_rel_sigma_pred_percent": float(
                np.nanmedian(b.relative_sigma_pred[b.mean_fraction > 1e-3]) * 100
            ),
            "median_rel_sigma_stoch_percent": float(
                np.nanmedian(
                    (b.fraction_sigma_stoch / np.maximum(b.mean_fraction, 1e-300))[b.mean_fraction > 1e-3]
                )
                * 100
            ),
        }
        for key, b in bands.items()
    ]


def _augmentation_bands(
    generator: Any,
    a_values: Sequence[float],
    edges: Mapping[Any, np.ndarray],
    n_events: int,
    draws: int,
    seed: int,
) -> tuple[list[Any], dict[float, Any], list[dict[str, Any]]]:
    """Bands of the Fig. 13 observables for every nuisance value ``a`` (Eq. 23), and their rows."""
    from evgen_zjets_inn.binn.bands import zjets_bands

    keys = [k for k in FIG13_KEYS if k in edges]
    by_a = {}
    for a in a_values:
        by_a[float(a)] = zjets_bands(
            generator, n_events, draws, {k: edges[k] for k in keys}, seed=seed, a=float(a)
        )
    rows = [
        {
            "a": a,
            "jets": key[0],
            "observable": key[1],
            "mean": float(np.sum(b.mean_fraction * b.centers) / max(np.sum(b.mean_fraction), 1e-300)),
            "median_rel_sigma_pred_percent": float(
                np.nanmedian(b.relative_sigma_pred[b.mean_fraction > 1e-3]) * 100
            ),
        }
        for a, by_key in by_a.items()
        for key, b in by_key.items()
    ]
    return keys, by_a, rows


def _scale_words(sigma_scale: float | Mapping[int, float]) -> str:
    """``1.4``, or ``1: 0.749, 2: 1.25, 3: 1.87 (per jet multiplicity)``, for a report's description."""
    if isinstance(sigma_scale, Mapping):
        return ", ".join(f"{n}: {v:.3g}" for n, v in sorted(sigma_scale.items())) + " (per jet multiplicity)"
    return f"{sigma_scale:.3g}"


def run_bands(
    run: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    *,
    n_events: int = 100_000,
    draws: int | None = None,
    reference: Sequence[str | os.PathLike[str]] | None = None,
    max_reference: int | None = None,
    bins: int = 40,
    observables: Sequence[str] | None = None,
    a_values: Sequence[float] | None = None,
    small_n: int = 1000,
    seed: int = 0,
    plot: bool = True,
    formats: Sequence[str] = ("png", "pdf"),
    progress: bool = True,
    sigma_scale: float | Mapping[int, float] = 1.0,
) -> dict[str, Any]:
    """Bands of a trained ``binn`` run: Figs. 10, 11 (and 13 with ``a_values``), report ``binn_bands``.

    Parameters
    ----------
    run
        Run directory of a trained ``binn``; or several run directories of any generator, an
        ensemble (:class:`evgen.generation.ensemble.RunEnsemble`, e.g. bootstrap members of
        ``evgen train GEN --bootstrap SEED``) whose members take the place of the weight draws.
    n_events
        Events generated per weight draw.
    draws
        Weight draws (default: the run's ``bayes.draws``).
    reference
        ROOT files of a held-out sample: drawn in the figures, binned the same way and compared
        with the bands (pulls, coverage); its own statistical errors enter the pulls.
    bins
        Bins per observable (Fig. 10 uses 60).
    observables
        Only these observables (names as in :func:`evgen.physics.observables.multiplicity_observables`,
        e.g. ``pt_j1``); all by default.
    a_values
        Nuisance values for Fig. 13 (augmented runs only).
    small_n
        The small sample size of Fig. 10.
    formats
        Figure formats.
    sigma_scale
        Factor on every :math:`\\sigma_\\mathrm{pred}` in the pulls and the figures, or one per jet
        multiplicity (``{1: λ1, 2: λ2, 3: λ3}``), chosen on a calibration training: with
        ``reference`` the report always carries ``sigma_scale_for_68_bulk`` (and
        ``…_by_multiplicity``), the factor(s) that would bring *this* reference's pooled bulk
        coverage to 68 % (:func:`~evgen_zjets_inn.binn.bands.sigma_scale_for_coverage`); pass the
        calibration run's value here for independent runs.
    """
    from evgen.validation.records import write_report
    from evgen_zjets_inn.binn.bands import (
        band_validation,
        plot_augmentation,
        plot_bands,
        plot_sigma_vs_count,
        reference_histograms,
        scale_for,
        sigma_scale_for_coverage,
        zjets_bands,
    )

    given = sigma_scale if isinstance(sigma_scale, Mapping) else (0,)
    scaled = any(scale_for(sigma_scale, n) != 1.0 for n in given)  # checks every factor
    runs, generator, draws = _bands_generator(run, draws, a_values)
    output_dir = Path(output_dir)
    ref_obs, edges, fig10 = _bands_binning(
        generator, reference, max_reference, n_events, seed, bins, observables, plot=plot
    )
    all_bands = zjets_bands(generator, n_events, draws, edges, seed=seed, progress=progress)
    bands = {key: band for key, band in all_bands.items() if len(key) == 2}
    edges = {key: e for key, e in edges.items() if len(key) == 2}
    ref_hists = reference_histograms(ref_obs, edges) if reference else None
    result: dict[str, Any] = {
        "run": [str(r) for r in runs] if len(runs) > 1 else str(runs[0]),
        "predicted_by": "ensemble" if len(runs) > 1 else "binn",
        "n_events": n_events,
        "draws": draws,
        "observables": _band_sizes(bands),
    }
    if ref_hists is not None:
        result["validation_against_reference"] = band_validation(bands, ref_hists, sigma_scale=sigma_scale)
        if scaled:
            result["validation_unscaled"] = band_validation(bands, ref_hists)
    if ref_hists is not None and result["validation_against_reference"]["pooled_bulk"]:
        needed = sigma_scale_for_coverage(bands, ref_hists)
        per_n = sigma_scale_for_coverage(bands, ref_hists, by_multiplicity=True)
        # None: no factor reaches 68 % (a bias, not a spread)
        result["sigma_scale_for_68_bulk"] = needed if math.isfinite(needed) else None
        result["sigma_scale_for_68_bulk_by_multiplicity"] = {
            str(n): (v if math.isfinite(v) else None) for n, v in per_n.items()
        }
    files: list[Path] = []
    if plot:
        files += plot_bands(
            bands,
            output_dir,
            ref_hists,
            reference_label="held-out" if reference else "reference",
            sigma_scale=sigma_scale,
        )
        if fig10 in all_bands:
            small = zjets_bands(
                generator, small_n, draws, {fig10: all_bands[fig10].edges}, seed=seed + 50_000
            )
            if fig10 in small:
                files += plot_sigma_vs_count(
                    {f"{small_n} events": small[fig10], f"{n_events} events": all_bands[fig10]},
                    output_dir,
                    formats=formats,
                )
    if a_values:
        if not generator.config.augmentation.enabled:
            raise ConfigError(
                f"{runs[0]}: trained without augmentation; --a needs [augmentation] enabled = true"
            )
        keys, by_a, result["augmentation"] = _augmentation_bands(
            generator, a_values, edges, n_events, draws, seed
        )
        if plot and keys:
            files += plot_augmentation(by_a, keys, output_dir, formats=formats)
    paths = write_report(
        output_dir,
        "binn_bands",
        result,
        title="BINN uncertainty bands (Precision Enthusiasts Sec. 4)",
        description=(
            (f"{draws} ensemble members" if len(runs) > 1 else f"{draws} weight draws")
            + f" x {n_events} events. sigma_pred from Eq. (21) via sigma_tot^2 - sigma_stoch^2; "
            "shapes normalised per jet multiplicity."
            + (
                " Pulls compare a held-out sample with the BINN mean, with sigma_pred, the generated and the "
                "held-out statistical errors in quadrature."
                if reference
                else ""
            )
            + (
                f" sigma_pred scaled by {_scale_words(sigma_scale)} (chosen on a calibration training)."
                if scaled
                else ""
            )
        ),
    )
    result["files"] = [p.name for p in files] + [p.name for p in paths.values()]
    return result


def run_train_size_scan(
    data: Sequence[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str],
    train_sizes: Sequence[int],
    *,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    n_events: int = 100_000,
    draws: int | None = None,
    bins: int = 40,
    seed: int = 0,
    plot: bool = True,
    formats: Sequence[str] = ("png", "pdf"),
    progress: bool = True,
) -> dict[str, Any]:
    """Fig. 12: train one ``binn`` per training-set size (the first ``size`` events of ``data``) and
    compare the relative uncertainties of ``pt_mu1`` and ``pt_j1`` in Z + 1 jet.

    Run directories ``OUTPUT/runs/size_<N>`` are reused when complete (delete one to retrain);
    an interrupted training resumes from its checkpoints.
    """
    from evgen.generation.run_dir import RunDir, load_generator
    from evgen.training.api import train_generator
    from evgen.validation.records import write_report
    from evgen_zjets_inn.binn.bands import (
        observables_by_multiplicity,
        plot_train_size_scan,
        reference_edges,
        zjets_bands,
    )

    if isinstance(config, Mapping):  # train_generator sets dotted overrides in place
        config = copy.deepcopy(dict(config))
    sizes = sorted({int(s) for s in train_sizes})
    if not sizes or sizes[0] < 100:
        raise ConfigError(f"--train-sizes {list(train_sizes)}: give sizes of at least 100 events")
    output_dir = Path(output_dir)
    bands: dict[int, Any] = {}
    edges = None
    rows = []
    for size in sizes:
        run_path = output_dir / "runs" / f"size_{size}"
        if (run_path / "model.json").exists() and RunDir(run_path).generator_name() == "binn":
            generator = load_generator(run_path)
        else:
            generator = train_generator(
                "binn",
                list(data),
                run_path,
                config=config,
                overrides={**dict(overrides or {}), "data.max_events": size},
                progress=progress,
            )
        if edges is None:
            reference = _reference(data, None)
            obs = observables_by_multiplicity(reference, [name for _, name in FIG12_KEYS])
            edges = reference_edges({k: obs[k] for k in FIG12_KEYS if k in obs}, bins)
            if not edges:
                raise InputError(f"{', '.join(map(str, data))}: no Z + 1 jet events to bin")
        bands[size] = zjets_bands(
            generator, n_events, int(draws or generator.config.bayes.draws), edges, seed=seed
        )
        for key, band in bands[size].items():
            bulk = band.mean_fraction > 1e-3
            rows.append(
                {
                    "train_size": size,
                    "jets": key[0],
                    "observable": key[1],
                    "median_rel_sigma_pred_percent": float(
                        np.nanmedian(band.relative_sigma_pred[bulk]) * 100
                    ),
                    "training_stat_percent_at_same_bins": float(
                        np.nanmedian(1.0 / np.sqrt(np.maximum(band.mean_fraction[bulk] * size, 1e-300))) * 100
                    ),
                }
            )
    files: list[Path] = []
    if plot:
        files += plot_train_size_scan(
            bands, [k for k in FIG12_KEYS if k in (edges or {})], output_dir, formats=formats
        )
    result = {"train_sizes": sizes, "n_events": n_events, "rows": rows}
    paths = write_report(
        output_dir,
        "binn_train_sizes",
        result,
        title="BINN uncertainty against the training-set size (Precision Enthusiasts Fig. 12)",
        description="Median relative sigma_pred over bins holding at least 0.1 % of the events, next to "
        "the relative Poisson error a training sample of that size would have in the same bins.",
    )
    result["files"] = [p.name for p in files] + [p.name for p in paths.values()]
    return result
