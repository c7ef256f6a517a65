"""The main job on the shipped sample, as the README's first command runs it.

1. summarise the shipped Z → μμ + jets sample (``evgen data info``);
2. validate one half of it against the other (``evgen validate``): the
   statistical floor any generator is measured against.

Everything comes through the plugin registry (the sample is the ``zjets-small``
data set), so the core imports no plugin.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from evgen import plugins

__all__ = ["run_demo"]


def run_demo(
    output_dir: str | os.PathLike[str] = "demo-output", quick: bool = False, seed: int = 1
) -> dict[str, Any]:
    """Run the main job; returns what it measured and writes it under ``output_dir``."""
    from evgen.io import write_events
    from evgen.summary import format_summary, sample_summary
    from evgen.validation import validate

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset = plugins.get_dataset("zjets-small")
    path = Path(dataset.path)  # type: ignore[attr-defined]
    summary = sample_summary(path)
    print(format_summary(summary))
    (out / "sample_summary.json").write_text(json.dumps(summary, indent=2, default=str))

    events = dataset.load(n=4000 if quick else None)
    half_a, half_b = events[0::2], events[1::2]
    write_events(out / "half_a.root", half_a, metadata={"source": str(path), "selection": "even entries"})
    write_events(out / "half_b.root", half_b, metadata={"source": str(path), "selection": "odd entries"})
    result = validate(
        half_a,
        half_b,
        out / "validation",
        bins=20 if quick else 40,
        plots=not quick,
        reference_label="shipped sample, even events",
        generated_label="shipped sample, odd events",
    )
    chi2 = [r.comparison.chi2_ndf for r in result.results]
    report = {
        "events": len(events),
        "median_chi2_ndf": float(sorted(chi2)[len(chi2) // 2]),
        "output": str(out),
    }
    print(f"\nvalidation of one half against the other: median χ²/ndf {report['median_chi2_ndf']:.2f}")
    print(f"figures and summary in {out / 'validation'}")
    return report
