"""Generated events next to the statistical floor: every observable's χ²/ndf against the training sample's own.

A χ²/ndf of 1.5 against an independent truth file says little alone: the truth file
has its own statistics, the binning its own fluctuations. evgen judges a generator by
the *ratio* to the floor, the same comparison made with the training sample in place
of the generated one (a sample the network may at best reproduce). This module takes
two validations against the same reference (:func:`evgen.validation.compare.validate`),
one of the generated events and one of the training events, and tabulates, per jet
multiplicity and observable, both χ²/ndf, their ratio, and the bins that carry a
failing observable's χ² (their pulls, :func:`~evgen.validation.histograms.histogram_pulls`):
where a generator fails usually tells why (a smoothed cusp, a leaking hole).

The ratio alone can mislead where the floor itself fluctuated low: two independent samples
of one density give χ²/ndf ≈ 1 ± √(2/ndf), so a floor of 0.6 puts even a perfect generator
near 1.7 ×. Each row therefore also carries ``p_value``, the probability that a generator
whose density *is* the truth's would reach the generated χ² (the χ² distribution with the
comparison's ndf): a failure with p ≥ 0.001 is within what the statistics allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from evgen.errors import InputError
from evgen.validation.histograms import histogram_pulls
from evgen.validation.results import ObservableResult, ValidationSummary

__all__ = ["FloorRow", "FloorComparison", "floor_comparison", "SIGNIFICANT_P"]

#: Below this p-value a failing observable is beyond what the statistics allow.
SIGNIFICANT_P = 1e-3


@dataclass(frozen=True)
class FloorRow:
    """One observable of one multiplicity: generated and floor χ²/ndf, and where it fails."""

    multiplicity: int
    observable: str
    generated: float
    floor: float
    #: ``(low edge, high edge, pull)`` of the bins with the largest |pull| of the generated sample.
    worst_bins: tuple[tuple[float, float, float], ...]
    #: Degrees of freedom of the generated comparison (0: unknown).
    ndf: int = 0

    @property
    def ratio(self) -> float:
        return self.generated / self.floor if self.floor > 0 else float("inf")

    @property
    def p_value(self) -> float:
        """``P(χ² ≥ observed)`` for a generator equal to the truth (χ² with ``ndf`` degrees of freedom)."""
        if self.ndf <= 0 or not np.isfinite(self.generated):
            return float("nan")
        from scipy.stats import chi2

        return float(chi2.sf(self.generated * self.ndf, self.ndf))


@dataclass(frozen=True)
class FloorComparison:
    """Every observable's ratio to the floor, and the figures a reader checks first."""

    rows: tuple[FloorRow, ...]
    limit: float

    @property
    def ratios(self) -> np.ndarray:
        return np.array([row.ratio for row in self.rows])

    @property
    def median_ratio(self) -> float:
        return float(np.median(self.ratios))

    @property
    def worst(self) -> FloorRow:
        return self.rows[int(np.argmax(self.ratios))]

    @property
    def above_limit(self) -> list[FloorRow]:
        """The observables whose χ²/ndf exceeds ``limit`` × the floor."""
        return [row for row in self.rows if row.ratio > self.limit]

    @property
    def significant(self) -> list[FloorRow]:
        """Of :attr:`above_limit`, those no perfect generator would reach (``p_value < SIGNIFICANT_P``)."""
        return [row for row in self.above_limit if row.p_value < SIGNIFICANT_P]

    def to_dict(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "median_ratio": self.median_ratio,
            "worst": {
                "multiplicity": self.worst.multiplicity,
                "observable": self.worst.observable,
                "ratio": self.worst.ratio,
            },
            "above_limit": len(self.above_limit),
            "above_limit_significant": len(self.significant),
            "observables": [
                {
                    "multiplicity": row.multiplicity,
                    "observable": row.observable,
                    "chi2_ndf": row.generated,
                    "floor_chi2_ndf": row.floor,
                    "ratio": row.ratio,
                    "ndf": row.ndf,
                    "p_value": row.p_value,
                    "worst_bins": [list(b) for b in row.worst_bins],
                }
                for row in self.rows
            ],
        }

    def markdown(self) -> str:
        lines = [
            f"Median ratio to the floor {self.median_ratio:.2f}; worst {self.worst.ratio:.2f} "
            f"({self.worst.observable}, {self.worst.multiplicity} jets); "
            f"{len(self.above_limit)} of {len(self.rows)} observables above {self.limit:g} × the floor, "
            f"{len(self.significant)} of them beyond what the statistics allow (p < {SIGNIFICANT_P:g} "
            "for a generator equal to the truth).",
            "",
            "| jets | observable | floor χ²/ndf | generated χ²/ndf | ratio | p if perfect | largest pulls (bin: pull) |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            mark = "**" if row.ratio > self.limit else ""
            bins = ", ".join(f"[{lo:.3g}, {hi:.3g}): {pull:+.1f}" for lo, hi, pull in row.worst_bins)
            lines.append(
                f"| {row.multiplicity} | {row.observable} | {row.floor:.2f} | {row.generated:.2f} | "
                f"{mark}{row.ratio:.2f}{mark} | {row.p_value:.2g} | {bins} |"
            )
        return "\n".join(lines) + "\n"


def _worst_bins(result: ObservableResult, count: int) -> tuple[tuple[float, float, float], ...]:
    pulls = histogram_pulls(result.reference, result.generated)
    finite = np.flatnonzero(np.isfinite(pulls))
    order = finite[np.argsort(-np.abs(pulls[finite]), kind="stable")][:count]
    edges = np.asarray(result.edges)
    return tuple((float(edges[i]), float(edges[i + 1]), float(pulls[i])) for i in order)


def floor_comparison(
    generated: ValidationSummary, floor: ValidationSummary, limit: float = 2.0, bins_shown: int = 3
) -> FloorComparison:
    """Pair the observables of two validations against the same reference.

    Parameters
    ----------
    generated, floor
        ``validate(reference, generated)`` and ``validate(reference, training sample)``
        with the same binning.
    limit
        The ratio above which an observable counts as failing (2 by evgen's targets).
    bins_shown
        How many of a row's largest pulls to keep.
    """
    floors = {(r.multiplicity, r.name): r for r in floor.results}
    missing = [(r.multiplicity, r.name) for r in generated.results if (r.multiplicity, r.name) not in floors]
    if missing or len(floors) != len(generated.results):
        raise InputError(
            "the generated and the floor validation must cover the same observables; "
            f"only in the generated one: {missing[:5]}"
        )
    rows = tuple(
        FloorRow(
            r.multiplicity,
            r.name,
            r.comparison.chi2_ndf,
            floors[(r.multiplicity, r.name)].comparison.chi2_ndf,
            _worst_bins(r, bins_shown),
            r.comparison.ndf,
        )
        for r in generated.results
    )
    return FloorComparison(rows, float(limit))
