"""The main job on the shipped sample, as the README's first command runs it.

1. summarise the shipped Z → μμ + jets sample (``evgen data info``);
2. split it into a training half (even events) and an independent truth half (odd);
3. train the small ``zjets-inn`` for a few minutes on the CPU (``evgen train``);
4. generate 100k weighted events into a ROOT file (``evgen generate``);
5. validate generated events against the truth half, next to the training half
   against the same truth, the statistical floor (``evgen validate``).

Everything comes through the plugin registry (the ``zjets-small`` data set, the
``zjets-inn`` generator), so the core imports no plugin.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from evgen import plugins
from evgen.errors import ConfigError

__all__ = ["run_demo", "DEFAULT_CONFIG"]

#: The small-INN configuration of a source checkout.
DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "zjets-inn-small.toml"


def _medians(summary: Any) -> dict[int, float]:
    out: dict[int, list[float]] = {}
    for r in summary.results:
        out.setdefault(r.multiplicity, []).append(r.comparison.chi2_ndf)
    return {n: float(np.median(v)) for n, v in sorted(out.items())}


def run_demo(
    output_dir: str | os.PathLike[str] = "demo-output",
    quick: bool = False,
    seed: int = 1,
    config: str | os.PathLike[str] | None = None,
    n_generate: int | None = None,
) -> dict[str, Any]:
    """Run the main job; returns what it measured and writes it under ``output_dir``.

    ``quick`` trains for one epoch on part of the sample and generates few events
    (for tests); the numbers are then meaningless.
    """
    from evgen.generation.produce import generate_from_run
    from evgen.io import read_events, write_events
    from evgen.training.api import train_generator
    from evgen.validation.compare import validate
    from evgen.validation.summary import format_summary, sample_summary

    config = Path(config) if config is not None else DEFAULT_CONFIG
    if not config.exists():
        raise ConfigError(f"{config}: config file not found; pass one with --config")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset = plugins.get_dataset("zjets-small")
    path = Path(dataset.path)  # type: ignore[attr-defined]
    summary = sample_summary(path)
    print(format_summary(summary))
    (out / "sample_summary.json").write_text(json.dumps(summary, indent=2, default=str))

    events = read_events(path, entry_stop=6000 if quick else None)
    train, truth = out / "train.root", out / "truth.root"
    write_events(train, events[0::2], metadata={"source": str(path), "selection": "even entries"})
    write_events(truth, events[1::2], metadata={"source": str(path), "selection": "odd entries"})

    print(f"\n[1/3] training zjets-inn on {len(events) // 2} events ({config.name})")
    overrides = {"seed": seed, **({"training.epochs": 1} if quick else {})}
    train_generator(
        "zjets-inn", [train], out / "run", config=config, overrides=overrides, command=["evgen", "demo"]
    )

    n = n_generate or (4000 if quick else 100_000)
    print(f"\n[2/3] generating {n} events")
    generated = generate_from_run(out / "run", n, out / "generated.root", seed=seed)

    print("\n[3/3] validating against the independent truth half")
    truth_events, gen_events = read_events(truth), read_events(generated)
    common = {"bins": 20 if quick else 40, "reference_label": "truth (odd events)"}
    result = validate(
        truth_events, gen_events, out / "validation", plots=not quick, generated_label="zjets-inn", **common
    )
    from evgen.io import read_metadata
    from evgen.validation.report import write_report

    page = write_report(result, out / "validation", metadata=read_metadata(generated), figures=not quick)
    floor = validate(
        truth_events,
        events[0::2],
        out / "validation-training-sample",
        plots=False,
        generated_label="training sample",
        **common,
    )

    report = {
        "events_train": len(events) // 2,
        "events_truth": len(truth_events),
        "events_generated": len(gen_events),
        "median_chi2_ndf_generated": _medians(result),
        "median_chi2_ndf_training_sample": _medians(floor),
        "output": str(out),
    }
    (out / "demo_report.json").write_text(json.dumps(report, indent=2))
    print("\nmedian χ²/ndf against the truth half, per jet multiplicity:")
    print("  jets   zjets-inn   training sample")
    for n_jets, value in report["median_chi2_ndf_generated"].items():
        print(
            f"  {n_jets:4d}   {value:9.2f}   {report['median_chi2_ndf_training_sample'].get(n_jets, float('nan')):15.2f}"
        )
    worst = sorted(result.results, key=lambda r: -r.comparison.chi2_ndf)[:3]
    print(
        "worst observables: "
        + ", ".join(f"{r.name} ({r.multiplicity}j) {r.comparison.chi2_ndf:.1f}" for r in worst)
    )
    print(
        f"figures: {out / 'validation'}/validation_{{1,2,3}}j.png; summary: {out / 'validation' / 'summary.md'}"
    )
    print(f"one page with all of it (open in a browser): {page}")
    return report
