r"""A classifier two-sample test: can a fresh network tell generated from reference events?

Precision Enthusiasts (arXiv:2110.13632, Sec. 4.3) use a discriminator to find
where generated events differ from the training data. As a single number per
jet multiplicity we train a *fresh* classifier (:mod:`evgen.validation.classifier`) on half
of both samples and measure the area under its ROC curve (AUC) on the other
half. Identical distributions give AUC = ½ whatever the classifier learned
(held-out events carry no trace of the training half), so an AUC significantly
above ½ proves a difference. The uncertainty is the bootstrap spread over the
held-out events: it covers the test-sample fluctuation for the trained
classifier, not the variation between trainings.

>>> report = consistency_report(truth, generated, config={"epochs": 30})   # doctest: +SKIP
>>> report.results[2].auc, report.results[2].auc_error                     # doctest: +SKIP
"""

from __future__ import annotations

__all__ = [
    "TwoSampleResult",
    "ConsistencyReport",
    "weighted_auc",
    "bootstrap_auc",
    "classifier_two_sample_test",
    "consistency_report",
]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import awkward as ak
import numpy as np

from evgen.errors import InputError
from evgen.interfaces import Measurement

if TYPE_CHECKING:
    from evgen.validation.classifier import ClassifierConfig

#: Options of the test's classifier unless a config is given: smaller and shorter than Table 2.
DEFAULT_TEST_CLASSIFIER: dict[str, Any] = {
    "layers": 4,
    "hidden": 128,
    "epochs": 50,
    "lr": 1e-3,
    "batch_size": 1024,
}


def _ranks(scores: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense rank of each score (ties share a rank) and the number of distinct scores."""
    unique, inverse = np.unique(scores, return_inverse=True)
    return inverse, len(unique)


def _auc_from_ranks(rank: np.ndarray, n_levels: int, labels: np.ndarray, weights: np.ndarray) -> float:
    w_pos = np.bincount(rank[labels], weights[labels], n_levels)
    w_neg = np.bincount(rank[~labels], weights[~labels], n_levels)
    total_pos, total_neg = w_pos.sum(), w_neg.sum()
    if total_pos <= 0 or total_neg <= 0:
        return float("nan")
    below = np.cumsum(w_neg) - w_neg  # negative weight strictly below each level
    return float(np.sum(w_pos * (below + 0.5 * w_neg)) / (total_pos * total_neg))


def weighted_auc(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    r"""Area under the ROC curve with event weights, from ranks (weighted Mann–Whitney U).

    .. math::
        \text{AUC} = \frac{\sum_{i \in +} \sum_{j \in -} w_i w_j
        \big[\mathbb 1(s_i > s_j) + \tfrac12 \mathbb 1(s_i = s_j)\big]}{W_+ W_-},

    the probability that a positive (label 1, reference) event scores higher than
    a negative one. Computed in :math:`O(N \log N)` by sorting.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    if not (scores.shape == labels.shape == weights.shape) or scores.ndim != 1:
        raise InputError(
            f"scores {scores.shape}, labels {labels.shape}, weights {weights.shape} must be equal 1-d"
        )
    rank, levels = _ranks(scores)
    return _auc_from_ranks(rank, levels, labels, weights)


def bootstrap_auc(
    scores: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> Measurement:
    """The weighted AUC with its bootstrap standard deviation.

    Each replica redraws the events of each class with replacement (multinomial
    counts multiply the weights), keeping the scores, so the ranking is computed once.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    rank, levels = _ranks(scores)
    value = _auc_from_ranks(rank, levels, labels, weights)
    if n_bootstrap < 2:
        return Measurement(value)
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(labels), np.flatnonzero(~labels)
    replicas = np.empty(n_bootstrap)
    for b in range(n_bootstrap):
        counts = np.zeros(len(scores))
        counts[pos] = np.bincount(rng.integers(0, len(pos), len(pos)), minlength=len(pos))
        counts[neg] = np.bincount(rng.integers(0, len(neg), len(neg)), minlength=len(neg))
        replicas[b] = _auc_from_ranks(rank, levels, labels, weights * counts)
    return Measurement(value, float(np.nanstd(replicas, ddof=1)))


@dataclass(frozen=True)
class TwoSampleResult:
    """Outcome of :func:`classifier_two_sample_test` for one jet multiplicity (or toy)."""

    auc: float
    auc_error: float
    n_test: int
    n_train: int
    multiplicity: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list, compare=False, repr=False)

    @property
    def measurement(self) -> Measurement:
        return Measurement(self.auc, self.auc_error)

    @property
    def significance(self) -> float:
        """(AUC − ½) in units of its bootstrap error."""
        return (self.auc - 0.5) / self.auc_error if self.auc_error > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "multiplicity": self.multiplicity,
            "auc": self.auc,
            "auc_error": self.auc_error,
            "significance": self.significance,
            "n_test": self.n_test,
            "n_train": self.n_train,
        }


def _features(
    sample: ak.Array | np.ndarray, multiplicity: int | None, name: str
) -> tuple[np.ndarray, np.ndarray]:
    from evgen.events import event_weights, is_toy
    from evgen.physics.observables import select_multiplicity
    from evgen.validation.classifier import classifier_features

    if isinstance(sample, np.ndarray):
        x = np.asarray(sample, dtype=np.float64)
        return (x[:, None] if x.ndim == 1 else x), np.ones(len(x))
    if not is_toy(sample):
        if multiplicity is None:
            raise InputError("collider events need a jet multiplicity for the two-sample test")
        sample = select_multiplicity(sample, multiplicity)
        if len(sample) == 0:
            raise InputError(f"the {name} sample has no {multiplicity}-jet events")
    x, _ = classifier_features(sample, multiplicity)
    return x, event_weights(sample)


def _halves(n: int, rng: np.random.Generator, test_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    n_test = int(round(test_fraction * n))
    return order[n_test:], order[:n_test]


def classifier_two_sample_test(
    reference: ak.Array | np.ndarray,
    generated: ak.Array | np.ndarray,
    multiplicity: int | None = None,
    *,
    config: ClassifierConfig | Mapping[str, Any] | None = None,
    seed: int = 0,
    n_bootstrap: int = 200,
    test_fraction: float = 0.5,
    weights: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    progress: bool = False,
) -> TwoSampleResult:
    """AUC of a fresh classifier between two samples, on events it was not trained on.

    Parameters
    ----------
    reference, generated
        Events (collider: only the ``multiplicity``-jet events are used, with the
        inputs of Eq. 14; toys: their points) or plain feature matrices ``(N, d)``.
    multiplicity
        Jet multiplicity for collider events; ignored otherwise.
    config
        Classifier options (:class:`evgen.validation.classifier.ClassifierConfig`); by default
        :data:`DEFAULT_TEST_CLASSIFIER`.
    seed
        Seeds the split, the training and the bootstrap.
    n_bootstrap
        Bootstrap replicas for the AUC error.
    test_fraction
        Share of each sample held out to measure the AUC (½: train on half, test on half).
    weights
        Event weights of plain feature matrices (events carry their own).
    progress
        Show the training progress bar.
    """
    from evgen.validation.classifier import ClassifierConfig, train_classifier

    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction = {test_fraction}: must lie in (0, 1)")
    if config is None:
        cfg = ClassifierConfig.from_mapping(DEFAULT_TEST_CLASSIFIER)
    else:
        cfg = config if isinstance(config, ClassifierConfig) else ClassifierConfig.from_mapping(config)
    x_ref, w_ref = _features(reference, multiplicity, "reference")
    x_gen, w_gen = _features(generated, multiplicity, "generated")
    if weights[0] is not None:
        w_ref = np.asarray(weights[0], dtype=np.float64)
    if weights[1] is not None:
        w_gen = np.asarray(weights[1], dtype=np.float64)
    rng = np.random.default_rng(seed)
    tr_r, te_r = _halves(len(x_ref), rng, test_fraction)
    tr_g, te_g = _halves(len(x_gen), rng, test_fraction)
    if min(len(tr_r), len(te_r), len(tr_g), len(te_g)) < 2:
        raise InputError(
            f"too few events for a two-sample test: {len(x_ref)} reference and {len(x_gen)} generated"
            + (f" with {multiplicity} jets" if multiplicity is not None else "")
        )
    label = f"two-sample {multiplicity}j" if multiplicity is not None else "two-sample"
    clf = train_classifier(
        x_ref[tr_r],
        x_gen[tr_g],
        w_ref[tr_r],
        w_gen[tr_g],
        config=cfg,
        seed=seed,
        progress=progress,
        desc=label,
    )
    scores = np.concatenate([clf.logit(x_ref[te_r]), clf.logit(x_gen[te_g])])
    labels = np.concatenate([np.ones(len(te_r), bool), np.zeros(len(te_g), bool)])
    w = np.concatenate([w_ref[te_r], w_gen[te_g]])
    m = bootstrap_auc(scores, labels, w, n_bootstrap=n_bootstrap, seed=seed + 1)
    return TwoSampleResult(
        m.value, m.error, len(te_r) + len(te_g), len(tr_r) + len(tr_g), multiplicity, clf.history
    )


@dataclass
class ConsistencyReport:
    """Per-multiplicity two-sample AUCs (key ``None`` for toys)."""

    results: dict[int | None, TwoSampleResult]

    def to_dict(self) -> dict[str, Any]:
        return {"two_sample_auc": [r.to_dict() for r in self.results.values()]}

    def markdown(self) -> str:
        lines = [
            "## Classifier two-sample test",
            "",
            "AUC of a fresh classifier on held-out events (½: indistinguishable); error from the bootstrap.",
            "",
            "| jets | AUC | (AUC − ½)/σ | test events |",
            "|---|---|---|---|",
        ]
        for key, r in self.results.items():
            lines.append(
                f"| {'—' if key is None else key} | {r.auc:.4f} ± {r.auc_error:.4f} | {r.significance:.1f} | {r.n_test} |"
            )
        return "\n".join(lines) + "\n"


def consistency_report(
    reference: ak.Array,
    generated: ak.Array,
    *,
    multiplicities: Sequence[int] | None = None,
    config: ClassifierConfig | Mapping[str, Any] | None = None,
    seed: int = 0,
    n_bootstrap: int = 200,
    test_fraction: float = 0.5,
    min_events: int = 20,
    progress: bool = False,
) -> ConsistencyReport:
    """:func:`classifier_two_sample_test` for every jet multiplicity both samples share.

    Multiplicities with fewer than ``min_events`` events in either sample are
    skipped. For toy events, one test on the points (key ``None``).
    """
    from evgen.events import is_toy, n_jets

    if is_toy(reference) != is_toy(generated):
        raise InputError("compare toy points with toy points and collider events with collider events")
    options = dict(
        config=config, seed=seed, n_bootstrap=n_bootstrap, test_fraction=test_fraction, progress=progress
    )
    if is_toy(reference):
        return ConsistencyReport({None: classifier_two_sample_test(reference, generated, None, **options)})
    ref_n, gen_n = n_jets(reference), n_jets(generated)
    if multiplicities is None:
        multiplicities = sorted(set(np.unique(ref_n).tolist()) & set(np.unique(gen_n).tolist()) - {0})
    results: dict[int | None, TwoSampleResult] = {}
    for n in multiplicities:
        if min((ref_n == n).sum(), (gen_n == n).sum()) < min_events:
            continue
        results[int(n)] = classifier_two_sample_test(reference, generated, int(n), **options)
    if not results:
        raise InputError("no jet multiplicity has enough events in both samples for a two-sample test")
    return ConsistencyReport(results)
