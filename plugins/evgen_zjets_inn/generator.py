"""The ``zjets-inn`` generator: Precision Enthusiasts' INN for Z → μμ + {1, 2, 3} jets (Sec. 2).

Training (:meth:`ZJetsINN.fit`): events are checked (2 muons, 1–3 jets), mapped
to features and through the per-multiplicity preprocessing (Sec. 2.1); with the
magic transformation each event gets the weight of Eq. (8); then the base μμj
network and the networks for the 2nd and 3rd jet are trained one after the other
with the weighted loss of Eq. (10), each epoch drawing equal numbers of events
per multiplicity (Sec. 2.2).

Generation (:meth:`ZJetsINN.sample`): the multiplicity is drawn from the
training fractions, the networks are chained (Fig. 1), the preprocessing is
inverted and the events carry the inverse magic weights of Eq. (9) — zero below
ΔR_jj = 0.4 — normalised per multiplicity (mean weight one, measured on generated
events after training) so every multiplicity keeps its training fraction.

``[reflection]`` uses the beam reflection ``(η, φ) → (−η, −φ)``, an exact symmetry of
pp collisions (:mod:`evgen.physics.reflection`): ``training`` joins every training event
by its mirror image, ``generation`` reflects each generated event with probability ½.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.events import concatenate, n_jets, training_weights
from evgen.files import atomic_write
from evgen.generation.run_dir import RunDir
from evgen.interfaces import Generator
from evgen.physics.observables import dimuon_mass
from evgen.physics.reflection import mirror, mirror_some, reflect, reflect_some, symmetrised_log_prob
from evgen.preprocessing.angular import AngularCoefficients
from evgen.preprocessing.base import Chain
from evgen.preprocessing.calibration import ConditionalCalibration, MarginalCalibration
from evgen.preprocessing.recoil_calibration import RecoilCalibration
from evgen.preprocessing.steps import Whiten
from evgen.preprocessing.zjets import MULTIPLICITIES, ZJetsPreprocessing
from evgen.training.config import deep_merge
from evgen_zjets_inn.config import ZJetsINNConfig, stored_config

__all__ = ["ZJetsINN", "check_events"]

_STATE = "model.json"
#: The steps fitted after training from the network's own samples.
_CALIBRATIONS = (MarginalCalibration, ConditionalCalibration, RecoilCalibration)
#: No Z+jets event at a collider has a feature (GeV or rad) beyond this: rows past it are the flow's
#: numerical tail (an exp of a huge network output), which would overflow the float32 branches of
#: the ROOT file into inf and NaN; they are redrawn like non-finite rows.
FEATURE_LIMIT = 1e6
#: Generated events per multiplicity that fix the magic-weight normalisation (0.3 % precision).
MAGIC_NORMALISATION_EVENTS = 20_000
_WEIGHTS = "zjets_inn"


def check_events(events: ak.Array, source: str = "events", drop: bool = False) -> tuple[ak.Array, int]:
    """Events with exactly 2 muons and 1–3 jets; others fail (or are dropped with ``drop``).

    Returns the events kept and how many were dropped.
    """
    n_mu = ak.to_numpy(ak.num(events["Muon"], axis=1))
    n_j = n_jets(events)
    good = (n_mu == 2) & (n_j >= 1) & (n_j <= max(MULTIPLICITIES))
    bad = int((~good).sum())
    if bad and not drop:
        i = int(np.flatnonzero(~good)[0])
        summary = ", ".join(
            f"{int(((n_mu == m) & (n_j == j) & ~good).sum())} with {m} muons and {j} jets"
            for m, j in sorted({(int(a), int(b)) for a, b in zip(n_mu[~good], n_j[~good], strict=True)})[:6]
        )
        raise InputError(
            f"{source}: {bad} of {len(events)} events are not Z→μμ + 1–3 jets (first: entry {i} with "
            f"{n_mu[i]} muons and {n_j[i]} jets; {summary}). zjets-inn needs exactly 2 muons and 1–3 jets; "
            "select them first or pass --drop-invalid (data.drop_invalid = true) to drop them"
        )
    return (events[good] if bad else events), bad


class ZJetsINN(Generator):
    """Multiplicity-conditioned spline INN for Z → μμ + 1–3 jets (Precision Enthusiasts, Sec. 2).

    Parameters
    ----------
    config
        Options (a mapping as read from a TOML/JSON config, or a :class:`ZJetsINNConfig`).
    **overrides
        Sections or values merged over ``config``, e.g. ``training={"epochs": 5}``.

    Examples
    --------
    >>> gen = ZJetsINN(training={"epochs": 5})          # doctest: +SKIP
    >>> gen.fit(events, run_dir="runs/zjets")           # doctest: +SKIP
    >>> gen.save("runs/zjets")                          # doctest: +SKIP
    >>> ZJetsINN.load("runs/zjets").sample(10_000)      # doctest: +SKIP
    """

    name = "zjets-inn"
    description = "multiplicity-conditioned spline INN for Z→μμ + 1–3 jets with the magic ΔR transform (2110.13632 Sec. 2)"

    def __init__(self, config: Mapping[str, Any] | ZJetsINNConfig | None = None, **overrides: Any) -> None:
        if isinstance(config, ZJetsINNConfig):
            config = config.to_dict()
        self.config = ZJetsINNConfig.from_mapping(deep_merge(dict(config or {}), overrides))
        self.preprocessing: ZJetsPreprocessing | None = None
        self.model: Any = None
        self.fractions: dict[int, float] = {}
        self.magic_norm: dict[int, float] = {}
        self.mass_step_ratio: dict[int, float] = dict.fromkeys(MULTIPLICITIES, 1.0)
        #: The training sample's largest jet |η| (its acceptance); generated rows beyond it are
        #: redrawn. ``None`` (run directories written before it existed): no cut.
        self.jet_eta_max: float | None = None
        self.n_train_stage: dict[str, int] = {}
        self.charge: dict[str, Any] = {"present": False, "p_leading_negative": 0.5}
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.info: dict[str, Any] = {}
        self.device = "cpu"

    # -- data ----------------------------------------------------------------------
    def read_training_data(self, paths: Sequence[str | os.PathLike[str]]) -> ak.Array:
        """Read training files with the configured tree and layout, checking every file.

        Events without 2 muons and 1–3 jets fail with the file name, or are
        dropped and counted (``data.drop_invalid``); ``self.info["dropped"]``
        records how many per file.
        """
        from evgen.io import Layout, read_events

        cfg = self.config.data
        layout = Layout.from_mapping(cfg.layout) if cfg.layout is not None else None
        parts, dropped, remaining = [], {}, cfg.max_events
        for path in paths:
            if remaining is not None and remaining <= 0:
                break
            events = read_events(path, tree=cfg.tree, layout=layout, entry_stop=remaining)
            if remaining is not None:
                remaining -= len(events)
            kept, bad = check_events(events, source=str(path), drop=cfg.drop_invalid)
            dropped[str(path)] = bad
            if bad:
                print(
                    f"zjets-inn: dropped {bad} of {len(events)} events of {path} (not 2 muons and 1–3 jets)"
                )
            parts.append(kept)
        self.info["dropped"] = dropped
        return concatenate(parts)

    # -- training ---------------------------------------------------------------------
    def fit(
        self,
        events: ak.Array,
        weights: np.ndarray | None = None,
        conditions: np.ndarray | None = None,
        *,
        run_dir: str | os.PathLike[str] | None = None,
        progress: bool = True,
        bootstrap: int | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Train the three networks; returns ``{"base": [...], "j2": [...], "j3": [...]}`` per-epoch records.

        Parameters
        ----------
        events
            Collider events, each with 2 muons and 1–3 jets.
        weights
            Event weights (non-negative); ``events.weight`` when omitted.
        conditions
            Not used (the multiplicity is the condition).
        run_dir
            Directory for per-network checkpoints (``checkpoints/*.pt``); training
            resumes from them when they exist.
        progress
            Show progress bars.
        bootstrap
            Train on a bootstrap resample of the training split (with replacement, fixed by this
            seed; :func:`evgen.generation.ensemble.bootstrap_indices`): one member of a bootstrap
            ensemble. The validation events stay distinct events the networks never saw, so the
            validation loss (and ``keep_best``) is not fooled by duplicates of training events.
        """
        import torch

        if options:
            raise ConfigError(f"{self.name} fit() got unknown options {sorted(options)}")
        if conditions is not None:
            raise ConfigError(
                f"{self.name} is conditioned on the jet multiplicity only; do not pass conditions"
            )
        cfg = self.config
        events, w_all, train, val, images, n_independent, n_distinct = self._training_rows(
            events, weights, bootstrap
        )

        pre, counts = self._fit_event_statistics(events, w_all, train, images)

        data = self._network_tensors(pre, events, w_all, train, images)
        training_mean_w = {}  # ⟨w⟩ of Eq. (8) per multiplicity: what a perfect network's f̃ would average to
        for n in MULTIPLICITIES:
            sel = (data["n"] == n).numpy()
            magic_w = data["w"].numpy()[sel].astype(np.float64)
            training_mean_w[n] = float(magic_w.sum() / w_all[train][counts[train] == n].sum())
        val_data = self._network_tensors(pre, events, w_all, val, images) if len(val) else None
        self._prepare_stages(events, train)

        torch.manual_seed(cfg.seed)
        self.model = self.build_model()
        digest = hashlib.sha256(data["y"].numpy().tobytes() + data["w"].numpy().tobytes()).hexdigest()
        fingerprint = {"config": _without_training(cfg.to_dict()), "data_sha256": digest}
        run = RunDir(run_dir) if run_dir is not None else None
        self.history = {}
        for i, (stage, flow) in enumerate(self.model.stages().items()):
            self.history[stage] = self._train_stage(
                i, stage, flow, data, val_data, fingerprint, run, progress
            )
        self.model.to("cpu").eval()
        self.device = "cpu"
        if cfg.calibration.marginals or cfg.calibration.recoil or cfg.calibration.conditional:
            self._fit_calibration(pre, data, cfg.calibration.marginals, cfg.calibration.recoil)
        self.magic_norm = self._fitted_magic_normalisation(training_mean_w)
        self.info.update(
            {
                "magic_training_mean_weight": {str(k): v for k, v in training_mean_w.items()},
                "n_train": int(n_independent),
                "n_train_rows": int(len(train)),
                "n_train_distinct": n_distinct,
                "bootstrap_seed": bootstrap,
                "n_validation": int(len(val)),
                "reflection": dataclasses.asdict(cfg.reflection),
                "n_train_per_network": dict(self.n_train_stage),
                "multiplicity_fractions": {str(k): v for k, v in self.fractions.items()},
                "magic_normalisation": {str(k): v for k, v in self.magic_norm.items()},
                "device": cfg.training.device,
            }
        )
        return self.history

    def calibrate(self, events: ak.Array, weights: np.ndarray | None = None) -> dict[str, list[float]]:
        """Fit the marginal calibration of a trained generator on its training events
        (:class:`~evgen_zjets_inn.config.CalibrationConfig`; with ``recoil`` set there, the recoil
        calibration too), replacing any it had.

        ``events`` must be the events it was trained on (the same files, order and
        ``max_events``): the training split is drawn again from the config's seed. Returns the
        calibration's largest shift per column and multiplicity (:meth:`MarginalCalibration.shift`).
        """
        self._check_trained()
        expected = self.info.get("n_train")
        events, w_all, train, _, images, n_independent, _ = self._training_rows(
            events, weights, self.info.get("bootstrap_seed")
        )
        if expected is not None and n_independent != expected:
            raise InputError(
                f"these events give {n_independent} training events, but the run was trained on {expected}: "
                "pass the run's own training files (same order and max_events)"
            )
        for n in MULTIPLICITIES:
            chain = self.preprocessing._chain(n)
            chain.steps = [step for step in chain.steps if not isinstance(step, _CALIBRATIONS)]
        data = self._network_tensors(self.preprocessing, events, w_all, train, images)
        self._fit_calibration(self.preprocessing, data, True, self.config.calibration.recoil)
        self.magic_norm = self._fitted_magic_normalisation({})
        self.info["magic_normalisation"] = {str(k): v for k, v in self.magic_norm.items()}
        return self.info["calibration_shift"]

    def _training_rows(
        self, events: ak.Array, weights: np.ndarray | None, bootstrap: int | None
    ) -> tuple[ak.Array, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, int, int]:
        """The checked events with their reflections and mirror images appended, their weights,
        the training and validation rows (split by the config's seed, the training rows resampled
        with ``bootstrap``), the mask of mirror images (or ``None``), and the numbers of training
        events and of distinct ones before the images."""
        cfg = self.config
        events, _ = check_events(events, drop=cfg.data.drop_invalid)
        w_all = training_weights(events, weights, self.name)
        rng = np.random.default_rng(cfg.seed)
        is_val = rng.uniform(size=len(events)) < cfg.data.validation_fraction
        train, val = np.flatnonzero(~is_val), np.flatnonzero(is_val)
        if bootstrap is not None:
            from evgen.generation.ensemble import bootstrap_indices

            train = train[bootstrap_indices(len(train), bootstrap)]
        n_independent, n_distinct = len(train), int(np.unique(train).size)
        if cfg.reflection.training:
            events, w_all, train, val = with_reflections(events, w_all, train, val)
        images = None
        if cfg.reflection.training and cfg.reflection.mirror != "none":
            events, w_all, train, val, images = with_mirror_images(events, w_all, train, val)
        return events, w_all, train, val, images, n_independent, n_distinct

    def _fit_calibration(
        self, pre: ZJetsPreprocessing, data: dict[str, Any], marginals: bool, recoil: bool
    ) -> None:
        """Insert a :class:`MarginalCalibration` before the whitening of each configured
        multiplicity (``marginals``), a :class:`ConditionalCalibration` per ``[calibration]
        conditional`` pair before it, and a :class:`RecoilCalibration` (``recoil``), fitted on the
        network's training rows ``data`` and on ``[calibration] samples`` of the network's own draws.

        Both sides are weighted as the events they become: the training rows with their event
        weights alone, the draws with the weights generation gives them (Eq. 9 and the inverse
        mass-step weights). The network learned the density reweighted by the magic and
        mass-step training weights; where it misses a correlation with them, the generation
        weights do not undo the reweighting (the FSR-photon jets of zero mass, made 3.3 times
        more frequent below the 50 GeV cut, came out 1.9 times too often), and a map between
        the *training-weighted* marginals would keep that error."""
        import torch

        settings = self.config.calibration
        generator = torch.Generator().manual_seed(self.config.seed + 0xCA1)
        shifts: dict[str, Any] = {}
        recoil_shifts: dict[str, float] = {}
        conditional_shifts: dict[str, dict[str, float]] = {}
        for n in settings.multiplicities:
            sel = (data["n"] == n).numpy()
            if self.config.reflection.mirror == "jets":
                # the base network (the first block of columns) never saw the mirror images;
                # the jet networks' columns are symmetric under the mirror either way
                sel &= ~data["m"].numpy()
            if not sel.any():
                continue
            chain = pre._chain(n)
            dim = pre.features(n).dim
            y_data = data["y"].numpy()[sel, :dim].astype(np.float64)
            w_data = data["e"].numpy()[sel].astype(np.float64)
            with torch.no_grad():
                y_model = self.model.sample(n, settings.samples, generator).double().cpu().numpy()
            w_model = self._generation_event_weights(pre.features(n), pre.decode_features(y_model, n))
            if marginals:
                at = next((i for i, s in enumerate(chain.steps) if isinstance(s, Whiten)), len(chain.steps))
                below = Chain(chain.steps[at:])
                step = MarginalCalibration(bins=settings.bins).fit_pair(
                    below.inverse(y_data), below.inverse(y_model), w_data, w_model
                )
                chain.steps.insert(at, step)
                shifts[str(n)] = [round(float(v), 4) for v in step.shift()]
            for column, given in settings.conditional:
                names = pre.features(n).names
                if column not in names or given not in names:
                    continue
                conditional = self._fit_conditional_calibration(
                    pre, n, names.index(column), names.index(given), y_data, y_model, w_data, w_model
                )
                conditional_shifts.setdefault(str(n), {})[f"{column}|{given}"] = round(conditional.shift(), 4)
            if recoil:
                recoil_step = self._fit_recoil_calibration(pre, n, y_data, y_model, w_data, w_model)
                recoil_shifts[str(n)] = round(recoil_step.shift(), 4)
        self.info["calibration_shift"] = shifts
        if recoil:
            self.info["recoil_calibration_shift"] = recoil_shifts
        if settings.conditional:
            self.info["conditional_calibration_shift"] = conditional_shifts

    def _fit_conditional_calibration(
        self,
        pre: ZJetsPreprocessing,
        n: int,
        column: int,
        given: int,
        y_data: np.ndarray,
        y_model: np.ndarray,
        w_data: np.ndarray,
        w_model: np.ndarray,
    ) -> ConditionalCalibration:
        """Insert a :class:`ConditionalCalibration` of ``column`` given ``given`` just before the
        marginal calibration (or the whitening), fitted on the training rows and on the network's
        draws in that space (the draws through the marginal calibration)."""
        chain = pre._chain(n)
        at = next(
            (i for i, s in enumerate(chain.steps) if isinstance(s, (MarginalCalibration, Whiten))),
            len(chain.steps),
        )
        below = chain.steps[at:]
        uncalibrated = Chain([s for s in below if not isinstance(s, _CALIBRATIONS)])
        settings = self.config.calibration
        step = ConditionalCalibration(
            column, given, bins=settings.conditional_bins, given_bins=settings.conditional_given_bins
        )
        step.fit_pair(uncalibrated.inverse(y_data), Chain(below).inverse(y_model), w_data, w_model)
        chain.steps.insert(at, step)
        return step

    def _fit_recoil_calibration(
        self,
        pre: ZJetsPreprocessing,
        n: int,
        y_data: np.ndarray,
        y_model: np.ndarray,
        w_data: np.ndarray,
        w_model: np.ndarray,
    ) -> RecoilCalibration:
        """Insert a :class:`RecoilCalibration` of the Z's ``p_T`` over the jets' right after the
        decay angles' step (so that generation gives the decay angles the calibrated ``q_T``), fitted
        on the training rows and the network's draws in feature space (the draws through every
        step generation applies, the marginal calibration included)."""
        chain = pre._chain(n)
        at = max((i + 1 for i, s in enumerate(chain.steps) if isinstance(s, AngularCoefficients)), default=0)
        below = chain.steps[at:]
        uncalibrated = Chain([s for s in below if not isinstance(s, _CALIBRATIONS)])
        settings = self.config.calibration
        step = RecoilCalibration.for_features(
            pre.features(n), bins=settings.recoil_bins, jet_bins=settings.recoil_jet_bins
        )
        step.fit_pair(uncalibrated.inverse(y_data), Chain(below).inverse(y_model), w_data, w_model)
        chain.steps.insert(at, step)
        return step

    def _fit_event_statistics(
        self, events: ak.Array, w_all: np.ndarray, train: np.ndarray, images: np.ndarray | None = None
    ) -> tuple[ZJetsPreprocessing, np.ndarray]:
        """Fit on the training events what is not a network: the preprocessing, the multiplicity
        fractions, the muon charges and the mass-step ratio; the preprocessing and the jet counts.
        With ``[reflection] mirror`` (``images`` marks the mirror images) they are fitted on the
        events without their mirror images, as without the mirror."""
        cfg = self.config
        if images is not None:
            train = train[~images[train]]
        pre = ZJetsPreprocessing(**cfg.preprocessing.kwargs())
        fit_weights = w_all[train]
        self.mass_step_ratio = self._fit_mass_step(events[train], w_all[train])
        if cfg.preprocessing.gaussianize:
            # Gaussianize fits the marginals: give it the density the networks learn, the event
            # weights times the magic and mass-step training weights
            fit_weights = fit_weights * self._preprocessing_weights(pre, events[train])
        pre.fit(events[train], fit_weights, source="training events")
        self.preprocessing = pre
        counts = n_jets(events)
        total = w_all[train].sum()
        self.fractions = {n: float(w_all[train][counts[train] == n].sum() / total) for n in MULTIPLICITIES}
        self._fit_charge(events[train])
        jets = events[train]["Jet"]
        self.jet_eta_max = float(ak.max(abs(jets.eta))) if len(jets) else None
        return pre, counts

    def _fit_mass_step(self, events: ak.Array, weights: np.ndarray) -> dict[int, float]:
        """The mass-step ratio per multiplicity (:meth:`evgen.mass_step.MassStep.fit_ratios`)."""
        return self.config.mass_step.fit_ratios(dimuon_mass(events), weights, n_jets(events), MULTIPLICITIES)

    def _preprocessing_weights(self, pre: ZJetsPreprocessing, events: ak.Array) -> np.ndarray:
        """The magic and mass-step training weights of ``events`` (from the unfitted feature maps)."""
        counts = n_jets(events)
        out = np.ones(len(events))
        for n in MULTIPLICITIES:
            sel = counts == n
            if sel.any():
                f = pre.features(n)
                out[sel] = self._training_event_weights(f, f.to_features(events[sel]))
        return out

    def _network_tensors(
        self,
        pre: ZJetsPreprocessing,
        events: ak.Array,
        w_all: np.ndarray,
        index: np.ndarray,
        images: np.ndarray | None = None,
    ) -> dict[str, Any]:
        """The networks' inputs for the events ``index``: padded features ``y``, multiplicity ``n``,
        weights ``w`` (with the magic training weights), event weights ``e`` (without them),
        event index ``i`` and whether the row is a mirror image ``m`` (``images``, per event;
        ``[reflection] mirror``)."""
        import torch

        ys, ns, ws, es, idx = [], [], [], [], []
        width = 5 + 4 * max(MULTIPLICITIES)
        # point masses (jets of zero mass) spread over their span: a flow cannot exploit them
        dequantize = np.random.default_rng([self.config.seed, len(index), 0xDE0])
        for n, (y, where) in pre.encode(events[index], dequantize=dequantize).items():
            f = pre.features(n)
            x = f.to_features(events[index][where])
            magic = self._training_event_weights(f, x)
            ys.append(np.pad(y, ((0, 0), (0, width - y.shape[1]))))
            ns.append(np.full(len(y), n))
            ws.append(w_all[index][where] * magic)
            es.append(w_all[index][where])
            idx.append(index[where])
        return {
            "y": torch.as_tensor(np.concatenate(ys), dtype=torch.float32),
            "n": torch.as_tensor(np.concatenate(ns)),
            "w": torch.as_tensor(np.concatenate(ws), dtype=torch.float32),
            "e": torch.as_tensor(np.concatenate(es), dtype=torch.float32),  # event weights alone
            "i": torch.as_tensor(np.concatenate(idx)),  # event index (augmentation weights)
            "m": torch.as_tensor(
                np.zeros(sum(len(i) for i in idx), bool) if images is None else images[np.concatenate(idx)]
            ),
        }

    def _train_stage(
        self,
        i: int,
        stage: str,
        flow: Any,
        data: dict[str, Any],
        val_data: dict[str, Any] | None,
        fingerprint: dict[str, Any],
        run: RunDir | None,
        progress: bool,
    ) -> list[dict[str, Any]]:
        """Train the network of one stage (the events with at least its number of jets); its history."""
        import torch

        from evgen.training import Trainer

        cfg = self.config
        k = self.model.stage_jets(stage)

        def stage_tensors(
            d: dict[str, torch.Tensor], k: int = k, stage: str = stage
        ) -> tuple[torch.Tensor, ...]:
            sel = d["n"] >= k
            if stage == "base" and cfg.reflection.mirror == "jets":
                sel = sel & ~d["m"]  # the mirror images train the jet networks only
            x, c = self.model.stage_inputs(stage, d["y"][sel], d["n"][sel])
            return x, c, d["w"][sel], d["n"][sel], d["i"][sel]

        x, c, w, groups, index = stage_tensors(data)
        self.n_train_stage[stage] = int(len(x))
        validation = None
        if val_data is not None:
            vx, vc, vw, _, _ = stage_tensors(val_data)
            validation = self._stage_validation(vx, vc, vw) if len(vx) else None
        net = cfg.base if stage == "base" else cfg.jets
        training = (
            cfg.training if net.epochs is None else dataclasses.replace(cfg.training, epochs=net.epochs)
        )
        trainer = Trainer(
            flow,
            self._stage_loss(len(x)),
            training,
            seed=cfg.seed + 1 + i,
            checkpoint=None if run is None else run.checkpoint_path(stage),
            fingerprint={**fingerprint, "stage": stage},
            validation=validation,
            progress=progress,
            desc=f"{self.name} {stage}",
            weight_index=2,  # the Eq. (10) weights: data-parallel runs normalise over the global batch
        )
        history = trainer.fit(self._stage_source(x, c, w, groups, index))
        if trainer.world_size > 1:
            self.info["distributed"] = {
                "processes": trainer.world_size,
                "global_batch_size": trainer.global_batch_size,
            }
        return history

    # -- what subclasses (binn) change in fit() ------------------------------------------
    def build_model(self) -> Any:
        """The chained networks of this config (fixed rotations from the seed)."""
        from evgen_zjets_inn.model import ChainedINN

        return ChainedINN(self.config.base, self.config.jets, seed=self.config.seed)

    def _prepare_stages(self, events: ak.Array, train: np.ndarray) -> None:
        """Called once the training tensors exist, before the networks are built (no-op here)."""

    def _stage_source(self, x: Any, c: Any, w: Any, groups: Any, index: Any) -> Any:
        """The epoch source of one network: balanced over multiplicities (Sec. 2.2)."""
        return self._balanced_source(x, c, w, groups=groups)

    def _balanced_source(self, *tensors: Any, groups: Any) -> Any:
        """Equal numbers of rows per multiplicity each epoch (``data.per_group``, capped by the smallest)."""
        from evgen.training import BalancedSource

        return BalancedSource(
            *tensors, groups=groups, per_group=_per_group(self.config.data.per_group, groups)
        )

    def _stage_validation(self, x: Any, c: Any, w: Any) -> tuple[Any, ...]:
        """Validation tensors of one network."""
        return x, c, w

    def _stage_loss(self, n_train: int) -> Any:
        """The loss of one network trained on ``n_train`` rows: Eq. (10)."""
        return _flow_loss

    def _fitted_magic_normalisation(self, training_mean_w: dict[int, float]) -> dict[int, float]:
        """Per-multiplicity factor on the Eq. (9) weights: from generated events (:meth:`_magic_normalisation`)."""
        if not self._reweighted:
            return dict.fromkeys(MULTIPLICITIES, 1.0)
        return self._magic_normalisation(self.config.seed)

    @property
    def _reweighted(self) -> bool:
        """Whether events carry weights: the magic transform and/or the mass-step weights."""
        return self.config.magic.enabled or self.config.mass_step.enabled

    def _training_event_weights(self, features: Any, x: np.ndarray) -> np.ndarray:
        """Eq. (8) times the mass-step weights (:mod:`evgen.mass_step`) of feature rows ``x``."""
        open_dr, mapped_dr = self._pair_delta_r(features, x)
        weights = self.config.magic.training_weights(open_dr) * self.config.magic.mapped_training_weights(
            mapped_dr
        )
        ratio = self.mass_step_ratio[features.n_jets]
        step = self.config.mass_step.training_weights(features.dimuon_mass(x), ratio)
        return weights * step

    def _pair_delta_r(self, features: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ΔR of the jet pairs the magic transform weights (Eq. 8, 9) and of those whose hole the
        coordinates close (``[preprocessing] jet_separation = "map"``; ``magic.mapped_floor``)."""
        pair_dr = features.jet_pair_delta_r(x)
        is_open = self.config.preprocessing.open_pair_mask(pair_dr)
        # a pair on the other side is given ΔR = ∞: weight 1 in both (Eq. 7 and the ramp)
        return np.where(is_open, pair_dr, np.inf), np.where(is_open, np.inf, pair_dr)

    def _generation_event_weights(self, features: Any, x: np.ndarray) -> np.ndarray:
        """Eq. (9) times the inverse mass-step weights, before the per-multiplicity normalisation."""
        open_dr, mapped_dr = self._pair_delta_r(features, x)
        weights = self.config.magic.generation_weights(open_dr) * self.config.magic.mapped_generation_weights(
            mapped_dr
        )
        ratio = self.mass_step_ratio[features.n_jets]
        step = self.config.mass_step.generation_weights(features.dimuon_mass(x), ratio)
        return weights * step

    def _magic_normalisation(self, seed: int) -> dict[int, float]:
        """Per multiplicity, ``1 / ⟨f̃⟩`` over ``MAGIC_NORMALISATION_EVENTS`` generated events.

        Multiplying the Eq. (9) weights of ``k``-jet events by it makes their mean
        weight one, so the weighted multiplicity fractions equal the training
        fractions even where the network is imperfect. (For a perfect network it
        equals the training mean of the Eq. (8) weights, recorded in
        ``info["magic_training_mean_weight"]``.)
        """
        import torch

        rng = np.random.default_rng([seed, 0x3A61C])
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        norm = {}
        for k in MULTIPLICITIES:
            x = self._sample_features(k, MAGIC_NORMALISATION_EVENTS, generator)
            mean = float(self._generation_event_weights(self.preprocessing.features(k), x).mean())
            if not mean > 0:
                raise InputError(
                    f"zjets-inn: every generated {k}-jet event has ΔR_jj < R_min; the model is broken"
                )
            norm[k] = 1.0 / mean
        return norm

    def _fit_charge(self, events: ak.Array) -> None:
        fields = ak.fields(events["Muon"])
        if "charge" in fields:
            lead = ak.to_numpy(events["Muon"].charge[:, 0])
            self.charge = {"present": True, "p_leading_negative": float(np.mean(lead < 0))}
        else:
            self.charge = {"present": False, "p_leading_negative": 0.5}

    # -- densities ---------------------------------------------------------------------
    def log_prob_network(self, y: np.ndarray, n: int) -> np.ndarray:
        """``log p(y | n)`` in network (preprocessed) space, per row."""
        import torch

        self._check_trained()
        with torch.no_grad():
            return (
                self.model.log_prob(torch.as_tensor(y, dtype=torch.float32, device=self.device), n)
                .double()
                .cpu()
                .numpy()
            )

    def log_prob(self, events: ak.Array) -> np.ndarray:
        """``log p(x | n)`` per event in the paper's coordinates ``x`` (p_T, η, Δφ, m per object).

        The network density plus the preprocessing log-determinant and, with physics
        coordinates, the log-Jacobian from the paper's coordinates to them, so both
        coordinate systems give densities over the same space. The global azimuth and
        the multiplicity probability are not included. (For samples without muon charge
        the physics coordinates label a random muon; the value is then the density of
        that labelling, and the event density is the average over both labellings.)
        With ``[reflection] generation`` it is the density of the symmetrised generator,
        ``½ [p(x) + p(Rx)]`` (averaged over the mirror images ``Mx`` too with ``mirror``),
        which is what :meth:`sample` draws from.
        """
        self._check_trained()
        if not self.config.reflection.generation:
            return self._log_prob(events)

        def reflected(ev: ak.Array) -> np.ndarray:
            return symmetrised_log_prob(self._log_prob(ev), self._log_prob(reflect(ev)))

        if self.config.reflection.mirror != "none":
            return symmetrised_log_prob(reflected(events), reflected(mirror(events)))
        return reflected(events)

    def _log_prob(self, events: ak.Array) -> np.ndarray:
        """The networks' own density (without the reflection's symmetrisation)."""
        out = np.full(len(events), np.nan)
        for n, (y, where) in self.preprocessing.encode(events).items():
            f = self.preprocessing.features(n)
            x = f.to_features(events[where])
            _, log_det = self.preprocessing.forward(x, n)
            out[where] = self.log_prob_network(y, n) + log_det + f.log_jacobian(events[where])
        return out

    # -- generation ---------------------------------------------------------------------
    def sample(
        self, n: int, conditions: np.ndarray | None = None, seed: int | None = None, *, magic: bool = True
    ) -> ak.Array:
        """Generate ``n`` weighted events.

        Parameters
        ----------
        n
            Number of events.
        conditions
            Optional jet multiplicity (1–3) per event; drawn from the training fractions when omitted.
        seed
            Seed of this call (events are reproducible from it).
        magic
            Weight events with Eq. (9) (zero below ΔR_jj = R_min) when trained with the magic
            transformation, and with the inverse mass-step weights (:mod:`evgen.mass_step`) when
            trained with them; ``False`` returns the smoothed density the networks learned, unit weights.
        """
        import torch

        self._check_trained()
        if n < 0:
            raise ConfigError(f"n = {n}: must be a non-negative number of events")
        threads = torch.get_num_threads()
        if self.config.training.threads is not None:
            torch.set_num_threads(self.config.training.threads)
        try:
            return self._sample(n, conditions, seed, magic)
        finally:
            torch.set_num_threads(threads)

    def to(self, device: str) -> ZJetsINN:
        """Sample on ``device``: the networks draw there, decoding stays on the CPU."""
        self._check_trained()
        self.model.to(device)
        self.device = str(device)
        return self

    def _sample(self, n: int, conditions: np.ndarray | None, seed: int | None, magic: bool) -> ak.Array:
        import torch

        rng = np.random.default_rng(seed)
        generator = torch.Generator(device=self.device).manual_seed(int(rng.integers(2**62)))
        if conditions is None:
            probs = np.array([self.fractions[k] for k in MULTIPLICITIES])
            mult = np.repeat(MULTIPLICITIES, rng.multinomial(n, probs / probs.sum()))
        else:
            mult = np.asarray(conditions).astype(int).reshape(-1)
            if len(mult) != n or not np.isin(mult, MULTIPLICITIES).all():
                raise InputError(f"conditions must be {n} jet multiplicities in {list(MULTIPLICITIES)}")
        parts, order = [], []
        for k in MULTIPLICITIES:
            index = np.flatnonzero(mult == k)
            if len(index) == 0:
                continue
            x = self._sample_features(k, len(index), generator)
            f = self.preprocessing.features(k)
            weight = np.ones(len(index))
            if magic and self._reweighted:
                weight = self.magic_norm[k] * self._generation_event_weights(f, x)
            charge = None
            if self.charge["present"] and not f.decodes_charge:
                lead = np.where(rng.uniform(size=len(index)) < self.charge["p_leading_negative"], -1, 1)
                charge = np.stack([lead, -lead], axis=1)
            parts.append(f.to_events(x, charge=charge, weight=weight, rng=rng))
            order.append(index)
        if not parts:
            return self._empty()
        events = concatenate(parts)
        events = events[np.argsort(np.concatenate(order), kind="stable")]
        if self.config.reflection.generation:
            # the last uses of rng: the same seed gives the same events, half of them reflected
            events = reflect_some(events, rng)
            if self.config.reflection.mirror != "none":
                events = mirror_some(events, rng)
        return events

    def _sample_features(self, k: int, size: int, generator: Any) -> np.ndarray:
        """Features of ``size`` ``k``-jet events; rows with non-finite values (or beyond :data:`FEATURE_LIMIT`)
        and rows with a jet outside the training sample's acceptance (|η| > ``jet_eta_max``) are redrawn.

        The acceptance cut truncates the network's density at the sample's hard |η| edge (0.4 % of
        the generated 2- and 3-jet events of the CPU recipe had a jet beyond it): within it the
        shape is the network's, renormalised per multiplicity.
        """
        f = self.preprocessing.features(k)
        out = np.empty((size, f.dim))
        eta = [f.names.index(f"j{j}_eta") for j in range(1, k + 1)]
        todo = np.arange(size)
        for _ in range(20):
            y = self.model.sample(k, len(todo), generator).double().cpu().numpy()
            with np.errstate(over="ignore", invalid="ignore"):
                x = self.preprocessing.decode_features(y, k)
            with np.errstate(invalid="ignore"):
                ok = np.all(np.abs(x) < FEATURE_LIMIT, axis=1)  # False for NaN and inf too
                if self.jet_eta_max is not None:
                    ok &= np.all(np.abs(x[:, eta]) <= self.jet_eta_max, axis=1)
            out[todo[ok]] = x[ok]
            todo = todo[~ok]
            if len(todo) == 0:
                return out
        raise InputError(
            f"zjets-inn produced non-finite {k}-jet events 20 times in a row; the model is broken"
        )

    def _empty(self) -> ak.Array:
        f = self.preprocessing.features(1)
        return f.to_events(np.zeros((0, f.dim)), phi_ref=np.zeros(0))

    def _check_trained(self) -> None:
        if self.model is None or self.preprocessing is None:
            raise ConfigError("zjets-inn is not trained: call fit() or load a run directory")

    # -- persistence --------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write config, weights (safetensors), preprocessing, state and history into ``path``."""
        self._check_trained()
        run = RunDir(path).create()
        run.write_config(self.name, self.config.to_dict())
        run.save_weights(_WEIGHTS, self.model.state_dict())
        self.preprocessing.save(run.preprocessing_path)
        state = {
            "fractions": {str(k): v for k, v in self.fractions.items()},
            "magic_normalisation": {str(k): v for k, v in self.magic_norm.items()},
            "mass_step_ratio": {str(k): v for k, v in self.mass_step_ratio.items()},
            "jet_eta_max": self.jet_eta_max,
            "charge": self.charge,
            "info": self.info,
        }
        atomic_write(Path(path) / _STATE, json.dumps(state, indent=2, sort_keys=True) + "\n")
        if self.history:
            run.write_history(self.history)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ZJetsINN:
        """Restore a generator from a run directory written by :meth:`save`."""
        from evgen_zjets_inn.model import ChainedINN

        run = RunDir(path)
        if run.generator_name() != cls.name:
            raise InputError(f"{path}: holds a {run.generator_name()!r} run, not {cls.name!r}")
        gen = cls(stored_config(run.read_config()))
        state_path = Path(path) / _STATE
        if not state_path.exists():
            raise InputError(
                f"{state_path}: missing; the run directory is incomplete (was training finished?)"
            )
        gen._restore_state(json.loads(state_path.read_text()))
        gen.preprocessing = ZJetsPreprocessing.load(run.preprocessing_path)
        gen.model = ChainedINN(gen.config.base, gen.config.jets, seed=gen.config.seed)
        gen.model.load_state_dict(run.load_weights(_WEIGHTS))
        gen.model.eval()
        if (Path(path) / RunDir.HISTORY).exists():
            gen.history = run.read_history()
        return gen

    def _restore_state(self, state: dict[str, Any]) -> None:
        """Set what :meth:`save` wrote to the state file (keys added later default to the old behaviour)."""
        self.fractions = {int(k): float(v) for k, v in state["fractions"].items()}
        self.magic_norm = {int(k): float(v) for k, v in state["magic_normalisation"].items()}
        self.charge = state["charge"]
        ratio = state.get("mass_step_ratio", 1.0)
        self.mass_step_ratio = (  # runs written before the per-multiplicity ratio: one pooled ratio
            {int(k): float(v) for k, v in ratio.items()}
            if isinstance(ratio, dict)
            else dict.fromkeys(MULTIPLICITIES, float(ratio))
        )
        eta_max = state.get("jet_eta_max")
        self.jet_eta_max = None if eta_max is None else float(eta_max)
        self.info = state.get("info", {})

    def provenance_extra(self) -> dict[str, Any]:
        """What ``evgen train`` adds to ``provenance.json``."""
        return {
            "multiplicity_fractions": {str(k): v for k, v in self.fractions.items()},
            "magic_normalisation": {str(k): v for k, v in self.magic_norm.items()},
            **{
                k: v
                for k, v in self.info.items()
                if k not in ("multiplicity_fractions", "magic_normalisation")
            },
        }


def with_images(
    events: ak.Array, weights: np.ndarray, train: np.ndarray, val: np.ndarray, transform: Any
) -> tuple[ak.Array, np.ndarray, np.ndarray, np.ndarray]:
    """The events followed by their images under ``transform`` (``reflect`` or ``mirror`` of
    :mod:`evgen.physics.reflection`); each image stays on its original's side of the split."""
    n = len(events)
    return (
        concatenate([events, transform(events)]),
        np.concatenate([weights, weights]),
        np.concatenate([train, train + n]),
        np.concatenate([val, val + n]),
    )


def with_reflections(
    events: ak.Array, weights: np.ndarray, train: np.ndarray, val: np.ndarray
) -> tuple[ak.Array, np.ndarray, np.ndarray, np.ndarray]:
    """The events followed by their beam reflections (:func:`with_images`)."""
    return with_images(events, weights, train, val, reflect)


def with_mirror_images(
    events: ak.Array, weights: np.ndarray, train: np.ndarray, val: np.ndarray
) -> tuple[ak.Array, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The events followed by their azimuthal mirror images (:func:`with_images`), and a mask of the images."""
    n = len(events)
    images = np.concatenate([np.zeros(n, bool), np.ones(n, bool)])
    return (*with_images(events, weights, train, val, mirror), images)


def _flow_loss(model: Any, batch: tuple[Any, ...]) -> Any:
    x, c, w = batch
    return model.loss(x, c, w)  # Eq. (10): weights normalised per batch


def _per_group(per_group: int | None, groups: Any) -> int | None:
    """The configured draw per multiplicity, capped by the smallest multiplicity of a stage."""
    if per_group is None:
        return None
    import torch

    sizes = torch.bincount(groups)
    return min(per_group, int(sizes[sizes > 0].min()))


def _without_training(config: dict[str, Any]) -> dict[str, Any]:
    """The config minus ``[training]``, which the Trainer's own fingerprint covers (minus device, threads)."""
    return {k: v for k, v in config.items() if k != "training"}
