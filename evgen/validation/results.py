"""What a validation measured: per-observable histogram comparisons and their summary.

Plain data, shared by :mod:`evgen.validation.compare` (which fills it) and
:mod:`evgen.validation.figures` (which draws it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evgen.validation.histograms import HistComparison

__all__ = ["ObservableResult", "ValidationSummary"]


@dataclass
class ObservableResult:
    """One observable of one multiplicity: its histograms and their comparison."""

    name: str
    multiplicity: int
    edges: np.ndarray
    reference: Any
    generated: Any
    comparison: HistComparison

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "chi2": c.chi2,
            "ndf": c.ndf,
            "chi2_ndf": c.chi2_ndf,
            "bulk_delta_percent": c.bulk_delta(),
            "bulk_reference_error_percent": c.bulk_reference_error(),
        }


@dataclass
class ValidationSummary:
    """Everything ``evgen validate`` measured."""

    reference_label: str
    generated_label: str
    counts: dict[str, dict[int, float]]
    results: list[ObservableResult] = field(default_factory=list)

    def table(self) -> list[dict[str, Any]]:
        return [{"multiplicity": r.multiplicity, "observable": r.name, **r.to_dict()} for r in self.results]

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference_label,
            "generated": self.generated_label,
            "multiplicity_fractions": {k: {str(n): v for n, v in d.items()} for k, d in self.counts.items()},
            "observables": self.table(),
        }

    def markdown(self) -> str:
        lines = [
            f"# Validation: {self.generated_label} vs {self.reference_label}",
            "",
            "Jet-multiplicity fractions (weighted):",
            "",
            "| sample | " + " | ".join(f"{n} jets" for n in sorted(self.counts["reference"])) + " |",
            "|---|" + "---|" * len(self.counts["reference"]),
        ]
        for key, label in (("reference", self.reference_label), ("generated", self.generated_label)):
            lines.append(
                f"| {label} | "
                + " | ".join(f"{self.counts[key].get(n, 0.0):.4f}" for n in sorted(self.counts["reference"]))
                + " |"
            )
        lines += [
            "",
            "χ²/ndf compares unit-normalised shapes with both samples' statistical errors; "
            "δ[%] = 100·|gen − ref|/ref (Eq. 11), median over bulk bins (≥ 1 % of the peak bin), "
            "next to the reference's own statistical error in those bins.",
            "",
            "| jets | observable | χ²/ndf | bulk δ [%] | ref. stat. error [%] |",
            "|---|---|---|---|---|",
        ]
        for r in self.results:
            d = r.to_dict()
            lines.append(
                f"| {r.multiplicity} | {r.name} | {d['chi2']:.1f}/{d['ndf']} = {d['chi2_ndf']:.2f} | "
                f"{d['bulk_delta_percent']:.2f} | {d['bulk_reference_error_percent']:.2f} |"
            )
        return "\n".join(lines) + "\n"
