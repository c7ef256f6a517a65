"""GANplification: how many sampled events a GAN trained on few events is worth.

Reproduces Secs. 2-4 of *GANplifying event samples* (arXiv:2008.06545). For a toy
with exact truth (camel back d = 1, Eq. 1; ring d = 2, Eq. 3; 5D shell, Eq. 4):

1. draw E independent training samples of ``n_train`` events and train E
   generators on them (for ``toy-gan`` one batched ensemble);
2. measure the quantile MSE (Eq. 2, :mod:`evgen.statistics.quantiles`) of

   * truly sampled events, ``n_train`` x (1, 2, 3, 5, 10), each with a band (standard
     deviation) from independent samples, drawn as horizontal lines;
   * the 5-parameter two-Gaussian fit to each training sample (1D only; exact from
     the fit's CDF, :mod:`evgen.statistics.fits`);
   * each generator's output against the number of generated events, with a band
     over the E trainings;

3. turn the MSE of the generated events into an equivalent number of sampled events
   and the amplification factor (:mod:`evgen.statistics.amplification`): at the largest number
   of generated events (the paper's "10,000 GANned events are worth ...") and from the
   saturation fit :math:`\\mathrm{MSE}(n) = \\mathrm{MSE}_\\infty + c/n` to the mean curve.

Quantile cells live in the unit cube of the toy's marginal truth CDFs, so the CDF
values of every generated point are computed once and re-binned for every
quantile choice and sample size.

Figures (mplhep): ``ganplify_fig2`` (1D: 10, 20, 50 quantiles), ``ganplify_fig4``
(2D: 10 in r, 10 in phi, 7 x 7), ``ganplify_fig5`` (2D: relative deviation of the
7 x 7 cells, training sample vs GAN), ``ganplify_fig6`` (5D: 10 per polar coordinate
and 3^5) and ``ganplify_fig7`` (5D: 4^5, 6^5). The study adds no model code: the
generator comes from the plugin registry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.interfaces import Measurement, ToyDataset

__all__ = [
    "TOY_BY_DIM",
    "QuantileSpec",
    "default_quantiles",
    "run_ganplify",
    "plot_ganplify",
]

#: The toy of each dimension (registry names).
TOY_BY_DIM = {1: "camel", 2: "ring", 5: "shell5d"}

#: Default numbers of generated events (log-spaced, as the x axis of Figs. 2, 4, 6).
DEFAULT_N_GENERATED = (100, 300, 1000, 3000, 10_000, 30_000, 100_000)

#: Sizes of the truly sampled comparison samples, in units of ``n_train``.
SAMPLE_MULTIPLES = (1, 2, 3, 5, 10)


@dataclass(frozen=True)
class QuantileSpec:
    """One choice of quantile cells: ``n_per_axis`` intervals along truth ``axes``."""

    name: str
    n_per_axis: tuple[int, ...]
    axes: tuple[int, ...]
    label: str

    @property
    def n_cells(self) -> int:
        return math.prod(self.n_per_axis)


def default_quantiles(dim: int, coordinate_names: Sequence[str] | None = None) -> list[QuantileSpec]:
    """The quantile choices of the paper for ``dim`` = 1 (Fig. 2), 2 (Fig. 4) and 5 (Figs. 6, 7)."""
    if dim == 1:
        return [QuantileSpec(str(n), (n,), (0,), f"{n} quantiles") for n in (10, 20, 50)]
    names = list(coordinate_names or ["r", *(f"phi{k}" for k in range(1, dim))])
    latex = {"r": "r", "phi": r"\varphi", **{f"phi{k}": rf"\varphi_{k}" for k in range(1, dim)}}
    projected = [
        QuantileSpec(f"10_{name}", (10,), (axis,), f"10 quantiles in ${latex.get(name, name)}$")
        for axis, name in enumerate(names)
    ]
    if dim == 2:
        return [*projected, QuantileSpec("7x7", (7, 7), (0, 1), r"$7 \times 7$ quantiles")]
    cubes = [
        QuantileSpec(f"{k}^{dim}", (k,) * dim, tuple(range(dim)), f"${k}^{dim}$ quantiles") for k in (3, 4, 6)
    ]
    return [*projected, *cubes]


class _CdfCube(ToyDataset):
    """Points that already are truth-CDF values: identity maps, so cells can be re-binned cheaply."""

    name = "cdf-cube"

    def __init__(self, dim: int) -> None:
        self.dim = dim  # type: ignore[misc]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.random((n, self.dim))

    def log_prob(self, points: np.ndarray) -> np.ndarray:
        return np.zeros(len(points))

    def to_truth_coordinates(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64)

    def truth_cdf(self, coords: np.ndarray) -> np.ndarray:
        return np.asarray(coords, dtype=np.float64)


def _cdf_values(toy: ToyDataset, points: np.ndarray) -> np.ndarray:
    return np.asarray(toy.truth_cdf(toy.to_truth_coordinates(points)), dtype=np.float64)


def _mse(cube: _CdfCube, u: np.ndarray, spec: QuantileSpec) -> float:
    from evgen.statistics.quantiles import quantile_fractions, quantile_mse

    return quantile_mse(quantile_fractions(cube, u, spec.n_per_axis, spec.axes))


def _band(values: np.ndarray) -> Measurement:
    values = np.asarray(values, dtype=np.float64)
    return Measurement(float(np.mean(values)), float(np.std(values, ddof=1)) if values.size > 1 else math.nan)


# -- generators -----------------------------------------------------------------------------
def _train_generators(
    generator: str,
    samples: list[np.ndarray],
    config: Mapping[str, Any],
    seed: int,
    model_dir: Path | None,
    resume: bool,
) -> Any:
    """Train one generator per training sample; returns an object with ``sample(n, seed) -> [E, n, d]``."""
    from evgen.plugins import get_generator

    cls = get_generator(generator)
    n_models = len(samples)
    if hasattr(cls, "ensemble"):
        key = {"generator": generator, "n_models": n_models, "seed": seed, "config": dict(config)}
        key_file = model_dir / "study_key.json" if model_dir is not None else None
        reusable = resume and key_file is not None and key_file.is_file() and hasattr(cls, "load_ensemble")
        if reusable and json.loads(key_file.read_text()) == key:  # type: ignore[union-attr]
            return cls.load_ensemble(model_dir, device=config.get("device"))
        ensemble = cls.ensemble(n_models, dict(config), seed=seed)
        checkpoint = model_dir.parent / f"{model_dir.name}_checkpoint.pt" if model_dir is not None else None
        ensemble.fit(samples, checkpoint=checkpoint, resume=resume)
        if model_dir is not None:
            ensemble.save(model_dir)
            key_file.write_text(json.dumps(key) + "\n")  # type: ignore[union-attr]
            if checkpoint is not None:
                checkpoint.unlink(missing_ok=True)
        return ensemble
    return _GeneratorLoop(cls, samples, config, seed)


class _GeneratorLoop:
    """E separately trained generators of any plugin, sampled like an ensemble."""

    def __init__(self, cls: Any, samples: list[np.ndarray], config: Mapping[str, Any], seed: int) -> None:
        from evgen.events import toy_events

        self.seed = seed
        self.models = []
        for points in samples:
            model = cls(dict(config))
            model.fit(toy_events(points))
            self.models.append(model)

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        from evgen.events import toy_points

        return np.stack(
            [
                toy_points(m.sample(n, seed=None if seed is None else seed + e))
                for e, m in enumerate(self.models)
            ]
        )


# -- the study ------------------------------------------------------------------------------
def _measure_quantiles(
    spec: QuantileSpec,
    cube: _CdfCube,
    u_gen: Sequence[np.ndarray],
    u_train: Sequence[np.ndarray],
    u_ref: Mapping[int, Sequence[np.ndarray]],
    n_generated: Sequence[int],
    n_train: int,
    trainings: int,
    toy: ToyDataset,
    fits: Sequence[Any] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One quantile choice: its row of the table (MSEs, equivalent events, amplification) and its
    curve (MSE vs generated events, with the truly sampled reference and the fit)."""
    from evgen.statistics.amplification import (
        amplification_factor,
        amplification_summary,
        equivalent_sample_size,
        saturation_fit,
    )
    from evgen.statistics.quantiles import expected_quantile_mse

    sample_sizes = list(u_ref)
    n_arr = np.asarray(n_generated, dtype=np.float64)
    n_cells = spec.n_cells
    gan = np.array([[_mse(cube, u[:n], spec) for n in n_generated] for u in u_gen])  # [E, n_gen]
    gan_mean, gan_std = gan.mean(axis=0), gan.std(axis=0, ddof=1)
    train_mse = np.array([_mse(cube, u, spec) for u in u_train])
    ref = {n: _band([_mse(cube, u, spec) for u in u_ref[n]]) for n in sample_sizes}
    curve: dict[str, Any] = {
        "n_cells": n_cells,
        "n_generated": n_generated,
        "gan_mean": gan_mean,
        "gan_std": gan_std,
        "sampled": [
            {"n": n, "mse": ref[n], "expected": expected_quantile_mse(n, n_cells)} for n in sample_sizes
        ],
    }
    row: dict[str, Any] = {
        "quantiles": spec.name,
        "cells": n_cells,
        "mse_training_sample": _band(train_mse),
        "expected_mse_training_sample": expected_quantile_mse(n_train, n_cells),
    }
    if fits is not None:
        from evgen.statistics.fits import fit_quantile_mse

        fit_mse = np.array([fit_quantile_mse(f, toy, spec.n_per_axis[0]) for f in fits])
        curve["fit"] = _band(fit_mse)
        row["mse_fit"] = _band(fit_mse)
        fit_amp = amplification_factor(fit_mse, n_cells, n_train)
        row["equivalent_events_fit"] = Measurement(fit_amp.value * n_train, fit_amp.error * n_train)
        row["amplification_fit"] = fit_amp
    at_max = gan[:, -1]
    gan_amp = amplification_factor(at_max, n_cells, n_train)
    row[f"mse_gan_at_{n_generated[-1]}"] = _band(at_max)
    row["equivalent_events_gan"] = Measurement(gan_amp.value * n_train, gan_amp.error * n_train)
    row["amplification_gan"] = gan_amp
    row["amplification_gan_error_of_mean"] = gan_amp.error / math.sqrt(trainings)
    summary = amplification_summary(at_max, n_cells, n_train)
    row["amplification_gan_median"] = summary["amplification_median"]
    if len(n_generated) >= 2:
        asymptotes = np.array([saturation_fit(n_arr, curve_e, n_cells=n_cells).mse_inf for curve_e in gan])
        asym = _band(asymptotes)
        curve["asymptotic_mse"] = asym
        row["gan_asymptotic_mse"] = asym
        row["amplification_gan_asymptotic"] = None  # no finite value when saturation is not reached
        if asym.value > 0:
            n_eq = float(equivalent_sample_size(asym.value, n_cells))
            row["amplification_gan_asymptotic"] = Measurement(
                n_eq / n_train, n_eq / n_train * asym.error / asym.value
            )
    return row, curve


def _check_settings(
    dim: int,
    trainings: int,
    n_train: int | None,
    reference_samples: int,
    n_generated: Sequence[int],
    quantiles: Sequence[QuantileSpec] | None,
) -> tuple[ToyDataset, int, list[int], list[QuantileSpec]]:
    """The study's settings, checked: the toy, ``n_train``, the sorted ``n_generated`` and the quantile choices."""
    from evgen.plugins import get_dataset

    if dim not in TOY_BY_DIM:
        raise ConfigError(f"dim must be one of {sorted(TOY_BY_DIM)} (the paper's toys); got {dim}")
    n_train = int(n_train if n_train is not None else (500 if dim == 5 else 100))
    if trainings < 2:
        raise ConfigError(f"need at least 2 trainings for a band; got {trainings}")
    if n_train < 10:
        raise ConfigError(f"n_train must be at least 10; got {n_train}")
    if reference_samples < 2:
        raise ConfigError(f"reference_samples must be at least 2; got {reference_samples}")
    n_generated = sorted({int(n) for n in n_generated})
    if not n_generated or n_generated[0] < 1:
        raise ConfigError(f"n_generated must be positive numbers of events; got {n_generated}")
    toy = get_dataset(TOY_BY_DIM[dim])
    if not isinstance(toy, ToyDataset) or toy.dim != dim:
        raise ConfigError(f"data set {TOY_BY_DIM[dim]!r} is not a {dim}D toy with exact truth")
    specs = (
        list(quantiles)
        if quantiles is not None
        else default_quantiles(dim, getattr(toy, "coordinate_names", None))
    )
    return toy, n_train, n_generated, specs


def _sample_all(model: Any, generator: str, trainings: int, n: int, dim: int, seed: int) -> np.ndarray:
    """``n`` events from each of the ``trainings`` trained generators, checked: shape ``(trainings, n, dim)``, finite."""
    generated = np.asarray(model.sample(n, seed=seed))
    if generated.shape != (trainings, n, dim) or not np.all(np.isfinite(generated)):
        raise InputError(
            f"generator {generator!r} returned samples of shape {generated.shape} (finite: "
            f"{bool(np.all(np.isfinite(generated)))}); expected finite ({trainings}, {n}, {dim})"
        )
    return generated


def _write_ganplify(
    out: Path,
    result: dict[str, Any],
    specs: Sequence[QuantileSpec],
    u_train: np.ndarray,
    u_gen: np.ndarray,
    cube: _CdfCube,
    *,
    plot: bool,
) -> None:
    """Write the figures (with ``plot``) and the JSON + Markdown report; list them in ``result["files"]``."""
    config = result["config"]
    toy_name, dim, trainings = config["toy"], config["dim"], config["trainings"]
    generator, n_train = config["generator"], config["n_train"]
    files: list[Path] = []
    if plot:
        files += plot_ganplify(out, result, specs, u_train, u_gen, cube)
    result["files"] = [str(f) for f in files]
    from evgen.validation.records import write_report

    paths = write_report(
        out,
        "ganplify",
        result,
        title=f"GANplification, {toy_name} (d = {dim})",
        description=(
            f"{trainings} trainings of {generator!r} on {n_train} events each; quantile MSE (Eq. 2 of "
            "arXiv:2008.06545) of generated vs truly sampled events. Amplification = equivalent "
            "sampled events / n_train; errors are the spread over trainings."
        ),
    )
    result["files"] += [str(p) for p in paths.values()]


def run_ganplify(
    output_dir: str | Path | None,
    *,
    dim: int = 1,
    trainings: int = 100,
    n_train: int | None = None,
    epochs: int | None = None,
    n_generated: Sequence[int] = DEFAULT_N_GENERATED,
    quantiles: Sequence[QuantileSpec] | None = None,
    reference_samples: int = 100,
    seed: int = 0,
    device: str = "cpu",
    generator: str = "toy-gan",
    generator_config: Mapping[str, Any] | None = None,
    resume: bool = True,
    plot: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Measure the amplification of a generator on a GANplifying toy and write report + figures.

    Parameters
    ----------
    output_dir
        Where ``ganplify.json``, ``ganplify.md``, the figures and the trained models
        (``gan/``) go; None writes nothing (and trains without checkpoints).
    dim
        1 (camel back), 2 (ring) or 5 (5D shell).
    trainings
        Number E of independent trainings (paper: 100).
    n_train
        Training events per generator (default 100; 500 for d = 5, as in the paper).
    epochs
        Training epochs (default: the generator's own; toy-gan: 10,000 as in the paper).
    n_generated
        Numbers of generated events at which the MSE is measured.
    quantiles
        Quantile choices (default :func:`default_quantiles`).
    reference_samples
        Independent truth samples per comparison size (bands of the sampled lines).
    seed
        Seeds the training samples, the reference samples, the training and the generation.
    device
        Torch device for the generator ("cpu", "cuda").
    generator
        Registered generator name; one with an ``ensemble(n_models, config, seed=)``
        class method trains all E at once, any other is trained E times.
    generator_config
        Further generator options (e.g. ``{"gen_width": 64}``, ``{"compile": True}``).
    resume
        Reuse the trained models in ``output_dir/gan`` (same key) or continue from their
        checkpoint.
    plot
        Write the figures (needs matplotlib and mplhep).
    progress
        Progress bars.

    Returns
    -------
    dict
        ``config``, ``table`` (one row per quantile choice: MSEs, equivalent events and
        amplification factors with their spread over trainings), ``curves`` (MSE vs
        generated events), ``files``.
    """
    toy, n_train, n_generated, specs = _check_settings(
        dim, trainings, n_train, reference_samples, n_generated, quantiles
    )
    out = Path(output_dir) if output_dir is not None else None

    config: dict[str, Any] = {
        "dim": dim,
        "device": device,
        "progress": progress,
        **dict(generator_config or {}),
    }
    if epochs is not None:
        config["epochs"] = int(epochs)
    seq = np.random.SeedSequence(seed).spawn(3)
    rng_train, rng_ref = np.random.default_rng(seq[0]), np.random.default_rng(seq[1])
    train_seed = int(seq[2].generate_state(1)[0])

    # 1. training samples and generators
    samples = [toy.sample(n_train, rng_train) for _ in range(trainings)]
    model = _train_generators(
        generator, samples, config, train_seed, out / "gan" if out is not None else None, resume
    )
    generated = _sample_all(model, generator, trainings, n_generated[-1], dim, train_seed + 1)

    cube = _CdfCube(dim)
    u_gen = [_cdf_values(toy, g) for g in generated]
    u_train = [_cdf_values(toy, s) for s in samples]
    sample_sizes = [n_train * m for m in SAMPLE_MULTIPLES]
    u_ref = {
        n: [_cdf_values(toy, toy.sample(n, rng_ref)) for _ in range(reference_samples)] for n in sample_sizes
    }

    fits = None
    if dim == 1:
        from evgen.statistics.fits import fit_two_gaussians

        fits = [fit_two_gaussians(s) for s in samples]

    table: list[dict[str, Any]] = []
    curves: dict[str, Any] = {}
    for spec in specs:
        row, curve = _measure_quantiles(
            spec, cube, u_gen, u_train, u_ref, n_generated, n_train, trainings, toy, fits
        )
        curves[spec.name] = curve
        table.append(row)

    result: dict[str, Any] = {
        "config": {
            "toy": toy.name,
            "dim": dim,
            "trainings": trainings,
            "n_train": n_train,
            "n_generated": n_generated,
            "reference_samples": reference_samples,
            "seed": seed,
            "generator": generator,
            "generator_config": {k: v for k, v in config.items() if k != "progress"},
            "quantiles": [
                {"name": s.name, "n_per_axis": list(s.n_per_axis), "axes": list(s.axes)} for s in specs
            ],
        },
        "table": table,
        "curves": curves,
    }
    if hasattr(model, "history") and model.history:
        last = model.history[-1]
        result["training"] = {
            "epochs": last["epoch"],
            "final_loss_d_mean": float(np.mean(last["loss_d"])),
            "final_loss_g_mean": float(np.mean(last["loss_g"])),
        }
    if out is not None:
        _write_ganplify(out, result, specs, u_train[0], u_gen[0], cube, plot=plot)
    return result


# -- figures --------------------------------------------------------------------------------
def _panel(ax: Any, spec: QuantileSpec, curve: Mapping[str, Any], n_train: int) -> None:
    n = np.asarray(curve["n_generated"], dtype=np.float64)
    xlim = (n[0] / 1.5, n[-1] * 1.5)
    for i, s in enumerate(curve["sampled"]):
        m: Measurement = s["mse"]
        main = s["n"] == n_train
        ax.hlines(m.value, *xlim, color="tab:blue", ls="-" if main else ":", lw=2 if main else 1)
        if main:
            ax.fill_between(xlim, m.value - m.error, m.value + m.error, color="tab:blue", alpha=0.2, lw=0)
        ax.text(xlim[1], m.value, f" {s['n']}", va="center", fontsize=9, color="tab:blue")
        if i == 0:
            ax.plot([], [], color="tab:blue", label=f"sample ({n_train})")
    if "fit" in curve:
        f: Measurement = curve["fit"]
        ax.hlines(f.value, *xlim, color="tab:green", lw=2, label="fit")
        ax.fill_between(xlim, f.value - f.error, f.value + f.error, color="tab:green", alpha=0.2, lw=0)
    mean, std = np.asarray(curve["gan_mean"]), np.asarray(curve["gan_std"])
    ax.plot(n, mean, color="tab:orange", marker="o", ms=4, label="GAN")
    ax.fill_between(n, np.maximum(mean - std, mean * 1e-3), mean + std, color="tab:orange", alpha=0.25, lw=0)
    ax.set(xscale="log", yscale="log", xlim=xlim, xlabel="number of GANned events", ylabel="quantile MSE")
    ax.set_title(spec.label, fontsize=14)


def plot_ganplify(
    output_dir: Path,
    result: Mapping[str, Any],
    specs: Sequence[QuantileSpec],
    u_train: np.ndarray | None = None,
    u_gan: np.ndarray | None = None,
    cube: Any = None,
) -> list[Path]:
    """Figs. 2 (1D), 4 + 5 (2D), 6 + 7 (5D) of arXiv:2008.06545 as PNG and PDF."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import mplhep as hep

    from evgen.validation.records import save_figure

    dim = result["config"]["dim"]
    n_train = result["config"]["n_train"]
    curves = result["curves"]
    paths: list[Path] = []
    groups: list[tuple[str, list[QuantileSpec]]]
    if dim == 1:
        groups = [("ganplify_fig2", list(specs))]
    elif dim == 2:
        groups = [("ganplify_fig4", list(specs))]
    else:
        fine = [s for s in specs if s.n_cells > 243]
        groups = [("ganplify_fig6", [s for s in specs if s.n_cells <= 243]), ("ganplify_fig7", fine)]
    with plt.style.context(hep.style.ROOT):
        for name, group in groups:
            if not group:
                continue
            cols = min(3, len(group))
            rows = math.ceil(len(group) / cols)
            fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 5.5 * rows), squeeze=False)
            for ax, spec in zip(axes.ravel(), group, strict=False):
                _panel(ax, spec, curves[spec.name], n_train)
            for ax in axes.ravel()[len(group) :]:
                ax.set_visible(False)
            axes.ravel()[0].legend(fontsize=11, loc="lower left")
            fig.tight_layout()
            paths += save_figure(fig, output_dir, name)
        if dim == 2 and u_train is not None and u_gan is not None:
            from evgen.statistics.quantiles import quantile_fractions

            grid = next((s for s in specs if s.n_per_axis == (7, 7)), None)
            if grid is not None:
                fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), constrained_layout=True)
                maps = [
                    quantile_fractions(cube, u, grid.n_per_axis, grid.axes) * grid.n_cells - 1.0
                    for u in (u_train, u_gan)
                ]
                limit = min(max(float(np.max(np.abs(m))) for m in maps), 1.0)  # beyond +-100 %: saturated
                for ax, m, title in zip(
                    axes, maps, (f"training sample ({n_train})", f"GAN ({len(u_gan)})"), strict=True
                ):
                    image = ax.pcolormesh(
                        np.arange(8), np.arange(8), m.T, cmap="RdBu_r", vmin=-limit, vmax=limit
                    )
                    ax.set(xlabel=r"quantile in $r$", ylabel=r"quantile in $\varphi$", title=title)
                fig.colorbar(image, ax=axes, label="relative deviation from 1/49", extend="both")
                paths += save_figure(fig, output_dir, "ganplify_fig5")
    return paths


# -- command line ---------------------------------------------------------------------------
