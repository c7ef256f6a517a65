r"""Fig. 14 of arXiv:2110.13632: the reweighted :math:`p_{T,j1}` of inclusive Z+jets with all uncertainties.

One figure, ``combined_ptj1``, of the leading-jet :math:`p_T` of *all* events (every jet
multiplicity together):

* the truth (a reference sample) with its statistical errors;
* the BINN events reweighted by the discriminator, :math:`w_D = D/(1-D)` (Eq. 12), each
  event weighted by its own weight times :math:`w_D`;
* the BINN band :math:`\pm\sigma_\mathrm{pred}` (Eq. 21) from :math:`K` weight draws
  :math:`\theta_k`, one sample per draw (:mod:`evgen.statistics.uncertainty`); the central histogram is
  the mean of the :math:`K` normalised per-draw histograms;
* the discriminator itself, the mean :math:`D = w/(1+w)` of the generated events per bin;
* the systematic band of conditional augmentation (Sec. 4.2, Eq. 23): a sample of an
  augmented BINN for every nuisance value :math:`a`; the band is the envelope (min/max per
  bin) of :math:`p_a/p_{a_0} - 1` over the values, :math:`a_0` the smallest (0: Eq. 23 is
  then :math:`w = 1`), drawn around the reweighted central histogram.

Binning: ``bins`` linear bins between the reference's 0.1 % and 99.5 % quantiles of
:math:`p_{T,j1}`. Every histogram (truth, each draw, each :math:`a`) is normalised to unit
area inside that range; the shares of events outside are reported.

:func:`combined_view` runs everything and writes ``combined.{json,md}`` and the figure
(drawn by :func:`evgen_zjets_inn.binn.combined_figure.plot_combined`);
``evgen binn combined RUN --reference FILE`` calls it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.events import event_weights
from evgen.statistics.uncertainty import HistogramBand, band_from_counts
from evgen_zjets_inn.binn.combined_figure import plot_combined

__all__ = [
    "combined_view",
    "leading_jet_pt",
    "ptj1_edges",
    "draw_histograms",
    "augmentation_envelope",
    "shape_chi2",
]

#: ``weights(events) -> per-event weights`` of a reweighter (``Reweighter.weights``).
WeightFunction = Callable[[ak.Array], np.ndarray]

_QUANTILES = (0.001, 0.995)
_BULK = 1e-3  # bins holding at least this share of the generated events enter the medians
_AUG_SEED = 100_003  # offset of the seed of the augmented samples (the same for every a)


def leading_jet_pt(events: ak.Array) -> tuple[np.ndarray, np.ndarray]:
    """:math:`p_{T,j1}` and weights of the events that have at least one jet (``Jet.pt[:, 0]``)."""
    if "Jet" not in ak.fields(events):
        raise InputError(f"events have no Jet collection (fields {ak.fields(events)})")
    pt = ak.to_numpy(ak.fill_none(ak.firsts(events["Jet"]["pt"], axis=1), np.nan)).astype(np.float64)
    keep = np.isfinite(pt)
    return pt[keep], event_weights(events)[keep]


def ptj1_edges(values: np.ndarray, weights: np.ndarray | None = None, bins: int = 40) -> np.ndarray:
    """``bins`` linear bins between the weighted 0.1 % and 99.5 % quantiles of ``values``."""
    if bins < 1:
        raise ConfigError(f"bins = {bins}: need at least one bin")
    values = np.asarray(values, dtype=np.float64)
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    if values.size == 0 or w.sum() <= 0:
        raise InputError("the reference holds no events with a jet to bin p_T,j1")
    order = np.argsort(values)
    cumulative = np.cumsum(w[order]) / w.sum()
    lo, hi = (float(values[order][min(np.searchsorted(cumulative, q), values.size - 1)]) for q in _QUANTILES)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1)


def _normalised(values: np.ndarray, weights: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, ...]:
    """In-range counts, their sum of squared weights and both totals (unit area inside ``edges``)."""
    h = np.histogram(values, edges, weights=weights)[0]
    h2 = np.histogram(values, edges, weights=weights * weights)[0]
    return h, h2, float(h.sum()), float(h2.sum())


def draw_histograms(
    generator: Any,
    n_events: int,
    draws: int,
    edges: np.ndarray,
    *,
    reweight: WeightFunction | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    r""":math:`p_{T,j1}` of one sample per weight draw, with and without the reweighter.

    Draw ``k`` is ``generator.sample(n_events, seed=seed + k, theta=k)``; its events enter with
    their own weights times ``reweight(events)``. Histograms are normalised to unit area
    inside ``edges``.

    Returns
    -------
    dict
        ``band`` (reweighted) and ``band_raw`` (event weights only) as
        :class:`~evgen.statistics.uncertainty.HistogramBand`; ``mean_d`` and ``mean_w`` per bin (the
        generated events' mean :math:`D = w/(1+w)` and :math:`w`, weighted by their own
        weights, pooled over draws; NaN without ``reweight``); ``outside`` and
        ``outside_raw``: mean share of the weight outside ``edges``.
    """
    from tqdm.auto import tqdm

    if draws < 2:
        raise ConfigError(f"draws = {draws}: need at least 2 weight draws to estimate sigma_pred")
    rows: dict[str, list[Any]] = {k: [] for k in ("rw", "raw")}
    outside: dict[str, list[float]] = {"rw": [], "raw": []}
    d_sum = np.zeros(len(edges) - 1)
    w_sum = np.zeros(len(edges) - 1)
    norm = np.zeros(len(edges) - 1)
    for k in tqdm(range(draws), desc="binn theta draws", unit="draw", disable=not progress):
        events = generator.sample(n_events, seed=seed + k, theta=k)
        w_rw = _reweighter_weights(reweight, events)
        pt, w_evt = leading_jet_pt(events)
        w_rw = w_rw[_has_jet(events)]
        for key, w in (("rw", w_evt * w_rw), ("raw", w_evt)):
            h = _normalised(pt, w, edges)
            if h[2] <= 0:
                raise InputError(f"weight draw {k}: no generated event falls inside the p_T,j1 range")
            rows[key].append(h)
            outside[key].append(1.0 - h[2] / w.sum() if w.sum() > 0 else np.nan)
        if reweight is not None:
            norm += np.histogram(pt, edges, weights=w_evt)[0]
            d_sum += np.histogram(pt, edges, weights=w_evt * w_rw / (1.0 + w_rw))[0]
            w_sum += np.histogram(pt, edges, weights=w_evt * w_rw)[0]

    def band(key: str) -> HistogramBand:
        h, h2, t, t2 = zip(*rows[key], strict=True)
        return band_from_counts(edges, np.array(h), np.array(h2), np.array(t), np.array(t2))

    with np.errstate(divide="ignore", invalid="ignore"):
        mean_d = np.where(norm > 0, d_sum / norm, np.nan)
        mean_w = np.where(norm > 0, w_sum / norm, np.nan)
    return {
        "band": band("rw"),
        "band_raw": band("raw"),
        "mean_d": mean_d,
        "mean_w": mean_w,
        "outside": float(np.mean(outside["rw"])),
        "outside_raw": float(np.mean(outside["raw"])),
    }


def _has_jet(events: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.num(events["Jet"], axis=1)) > 0


def _reweighter_weights(reweight: WeightFunction | None, events: ak.Array) -> np.ndarray:
    if reweight is None:
        return np.ones(len(events))
    w = np.asarray(reweight(events), dtype=np.float64).reshape(-1)
    if w.shape != (len(events),) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InputError(
            f"the reweighter returned {w.size} weights for {len(events)} events; "
            "expected one finite, non-negative weight per event"
        )
    return w


def augmentation_envelope(
    generator: Any,
    a_values: Sequence[float],
    n_events: int,
    edges: np.ndarray,
    *,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    r"""Normalised :math:`p_{T,j1}` shapes of an augmented BINN for each nuisance value and their envelope.

    Each ``a`` is sampled as ``generator.sample(n_events, seed=seed, a=a)`` (the predictive
    density, :math:`a' \sim \mathcal{N}(a, \min(a/10, 0.1)^2)` per event) with the *same*
    seed, so that the shapes differ through :math:`a` only. The relative envelope is taken
    against the shape at :math:`a_0 = \min(a)`.

    Returns
    -------
    dict
        ``a_values``, ``a_nominal``, ``shapes`` (``(len(a), bins)``), ``low``/``high`` (min/max
        shape per bin) and ``rel_low``/``rel_high`` (min/max of :math:`p_a/p_{a_0} - 1`, NaN
        where :math:`p_{a_0} = 0`).
    """
    from tqdm.auto import tqdm

    a_values = [float(a) for a in a_values]
    if not a_values:
        raise ConfigError("give at least one nuisance value a for the augmentation band")
    if any(a < 0 for a in a_values):
        raise ConfigError(f"a = {a_values}: the nuisance values of Eq. (23) must be >= 0")
    a_values = sorted(set(a_values))
    shapes = []
    for a in tqdm(a_values, desc="augmentation a", unit="a", disable=not progress):
        pt, w = leading_jet_pt(generator.sample(n_events, seed=seed, a=a))
        h, _, total, _ = _normalised(pt, w, edges)
        if total <= 0:
            raise InputError(f"a = {a:g}: no generated event falls inside the p_T,j1 range")
        shapes.append(h / total)
    shapes_arr = np.array(shapes)
    nominal = shapes_arr[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(nominal > 0, shapes_arr / nominal, np.nan) - 1.0
    return {
        "a_values": a_values,
        "a_nominal": a_values[0],
        "shapes": shapes_arr,
        "low": shapes_arr.min(axis=0),
        "high": shapes_arr.max(axis=0),
        "rel_low": ratio.min(axis=0),
        "rel_high": ratio.max(axis=0),
    }


def shape_chi2(
    truth: np.ndarray, truth_error: np.ndarray, band: HistogramBand, *, sigma_pred: bool = True
) -> tuple[float, int]:
    r""":math:`\chi^2` and ndf of the central generated shape against the truth.

    :math:`\chi^2 = \sum_i (g_i - t_i)^2 / (\sigma_{t,i}^2 + \sigma_{\mathrm{stoch},i}^2/K
    + \sigma_{\mathrm{pred},i}^2)` over bins with a positive variance; :math:`g` is the mean
    of the :math:`K` normalised draws (hence :math:`\sigma_\mathrm{stoch}^2/K`), ndf the bins
    used minus one (both shapes have unit area).
    """
    g = band.mean_fraction
    var = truth_error**2 + band.fraction_sigma_stoch**2 / band.n_draws
    if sigma_pred:
        var = var + band.fraction_sigma_pred**2
    used = (var > 0) & np.isfinite(var)
    ndf = int(used.sum()) - 1
    if ndf < 1:
        return float("nan"), max(ndf, 0)
    return float(np.sum((g[used] - truth[used]) ** 2 / var[used])), ndf


# -- figure -----------------------------------------------------------------------------------------
def _load_binn(run: Any, role: str) -> Any:
    from evgen.generation.run_dir import load_generator
    from evgen_zjets_inn.binn.zjets import ZJetsBINN

    if isinstance(run, ZJetsBINN):
        return run
    path = Path(run)
    if not path.exists():
        raise InputError(f"{path}: {role} run directory not found")
    generator = load_generator(path)
    if not isinstance(generator, ZJetsBINN):
        raise InputError(f"{path}: holds a {generator.name!r} run; the {role} must be a 'binn' run")
    return generator


def _load_reweighter(reweighter: Any) -> tuple[WeightFunction, str]:
    if hasattr(reweighter, "weights"):
        return reweighter.weights, type(reweighter).__name__
    from evgen.plugins import get_reweighter

    path = Path(reweighter)
    if not path.exists():
        raise InputError(f"{path}: reweighter directory not found")
    if (path / "discriminator").is_dir() and not (path / "reweighter.json").exists():
        path = path / "discriminator"  # the OUT of `evgen reweight TRUTH GEN -o OUT`
    return get_reweighter("discriminator").load(path).weights, str(path)


def _reference_paths(reference: Any) -> list[Path]:
    paths = [reference] if isinstance(reference, (str, os.PathLike)) else list(reference or [])
    if not paths:
        raise InputError("give the truth sample: --reference FILE [FILE ...]")
    out = [Path(p) for p in paths]
    for p in out:
        if not p.is_file():
            raise InputError(f"{p}: reference file not found")
    return out


def _median(values: np.ndarray, keep: np.ndarray) -> float:
    v = values[keep & np.isfinite(values)]
    return float(np.median(v)) if v.size else float("nan")


def _load_runs(
    binn_run: Any,
    augmented_run: Any,
    a_values: Sequence[float],
    *,
    n_events: int,
    bins: int,
    draws: int | None,
) -> tuple[Any, int, Any, Any, list[float]]:
    """The settings checked and the runs loaded: the BINN, its number of draws, the augmented BINN
    (or None) and where it came from, the nuisance values."""
    if n_events < 1:
        raise ConfigError(f"n_events = {n_events}: must be positive")
    if bins < 1:
        raise ConfigError(f"bins = {bins}: need at least one bin")
    if draws is not None and draws < 2:
        raise ConfigError(f"draws = {draws}: need at least 2 weight draws to estimate sigma_pred")
    generator = _load_binn(binn_run, "binn")
    draws = int(draws if draws is not None else generator.config.bayes.draws)
    if draws < 2:
        raise ConfigError(f"{binn_run}: bayes.draws = {draws}; need at least 2 weight draws (give draws)")
    augmented = None
    if augmented_run is not None:
        augmented = _load_binn(augmented_run, "augmented")
        if not augmented.config.augmentation.enabled:
            raise ConfigError(
                f"{augmented_run}: trained without augmentation; the augmented run needs "
                "[augmentation] enabled = true"
            )
    elif generator.config.augmentation.enabled:
        augmented, augmented_run = generator, binn_run
    a_list = [float(a) for a in a_values]
    if augmented is not None and any(a < 0 for a in a_list):
        raise ConfigError(f"a = {a_list}: the nuisance values of Eq. (23) must be >= 0")
    return generator, draws, augmented, augmented_run, a_list


def _truth_histogram(
    ref_paths: Sequence[Path], bins: int
) -> tuple[ak.Array, np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
    """The truth's :math:`p_{T,j1}` binning and its normalised histogram with statistical errors."""
    from evgen.io import read_events

    truth_events = read_events(ref_paths)
    pt_ref, w_ref = leading_jet_pt(truth_events)
    edges = ptj1_edges(pt_ref, w_ref, bins)
    h, h2, total, _ = _normalised(pt_ref, w_ref, edges)
    truth, truth_error = h / total, np.sqrt(h2) / total
    return truth_events, w_ref, edges, total, truth, truth_error


def _compare(
    edges: np.ndarray,
    truth: np.ndarray,
    truth_error: np.ndarray,
    w_ref: np.ndarray,
    total: float,
    drawn: dict[str, Any],
    envelope: dict[str, Any] | None,
    *,
    bins: int,
    reweighted: bool,
) -> tuple[dict[str, Any], list[dict[str, Any]], np.ndarray, np.ndarray, np.ndarray]:
    """The truth against the generated band: χ²/ndf with and without the reweighting, the median
    relative σ_pred and augmentation spread, and one row per bin."""
    band, band_raw = drawn["band"], drawn["band_raw"]
    chi2_rw, ndf_rw = shape_chi2(truth, truth_error, band)
    chi2_raw, ndf_raw = shape_chi2(truth, truth_error, band_raw)
    keep = band.mean_fraction >= _BULK
    rel_pred = band.relative_sigma_pred
    nan = np.full(bins, np.nan)
    aug_low = nan if envelope is None else envelope["rel_low"]
    aug_high = nan if envelope is None else envelope["rel_high"]
    mean_d = drawn["mean_d"] if reweighted else nan
    mean_w = drawn["mean_w"] if reweighted else nan
    summary = {
        "chi2_ndf_reweighted": chi2_rw / ndf_rw if ndf_rw > 0 else float("nan"),
        "chi2_ndf_not_reweighted": chi2_raw / ndf_raw if ndf_raw > 0 else float("nan"),
        "chi2_reweighted": chi2_rw,
        "chi2_not_reweighted": chi2_raw,
        "ndf": ndf_rw,
        "median_rel_sigma_pred_percent": 100 * _median(rel_pred, keep),
        "median_augmentation_spread_percent": 100 * _median(0.5 * (aug_high - aug_low), keep),
        "truth_outside_range": float(1.0 - total / w_ref.sum()) if w_ref.sum() > 0 else float("nan"),
        "generated_outside_range": drawn["outside"],
    }
    per_bin = [
        {
            "pt_low": edges[i],
            "pt_high": edges[i + 1],
            "truth_fraction": truth[i],
            "truth_error": truth_error[i],
            "generated_fraction": band.mean_fraction[i],
            "generated_fraction_not_reweighted": band_raw.mean_fraction[i],
            "rel_sigma_pred": rel_pred[i],
            "augmentation_rel_low": aug_low[i],
            "augmentation_rel_high": aug_high[i],
            "mean_D": mean_d[i],
            "mean_w_D": mean_w[i],
        }
        for i in range(bins)
    ]
    return summary, per_bin, aug_low, aug_high, mean_d


def combined_view(
    binn_run: str | os.PathLike[str] | Any,
    output_dir: str | os.PathLike[str],
    *,
    reference: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    reweighter: str | os.PathLike[str] | Any | None = None,
    augmented_run: str | os.PathLike[str] | Any | None = None,
    a_values: Sequence[float] = (0.0, 4.0, 8.0, 12.0),
    n_events: int = 100_000,
    draws: int | None = None,
    bins: int = 40,
    seed: int = 0,
    formats: Sequence[str] = ("png",),
    progress: bool = False,
) -> dict[str, Any]:
    r"""Fig. 14: reweighted :math:`p_{T,j1}` of all events with :math:`D`, the BINN and the augmentation bands.

    Parameters
    ----------
    binn_run
        Run directory of a trained ``binn`` (or a loaded :class:`~evgen_zjets_inn.binn.zjets.ZJetsBINN`).
    output_dir
        Receives ``combined_ptj1.{fmt}`` and ``combined.{json,md}``.
    reference
        ROOT file(s) of the truth events; they fix the binning.
    reweighter
        Directory of a saved ``discriminator`` reweighter (``OUT/discriminator`` of ``evgen
        reweight``, or ``OUT`` itself), or any object with ``weights(events)``. Without it every
        weight is 1 and the :math:`D` panel is left out.
    augmented_run
        A ``binn`` trained with ``[augmentation] enabled = true``; by default ``binn_run`` when it
        is augmented, else no augmentation band.
    a_values
        Nuisance values of Eq. (23) for the augmentation envelope (empty: no band).
    n_events
        Events per weight draw and per nuisance value.
    draws
        Weight draws :math:`K` (default: the run's ``bayes.draws``); at least 2.
    bins
        Linear bins between the reference's 0.1 % and 99.5 % quantiles of :math:`p_{T,j1}`.
    seed
        Draw ``k`` uses ``seed + k``; the augmented samples ``seed + 100003``.
    formats
        Figure formats (empty: no figure).

    Returns
    -------
    dict
        The report: settings, ``summary`` (:math:`\chi^2`/ndf with and without the
        reweighting, median relative :math:`\sigma_\mathrm{pred}` and augmentation spread in
        percent) and ``per_bin`` rows; ``files`` lists what was written.
    """
    from evgen.validation.records import write_report

    generator, draws, augmented, augmented_run, a_list = _load_runs(
        binn_run, augmented_run, a_values, n_events=n_events, bins=bins, draws=draws
    )
    ref_paths = _reference_paths(reference)
    reweight, reweighter_name = (None, None) if reweighter is None else _load_reweighter(reweighter)

    truth_events, w_ref, edges, total, truth, truth_error = _truth_histogram(ref_paths, bins)

    drawn = draw_histograms(
        generator, n_events, draws, edges, reweight=reweight, seed=seed, progress=progress
    )
    band, band_raw = drawn["band"], drawn["band_raw"]
    envelope = None
    if augmented is not None and a_list:
        envelope = augmentation_envelope(
            augmented, a_list, n_events, edges, seed=seed + _AUG_SEED, progress=progress
        )

    summary, per_bin, aug_low, aug_high, mean_d = _compare(
        edges, truth, truth_error, w_ref, total, drawn, envelope, bins=bins, reweighted=reweight is not None
    )
    result: dict[str, Any] = {
        "binn_run": str(binn_run) if isinstance(binn_run, (str, os.PathLike)) else type(binn_run).__name__,
        "reference": [str(p) for p in ref_paths],
        "reweighter": reweighter_name,
        "augmented_run": None
        if envelope is None
        else (str(augmented_run) if isinstance(augmented_run, (str, os.PathLike)) else "binn_run"),
        "a_values": envelope["a_values"] if envelope is not None else [],
        "a_nominal": envelope["a_nominal"] if envelope is not None else None,
        "n_events": int(n_events),
        "draws": draws,
        "bins": int(bins),
        "seed": int(seed),
        "n_reference": int(len(truth_events)),
        "binning": "linear in p_T,j1 between the reference's 0.1 % and 99.5 % quantiles",
        "summary": summary,
        "per_bin": per_bin,
    }
    files: list[Path] = []
    if formats:
        files += plot_combined(
            edges,
            truth,
            truth_error,
            band,
            output_dir,
            raw=band_raw.mean_fraction if reweight is not None else None,
            mean_d=mean_d if reweight is not None else None,
            aug_rel=None if envelope is None else (aug_low, aug_high),
            aug_label="augmentation"
            if envelope is None
            else f"a = {envelope['a_values'][0]:g} … {envelope['a_values'][-1]:g}",
            formats=formats,
        )
    paths = write_report(
        output_dir,
        "combined",
        result,
        title="Uncertainty-controlled BINN: reweighted p_T,j1 (Precision Enthusiasts Fig. 14)",
        description=(
            f"{draws} weight draws x {n_events} events, all jet multiplicities together; shapes have "
            "unit area inside the binned range. Generated events are weighted by their weight times "
            "the discriminator weight w_D = D/(1-D) (1 without a reweighter); the central shape is the "
            "mean over draws, sigma_pred from Eq. (21). chi2 uses the truth and generated statistical "
            "errors and sigma_pred in quadrature. The augmentation envelope is min/max over a of "
            "p_a/p_a0 - 1 (a0 the smallest a), from one sample per a with a common seed."
        ),
    )
    result["files"] = [p.name for p in files] + [p.name for p in paths.values()]
    return result
