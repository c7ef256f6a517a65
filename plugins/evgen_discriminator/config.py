"""Options of the ``discriminator`` reweighter, read from a TOML/JSON config.

Sections: top-level ``seed``, ``weight_clip``, ``test_fraction``,
``calibration_bins``, ``normalise``, ``match_rates``, ``min_events``; ``[classifier]``
(:class:`evgen.validation.classifier.ClassifierConfig`, Table 2 defaults).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evgen.training.config import from_mapping, invalid, to_dict
from evgen.validation.classifier import ClassifierConfig

__all__ = ["DiscriminatorConfig"]


@dataclass(frozen=True)
class DiscriminatorConfig:
    """All options of the ``discriminator`` reweighter.

    Parameters
    ----------
    seed
        Seeds the held-out split and every classifier (multiplicity ``n`` uses ``seed + n``).
    classifier
        Network and training of each per-multiplicity classifier (Table 2 defaults).
    weight_clip
        ``[lo, hi]`` bounds of :math:`w_D = D/(1-D)` (Eq. 12); the default ``[0.01, 100]``
        equals clipping :math:`D` to ``[1/101, 100/101]``. Set ``[0, inf]`` to disable.
    test_fraction
        Share of each sample held out from training, on which the reliability
        curve (calibration) and the discriminator's AUC are measured.
    calibration_bins
        Bins of the reliability curve.
    normalise
        Divide each classifier's weights by their (event-weighted) mean over the generated
        events it was fitted on. The true ratio of normalised densities has mean 1 over the
        generated sample; this removes the classifier's overall offset (a constant in the
        logit that the finite training sample leaves free), so only the shape is corrected.
    match_rates
        Multiply the weights of ``n``-jet events by ``f_ref(n)/f_gen(n)``, the ratio
        of the (weighted) multiplicity fractions, so the reweighted sample also has
        the reference's multiplicity fractions. The classifiers only see the shape
        within one multiplicity.
    min_events
        Fewest events per sample a multiplicity needs to get a classifier.
    """

    seed: int = 0
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    weight_clip: tuple[float, float] = (0.01, 100.0)
    test_fraction: float = 0.2
    calibration_bins: int = 10
    normalise: bool = True
    match_rates: bool = True
    min_events: int = 50

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise invalid("seed", self.seed, "must be a non-negative integer")
        lo, hi = self.weight_clip
        if not 0 <= lo < hi:
            raise invalid("weight_clip", list(self.weight_clip), "expected [lo, hi] with 0 ≤ lo < hi")
        if not 0 < self.test_fraction < 0.9:
            raise invalid("test_fraction", self.test_fraction, "must lie in (0, 0.9)")
        if self.calibration_bins < 2:
            raise invalid("calibration_bins", self.calibration_bins, "must be at least 2")
        if self.min_events < 4:
            raise invalid("min_events", self.min_events, "must be at least 4")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> DiscriminatorConfig:
        return from_mapping(cls, dict(mapping or {}))

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)
