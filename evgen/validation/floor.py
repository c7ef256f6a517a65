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

The ratio alone can mislead where the floor itself fluctuated: two independent samples of
one density give χ²/ndf ≈ 1 ± √(2/ndf), so a floor of 0.6 puts even a perfect generator near
1.7 ×. Nor is the χ² distribution with ndf degrees of freedom a yardstick for the *ratio*:
the generated and the floor comparison share one truth file, whose fluctuations enter both.
Each row therefore carries the distribution of the ratio itself for a generator equal to the
truth's density, over repeated experiments: ``replicas`` times, a truth, a training and a
generated histogram are drawn (multinomially, at the truth's and the training sample's sizes
and at the generated sample's effective size (Σw)²/Σw² and weight scale) from one density,
the pooled truth and training histogram, and compared as the real ones were. ``p_value`` is
the fraction of replicas whose ratio reaches the observed one (a failure with p ≥ 0.001 is
within what the statistics allow), ``above_limit_if_perfect`` the fraction above ``limit``;
their sum over the rows is how many observables a perfect generator would put above the
limit (``expected_above_limit_if_perfect``). ``p_value_chi2`` keeps the χ²_ndf tail
probability of the generated χ² alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from evgen.errors import InputError
from evgen.validation.histograms import histogram_pulls, shape_pulls
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
    #: Fraction of the replica experiments with a perfect generator (module docstring) whose
    #: ratio to the floor reaches this one (NaN: no replicas).
    p_value: float = float("nan")
    #: Fraction of those replicas whose ratio exceeds ``limit``.
    above_limit_if_perfect: float = float("nan")

    @property
    def ratio(self) -> float:
        return self.generated / self.floor if self.floor > 0 else float("inf")

    @property
    def p_value_chi2(self) -> float:
        """``P(χ²_ndf ≥ observed)``: the tail of the χ² distribution, which ignores that the
        generated and the floor comparison share the truth file (NaN if ``ndf`` is unknown)."""
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
    def expected_above_limit_if_perfect(self) -> float:
        """How many observables a generator equal to the truth's density would put above ``limit``
        × the floor, over repeated experiments: the sum of the rows' ``above_limit_if_perfect``."""
        return float(np.nansum([row.above_limit_if_perfect for row in self.rows]))

    @property
    def probability_none_above_if_perfect(self) -> float:
        """The chance that a perfect generator has no observable above ``limit`` × the floor
        (``Π (1 − above_limit_if_perfect)``, the rows taken as independent)."""
        return float(
            np.prod(
                [
                    1.0 - row.above_limit_if_perfect
                    for row in self.rows
                    if np.isfinite(row.above_limit_if_perfect)
                ]
            )
        )

    @property
    def significant(self) -> list[FloorRow]:
        """Of :attr:`above_limit`, those a perfect generator would not reach (``p_value < SIGNIFICANT_P``)."""
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
            "expected_above_limit_if_perfect": self.expected_above_limit_if_perfect,
            "probability_none_above_if_perfect": self.probability_none_above_if_perfect,
            "observables": [
                {
                    "multiplicity": row.multiplicity,
                    "observable": row.observable,
                    "chi2_ndf": row.generated,
                    "floor_chi2_ndf": row.floor,
                    "ratio": row.ratio,
                    "ndf": row.ndf,
                    "p_value": row.p_value,
                    "p_value_chi2": row.p_value_chi2,
                    "above_limit_if_perfect": row.above_limit_if_perfect,
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
            "for a generator equal to the truth's density). Such a generator would put "
            f"{self.expected_above_limit_if_perfect:.1f} observables above {self.limit:g} × these floors "
            f"(none with probability {self.probability_none_above_if_perfect:.2f}).",
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


def _replica_ratios(
    result: ObservableResult, training: ObservableResult, replicas: int, rng: np.random.Generator
) -> np.ndarray:
    """Ratios generated χ² / floor χ² of ``replicas`` experiments in which truth, training and
    generated histograms are all drawn from one density (the pooled truth and training histogram)."""
    r, rv = result.reference.values(), result.reference.variances()
    f, fv = training.generated.values(), training.generated.variances()
    g, gv = result.generated.values(), result.generated.variances()
    if not all(a.sum() > 0 for a in (r, rv, f, fv, g, gv)):
        return np.full(replicas, np.nan)

    def draw(total: float, variance: float) -> tuple[np.ndarray, np.ndarray]:
        n_eff = total**2 / variance
        scale = total / n_eff  # one weight for every event: the sample's Σw and (Σw)²/Σw²
        counts = rng.multinomial(max(int(round(n_eff)), 1), density, size=replicas)
        return counts * scale, counts * scale**2

    pooled = np.clip(
        r / r.sum() * (r.sum() ** 2 / rv.sum()) + f / f.sum() * (f.sum() ** 2 / fv.sum()), 0, None
    )
    density = pooled / pooled.sum()
    truth, truth_var = draw(r.sum(), rv.sum())
    floor_chi2 = np.nansum(shape_pulls(truth, truth_var, *draw(f.sum(), fv.sum())) ** 2, axis=-1)
    gen_chi2 = np.nansum(shape_pulls(truth, truth_var, *draw(g.sum(), gv.sum())) ** 2, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(floor_chi2 > 0, gen_chi2 / floor_chi2, np.inf)


def _worst_bins(result: ObservableResult, count: int) -> tuple[tuple[float, float, float], ...]:
    pulls = histogram_pulls(result.reference, result.generated)
    finite = np.flatnonzero(np.isfinite(pulls))
    order = finite[np.argsort(-np.abs(pulls[finite]), kind="stable")][:count]
    edges = np.asarray(result.edges)
    return tuple((float(edges[i]), float(edges[i + 1]), float(pulls[i])) for i in order)


def floor_comparison(
    generated: ValidationSummary,
    floor: ValidationSummary,
    limit: float = 2.0,
    bins_shown: int = 3,
    replicas: int = 2000,
    seed: int = 0,
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
    replicas
        Experiments with a perfect generator drawn per observable (module docstring); 0 leaves
        ``p_value`` and ``above_limit_if_perfect`` NaN.
    seed
        Seed of those draws.
    """
    floors = {(r.multiplicity, r.name): r for r in floor.results}
    missing = [(r.multiplicity, r.name) for r in generated.results if (r.multiplicity, r.name) not in floors]
    if missing or len(floors) != len(generated.results):
        raise InputError(
            "the generated and the floor validation must cover the same observables; "
            f"only in the generated one: {missing[:5]}"
        )
    rng = np.random.default_rng(seed)
    rows = []
    for r in generated.results:
        training = floors[(r.multiplicity, r.name)]
        p_value = above = float("nan")
        if replicas > 0 and r.comparison.ndf > 0 and training.comparison.chi2 > 0:
            ratios = _replica_ratios(r, training, replicas, rng)
            if not np.isnan(ratios).any():
                observed = r.comparison.chi2_ndf / training.comparison.chi2_ndf
                p_value = float((1 + np.sum(ratios >= observed)) / (1 + replicas))
                above = float(np.mean(ratios > limit))
        rows.append(
            FloorRow(
                r.multiplicity,
                r.name,
                r.comparison.chi2_ndf,
                training.comparison.chi2_ndf,
                _worst_bins(r, bins_shown),
                r.comparison.ndf,
                p_value,
                above,
            )
        )
    return FloorComparison(tuple(rows), float(limit))
