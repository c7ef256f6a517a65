"""Reweight generated events onto a truth sample: what ``evgen reweight`` calls.

:func:`reweight_events` fits the ``discriminator`` reweighter between truth and
generated events and writes into an output directory::

    OUT/
      reweighted.root          generated events, genWeight = original weight × w_D
      w_D.npy                  the discriminator weights alone, in event order
      discriminator/           the trained classifiers (safetensors + JSON), reloadable
      validation_before/       evgen.validation.compare.validate of the generated events vs truth
      validation_after/        the same with the weights (summary.json/md; pages on request)
      reweighting_{n}j.png     Fig. 5: distributions with and without weights, ⟨w_D⟩ per bin
      weights.png              Fig. 9: w_D per multiplicity
      weights_vs_observables.png  where large weights sit against M_μμ and ΔR_jj
      calibration.png          held-out reliability curves
      summary.json, summary.md AUC, calibration, weight statistics, χ²/ndf before → after

The discriminator is applied to the same generated events it was trained on
(less a held-out share); the held-out share carries the calibration and AUC.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from evgen.errors import InputError
from evgen.events import event_weights, n_jets, with_weights
from evgen.files import atomic_write
from evgen.training.config import load_config_file, set_dotted

__all__ = ["reweight_events", "reweight_files", "weight_statistics"]


def weight_statistics(w: np.ndarray, clip: tuple[float, float]) -> dict[str, float]:
    """Mean, spread, quantiles and clipped fractions of discriminator weights."""
    if len(w) == 0:
        return {"n": 0}
    q = np.quantile(w, [0.001, 0.01, 0.5, 0.99, 0.999])
    return {
        "n": int(len(w)),
        "mean": float(w.mean()),
        "std": float(w.std()),
        "min": float(w.min()),
        "max": float(w.max()),
        "q0.001": float(q[0]),
        "q0.01": float(q[1]),
        "median": float(q[2]),
        "q0.99": float(q[3]),
        "q0.999": float(q[4]),
        "fraction_at_lower_clip": float(np.mean(w <= clip[0] * (1 + 1e-9))),
        "fraction_at_upper_clip": float(np.mean(w >= clip[1] * (1 - 1e-9))),
        "fraction_outside_0.8_1.25": float(np.mean((w < 0.8) | (w > 1.25))),
    }


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, array)


def _chi2_table(before: Any, after: Any) -> list[dict[str, Any]]:
    after_by = {(r.multiplicity, r.name): r for r in after.results}
    rows = []
    for r in before.results:
        a = after_by[(r.multiplicity, r.name)]
        rows.append(
            {
                "multiplicity": r.multiplicity,
                "observable": r.name,
                "chi2_ndf_before": r.comparison.chi2_ndf,
                "chi2_ndf_after": a.comparison.chi2_ndf,
                "ndf": r.comparison.ndf,
            }
        )
    return rows


def _markdown(summary: Mapping[str, Any]) -> str:
    lines = [
        f"# Discriminator reweighting: {summary['generated']} → {summary['truth']}",
        "",
        f"Weights w_D = D/(1 − D) (Eq. 12), clipped to {summary['weight_clip']}; "
        f"multiplicity rates matched: {summary['match_rates']}.",
        "",
        "## Discriminators (held-out events)",
        "",
        "| jets | AUC | reliability χ²/ndf | max |frac − D| | epochs | train / test events |",
        "|---|---|---|---|---|---|",
    ]
    for key, d in summary["discriminators"].items():
        rel = d.get("reliability", {})
        lines.append(
            f"| {key} | {d.get('auc', float('nan')):.4f} ± {d.get('auc_error', float('nan')):.4f} | "
            f"{rel.get('chi2', float('nan')):.1f}/{rel.get('ndf', 0)} | {rel.get('max_deviation', float('nan')):.3f} | "
            f"{d.get('epochs', '')} | {d.get('n_train', '')} / {d.get('n_test', '')} |"
        )
    lines += [
        "",
        "## Weights",
        "",
        "| jets | mean | std | 1 % | median | 99 % | max | outside [0.8, 1.25] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, s in summary["weights"].items():
        if s.get("n", 0) == 0:
            continue
        lines.append(
            f"| {key} | {s['mean']:.3f} | {s['std']:.3f} | {s['q0.01']:.3f} | {s['median']:.3f} | "
            f"{s['q0.99']:.3f} | {s['max']:.3g} | {100 * s['fraction_outside_0.8_1.25']:.1f} % |"
        )
    lines += [
        "",
        "## χ²/ndf against truth, before → after reweighting",
        "",
        "| jets | mean χ²/ndf before | after |",
        "|---|---|---|",
    ]
    for key, m in summary["mean_chi2_ndf"].items():
        lines.append(f"| {key} | {m['before']:.2f} | {m['after']:.2f} |")
    lines += ["", "| jets | observable | before | after |", "|---|---|---|---|"]
    for row in summary["chi2"]:
        lines.append(
            f"| {row['multiplicity']} | {row['observable']} | {row['chi2_ndf_before']:.2f} | {row['chi2_ndf_after']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def _keep_covered(generated: ak.Array, classifiers: Mapping[Any, Any]) -> tuple[ak.Array, np.ndarray]:
    """The generated events whose jet multiplicity has a classifier (dropping the others, with a
    message) and their jet counts."""
    counts = n_jets(generated)
    covered = np.isin(counts, [int(k) for k in classifiers])
    if not covered.all():
        missing = sorted(set(counts[~covered].tolist()))
        print(
            f"evgen reweight: dropping {int((~covered).sum())} generated events with {missing} jets (no classifier)"
        )
        generated, counts = generated[covered], counts[covered]
    return generated, counts


def _mean_chi2(chi2: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per multiplicity: the mean χ²/ndf over the observables before and after the reweighting."""
    mean_chi2 = {}
    for n in sorted({row["multiplicity"] for row in chi2}):
        rows = [r for r in chi2 if r["multiplicity"] == n]
        mean_chi2[str(n)] = {
            "before": float(np.nanmean([r["chi2_ndf_before"] for r in rows])),
            "after": float(np.nanmean([r["chi2_ndf_after"] for r in rows])),
        }
    return mean_chi2


def _draw_pages(
    before: Any,
    after: Any,
    out: Path,
    per_n: Mapping[int, np.ndarray],
    generated: ak.Array,
    w_d: np.ndarray,
    reweighter: Any,
    formats: Sequence[str],
    truth_label: str,
    generated_label: str,
) -> None:
    """The figures: validation pages before and after, the weight distributions and maps, calibration."""
    from evgen_discriminator import plots as figures

    figures.reweighting_pages(
        before, after, out, formats=formats, truth_label=truth_label, generated_label=generated_label
    )
    figures.weight_distribution(per_n, out, formats=formats)
    figures.weight_maps(generated, w_d, out, formats=formats)
    figures.calibration_figure(reweighter.reliability, out, formats=formats)


def reweight_events(
    truth: ak.Array,
    generated: ak.Array,
    output_dir: str | os.PathLike[str],
    *,
    config: Mapping[str, Any] | None = None,
    progress: bool = True,
    plots: bool = True,
    validation_pages: bool = False,
    formats: Sequence[str] = ("png",),
    bins: int = 40,
    truth_label: str = "truth",
    generated_label: str = "generated",
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit the discriminators, write the reweighted events, figures and a summary; returns the summary.

    Parameters
    ----------
    truth, generated
        Collider events (truth: label 1; generated: label 0, the ones reweighted).
    output_dir
        Directory for the outputs listed in the module docstring.
    config
        Options of :class:`~evgen_discriminator.config.DiscriminatorConfig`.
    progress
        Show training progress bars.
    plots
        Draw the figures (needs matplotlib and mplhep).
    validation_pages
        Also draw :func:`evgen.validation.compare.validate`'s own pages into ``validation_before/``
        and ``validation_after/`` (the Fig. 5 pages already hold both).
    formats
        Figure formats.
    bins
        Histogram bins of the validation.
    metadata
        Extra provenance stored in ``reweighted.root``.
    """
    from evgen.io import write_events
    from evgen.validation.compare import validate
    from evgen_discriminator.reweighter import DiscriminatorReweighter

    if len(truth) == 0 or len(generated) == 0:
        raise InputError(
            f"need events in both samples; got {len(truth)} truth and {len(generated)} generated"
        )
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory; give an output directory")
    out.mkdir(parents=True, exist_ok=True)
    reweighter = DiscriminatorReweighter(dict(config or {}))
    reweighter.fit(truth, generated, progress=progress)
    reweighter.save(out / "discriminator")

    generated, counts = _keep_covered(generated, reweighter.classifiers)
    w_d = reweighter.weights(generated)
    original = event_weights(generated)
    reweighted = with_weights(generated, original * w_d)
    atomic_write(out / "w_D.npy", lambda tmp: _save_npy(tmp, w_d))
    cfg = reweighter.config
    write_events(
        out / "reweighted.root",
        reweighted,
        metadata={
            "reweighter": reweighter.name,
            "config": cfg.to_dict(),
            "weights": "genWeight = original weight × w_D, w_D = D/(1−D) (Eq. 12) clipped to weight_clip",
            **dict(metadata or {}),
        },
    )

    common = {
        "bins": bins,
        "plots": plots and validation_pages,
        "reference_label": truth_label,
        "formats": tuple(formats),
    }
    before = validate(truth, generated, out / "validation_before", generated_label=generated_label, **common)
    after = validate(
        truth, reweighted, out / "validation_after", generated_label=f"{generated_label} reweighted", **common
    )
    chi2 = _chi2_table(before, after)
    mean_chi2 = _mean_chi2(chi2)
    per_n = {int(k): w_d[counts == int(k)] for k in reweighter.classifiers}
    discriminators = {}
    for key, d in reweighter.diagnostics.items():
        if key == "skipped":
            continue
        discriminators[key] = {k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in d.items()}
    summary = {
        "truth": truth_label,
        "generated": generated_label,
        "n_truth": int(len(truth)),
        "n_generated": int(len(generated)),
        "weight_clip": list(cfg.weight_clip),
        "match_rates": cfg.match_rates,
        "rates": reweighter.rates,
        "discriminators": discriminators,
        "skipped": reweighter.diagnostics.get("skipped", {}),
        "weights": {str(n): weight_statistics(w, tuple(cfg.weight_clip)) for n, w in per_n.items()},
        "mean_chi2_ndf": mean_chi2,
        "chi2": chi2,
    }
    atomic_write(out / "summary.json", json.dumps(summary, indent=2, allow_nan=True) + "\n")
    atomic_write(out / "summary.md", _markdown(summary))
    if plots:
        _draw_pages(
            before, after, out, per_n, generated, w_d, reweighter, formats, truth_label, generated_label
        )
    return summary


def reweight_files(
    truth: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    generated: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    max_events: int | None = None,
    tree: str = "Events",
    **options: Any,
) -> dict[str, Any]:
    """Read truth and generated ROOT files and call :func:`reweight_events`.

    ``config`` is a TOML/JSON file or a mapping; ``overrides`` maps dotted option
    names to values (``{"classifier.epochs": 20}``), ``None`` values are ignored.
    """
    from evgen.io import read_events

    if isinstance(config, (str, os.PathLike)):
        mapping = load_config_file(config)
    else:
        mapping = dict(config or {})
    for key, value in (overrides or {}).items():
        if value is not None:
            set_dotted(mapping, key, value)
    as_list = lambda p: [Path(p)] if isinstance(p, (str, os.PathLike)) else [Path(x) for x in p]  # noqa: E731
    truth_paths, gen_paths = as_list(truth), as_list(generated)
    t = read_events(truth_paths, tree=tree, entry_stop=max_events)
    g = read_events(gen_paths, tree=tree, entry_stop=max_events)
    metadata = {
        "truth_files": [str(p) for p in truth_paths],
        "generated_files": [str(p) for p in gen_paths],
    }
    return reweight_events(
        t,
        g,
        output_dir,
        config=mapping,
        truth_label=options.pop("truth_label", truth_paths[0].stem),
        generated_label=options.pop("generated_label", gen_paths[0].stem),
        metadata=metadata,
        **options,
    )
