r"""The ``discriminator`` reweighter: one classifier per jet multiplicity (Sec. 3.1, Eq. 12–14).

For every jet multiplicity present in both samples a classifier
(:mod:`evgen.validation.classifier`, Table 2) learns to tell reference (truth, :math:`D \to 1`)
from generated events (:math:`D \to 0`) on the inputs of Eq. (14):
:math:`\log p_T, \eta, \phi` (and :math:`m` for jets) of every object,
:math:`M_{\mu\mu}` and :math:`\Delta R` of every jet pair. Both samples' event
weights enter the cross entropy of Eq. (13), each class normalised to the same
total. A generated event then gets the weight of Eq. (12),

.. math::
    w_D(x) = \frac{D(x)}{1 - D(x)} \approx \frac{p_\text{ref}(x)}{p_\text{gen}(x)},

clipped to ``weight_clip`` (default :math:`[0.01, 100]`) and, with
``match_rates``, multiplied by the ratio of the multiplicity fractions.

A share ``test_fraction`` of both samples is held out from training; on it the
reweighter measures each classifier's reliability curve (:mod:`evgen.validation.calibration`)
and AUC, kept in :attr:`DiscriminatorReweighter.diagnostics`.

Toy events (a field ``x``) get one classifier on the points themselves.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.events import event_weights, is_toy, n_jets
from evgen.files import atomic_write
from evgen.interfaces import Reweighter
from evgen.validation.calibration import ReliabilityCurve, reliability_curve

if TYPE_CHECKING:
    from evgen_discriminator.config import DiscriminatorConfig

__all__ = ["DiscriminatorReweighter", "TOY_KEY"]

#: Key of the single classifier of toy events.
TOY_KEY = "toy"
_STATE = "reweighter.json"


def _key(n: int | None) -> str:
    return TOY_KEY if n is None else str(int(n))


class DiscriminatorReweighter(Reweighter):
    """Per-multiplicity discriminators and their weights :math:`w_D = D/(1-D)` (Eq. 12).

    Parameters
    ----------
    config
        Options: a mapping (as read from TOML/JSON) or a :class:`DiscriminatorConfig`.
    **overrides
        Sections or values merged over ``config``, e.g. ``classifier={"epochs": 20}``.

    Examples
    --------
    >>> rw = DiscriminatorReweighter(classifier={"epochs": 50})      # doctest: +SKIP
    >>> rw.fit(truth, generated)                                     # doctest: +SKIP
    >>> w = rw.weights(generated)         # per event, clipped       # doctest: +SKIP
    >>> rw.diagnostics["2"]["reliability"].chi2_ndf                  # doctest: +SKIP
    """

    name = "discriminator"
    description = "per-jet-multiplicity classifier weights w_D = D/(1-D) (2110.13632 Sec. 3.1)"

    def __init__(
        self, config: Mapping[str, Any] | DiscriminatorConfig | None = None, **overrides: Any
    ) -> None:
        from evgen.training.config import deep_merge
        from evgen_discriminator.config import DiscriminatorConfig

        if isinstance(config, DiscriminatorConfig):
            config = config.to_dict()
        self.config = DiscriminatorConfig.from_mapping(deep_merge(dict(config or {}), overrides))
        self.classifiers: dict[str, Any] = {}
        self.rates: dict[str, float] = {}
        self.norms: dict[str, float] = {}
        self.diagnostics: dict[str, dict[str, Any]] = {}
        self.toy = False

    # -- inputs ---------------------------------------------------------------------------
    @staticmethod
    def _groups(events: ak.Array) -> dict[int | None, np.ndarray]:
        """Event indices per classifier: per jet multiplicity, or all events for toys."""
        if is_toy(events):
            return {None: np.arange(len(events))}
        counts = n_jets(events)
        return {int(n): np.flatnonzero(counts == n) for n in np.unique(counts)}

    @staticmethod
    def _features(events: ak.Array, n: int | None) -> np.ndarray:
        from evgen.validation.classifier import classifier_features

        return classifier_features(events, n)[0]

    # -- training -------------------------------------------------------------------------
    def fit(
        self,
        reference: ak.Array,
        generated: ak.Array,
        *,
        progress: bool = True,
        n_bootstrap: int = 100,
        **options: Any,
    ) -> dict[str, Any]:
        """Train one classifier per jet multiplicity; returns their per-epoch histories by key.

        Parameters
        ----------
        reference
            Truth events (label 1), possibly weighted.
        generated
            Generated events (label 0), possibly weighted.
        progress
            Show progress bars.
        n_bootstrap
            Bootstrap replicas for the held-out AUC error.
        """
        from evgen.validation.classifier import discriminator_weights, train_classifier

        if options:
            raise ConfigError(f"discriminator fit() got unknown options {sorted(options)}")
        if len(reference) == 0 or len(generated) == 0:
            raise InputError(
                f"need events in both samples; got {len(reference)} reference, {len(generated)} generated"
            )
        if is_toy(reference) != is_toy(generated):
            raise InputError(
                "reweight toy points against toy points and collider events against collider events"
            )
        cfg = self.config
        self.toy = is_toy(reference)
        ref_groups, gen_groups = self._groups(reference), self._groups(generated)
        w_ref_all, w_gen_all = event_weights(reference), event_weights(generated)
        total_ref, total_gen = w_ref_all.sum(), w_gen_all.sum()
        if not (total_ref > 0 and total_gen > 0):
            raise InputError("both samples need a positive total event weight")
        keys = [n for n in ref_groups if n in gen_groups and n != 0]
        self.classifiers, self.diagnostics, self.rates, self.norms = {}, {}, {}, {}
        skipped = {}
        history: dict[str, Any] = {}
        for n in keys:
            ir, ig = ref_groups[n], gen_groups[n]
            if min(len(ir), len(ig)) < cfg.min_events:
                skipped[_key(n)] = (len(ir), len(ig))
                continue
            x_ref, x_gen = self._features(reference[ir], n), self._features(generated[ig], n)
            w_ref, w_gen = w_ref_all[ir], w_gen_all[ig]
            seed = cfg.seed + (0 if n is None else n)
            rng = np.random.default_rng(seed)
            te_r = rng.uniform(size=len(ir)) < cfg.test_fraction
            te_g = rng.uniform(size=len(ig)) < cfg.test_fraction
            names = None
            if n is not None:
                from evgen.validation.classifier import classifier_features

                names = classifier_features(reference[ir[:1]], n)[1]
            label = "discriminator" + ("" if n is None else f" {n}j")
            clf = train_classifier(
                x_ref[~te_r],
                x_gen[~te_g],
                w_ref[~te_r],
                w_gen[~te_g],
                config=cfg.classifier,
                seed=seed,
                progress=progress,
                desc=label,
                feature_names=names,
            )
            key = _key(n)
            self.classifiers[key] = clf
            history[key] = clf.history
            self.rates[key] = float((w_ref.sum() / total_ref) / (w_gen.sum() / total_gen))
            w_fit = discriminator_weights(clf.logit(x_gen[~te_g]), tuple(cfg.weight_clip))
            self.norms[key] = float(np.average(w_fit, weights=w_gen[~te_g])) if cfg.normalise else 1.0
            self.diagnostics[key] = self._held_out(
                clf, x_ref[te_r], x_gen[te_g], w_ref[te_r], w_gen[te_g], seed, n_bootstrap
            )
            self.diagnostics[key].update(n_train=int((~te_r).sum() + (~te_g).sum()), epochs=len(clf.history))
        if not self.classifiers:
            raise InputError(
                f"no jet multiplicity has at least {cfg.min_events} events in both samples "
                f"(reference: { {_key(k): len(v) for k, v in ref_groups.items()} }, "
                f"generated: { {_key(k): len(v) for k, v in gen_groups.items()} }); lower min_events"
            )
        if skipped:
            self.diagnostics["skipped"] = {
                k: {"reference": a, "generated": b} for k, (a, b) in skipped.items()
            }
        return history

    def _held_out(
        self,
        clf: Any,
        x_ref: np.ndarray,
        x_gen: np.ndarray,
        w_ref: np.ndarray,
        w_gen: np.ndarray,
        seed: int,
        n_bootstrap: int,
    ) -> dict[str, Any]:
        from evgen.validation.consistency import bootstrap_auc

        out: dict[str, Any] = {"n_test": int(len(x_ref) + len(x_gen))}
        if len(x_ref) < 2 or len(x_gen) < 2:
            return out
        logits = np.concatenate([clf.logit(x_ref), clf.logit(x_gen)])
        labels = np.concatenate([np.ones(len(x_ref)), np.zeros(len(x_gen))])
        w = np.concatenate([w_ref, w_gen])
        d = 1.0 / (1.0 + np.exp(-logits))
        out["reliability"] = reliability_curve(d, labels, w, bins=self.config.calibration_bins)
        auc = bootstrap_auc(logits, labels.astype(bool), w, n_bootstrap=n_bootstrap, seed=seed)
        out["auc"], out["auc_error"] = auc.value, auc.error
        return out

    # -- evaluation -----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not self.classifiers:
            raise ConfigError("the discriminator reweighter is not trained: call fit() or load()")

    def logits(self, events: ak.Array) -> np.ndarray:
        """Classifier logits :math:`\\log D/(1-D)` per event (unclipped)."""
        self._check_fitted()
        if is_toy(events) != self.toy:
            raise InputError(f"this reweighter was trained on {'toy' if self.toy else 'collider'} events")
        out = np.empty(len(events))
        for n, index in self._groups(events).items():
            key = _key(n)
            if key not in self.classifiers:
                raise InputError(
                    f"{len(index)} events have {n} jets, but classifiers exist only for "
                    f"{sorted(self.classifiers)} jets; select those multiplicities first"
                )
            if len(index):
                out[index] = self.classifiers[key].logit(self._features(events[index], n))
        return out

    def discriminator(self, events: ak.Array) -> np.ndarray:
        """:math:`D(x)` per event: the probability of being a reference event."""
        return 1.0 / (1.0 + np.exp(-self.logits(events)))

    def weights(
        self,
        events: ak.Array,
        *,
        clip: bool = True,
        normalise: bool | None = None,
        match_rates: bool | None = None,
    ) -> np.ndarray:
        """Per-event weights :math:`r_n \\cdot \\mathrm{clip}\\big(w_D / c_n\\big)` with :math:`w_D = D/(1-D)` (Eq. 12).

        Multiply the events' own weights by these to morph them onto the reference.
        :math:`c_n` (with ``normalise``, default: the config's) is each classifier's mean
        clipped weight over its generated training events, the clip bounds ``weight_clip``
        hold for :math:`w_D/c_n`, and :math:`r_n` (with ``match_rates``, default: the
        config's) is the ratio of the reference and generated fractions of ``n``-jet events.
        """
        from evgen.validation.classifier import discriminator_weights

        logits = self.logits(events)
        normalise = self.config.normalise if normalise is None else normalise
        match_rates = (self.config.match_rates if match_rates is None else match_rates) and not self.toy
        keys = np.full(len(events), TOY_KEY) if self.toy else n_jets(events).astype(str)
        rate = np.ones(len(events))
        for key in self.classifiers:
            sel = keys == key
            if normalise:
                logits[sel] -= np.log(self.norms.get(key, 1.0))
            if match_rates:
                rate[sel] = self.rates[key]
        w = discriminator_weights(logits, tuple(self.config.weight_clip) if clip else None)
        return w * rate if match_rates else w
        return w

    @property
    def reliability(self) -> dict[str, ReliabilityCurve]:
        """Held-out reliability curve per classifier key."""
        return {k: d["reliability"] for k, d in self.diagnostics.items() if "reliability" in d}

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``reweighter.json`` and one ``discriminator_{key}.{safetensors,json}`` per classifier."""
        self._check_fitted()
        out = Path(path)
        if out.exists() and not out.is_dir():
            raise InputError(f"{out}: exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
        for key, clf in self.classifiers.items():
            clf.save(out / f"discriminator_{key}")
        diagnostics = {
            k: {kk: (vv.to_dict() if isinstance(vv, ReliabilityCurve) else vv) for kk, vv in d.items()}
            for k, d in self.diagnostics.items()
        }
        state = {
            "reweighter": self.name,
            "config": self.config.to_dict(),
            "toy": self.toy,
            "keys": sorted(self.classifiers),
            "rates": self.rates,
            "norms": self.norms,
            "diagnostics": diagnostics,
        }
        atomic_write(out / _STATE, json.dumps(state, indent=2, allow_nan=True) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | None = None) -> DiscriminatorReweighter:
        """Restore a reweighter written by :meth:`save` (weights from safetensors)."""
        from evgen.validation.classifier import Classifier

        root = Path(path)
        state_path = root / _STATE
        if not state_path.exists():
            raise InputError(f"{root}: not a discriminator directory (no {_STATE})")
        try:
            state = json.loads(state_path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"{state_path}: not valid JSON ({exc})") from None
        rw = cls(state["config"])
        rw.toy = bool(state["toy"])
        rw.rates = {k: float(v) for k, v in state["rates"].items()}
        rw.norms = {k: float(v) for k, v in state.get("norms", {}).items()}
        rw.classifiers = {
            k: Classifier.load(root / f"discriminator_{k}", device=device) for k in state["keys"]
        }
        rw.diagnostics = {
            k: {kk: (ReliabilityCurve.from_dict(vv) if kk == "reliability" else vv) for kk, vv in d.items()}
            for k, d in state["diagnostics"].items()
        }
        return rw
