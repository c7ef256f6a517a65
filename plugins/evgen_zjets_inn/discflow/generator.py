r"""The ``discflow`` generator: the Z+jets INN trained jointly with discriminators (Sec. 3.2).

Training (:meth:`DiscFlow.fit`) runs in three phases:

1. **Generator alone**: the ``zjets-inn`` networks (Fig. 1) are trained with the
   plain likelihood loss (:meth:`ZJetsINN.fit <evgen_zjets_inn.generator.ZJetsINN.fit>`,
   ``[training]``), or taken from a run directory (``discflow.init_from``).
2. **Discriminators alone**: one classifier per jet multiplicity
   (:mod:`evgen.validation.classifier`, Table 2) learns training events against events
   from the pretrained generator.
3. **Joint**: every epoch draws equal numbers of training events per
   multiplicity and alternates its batches between the two players, each on its
   own half of the data. A generator step minimises Eq. (15), the likelihood
   weighted with :math:`w_D^{\alpha}`, :math:`\alpha = \alpha_0 |\tfrac12 - D|`
   (Eq. 16), α₀ rising linearly from 0; a discriminator step trains the
   classifiers on its training events against fresh generator events.

Afterwards, with ``discflow.final_reweighting``, a fresh ``discriminator``
reweighter (found through the plugin registry) is fitted between the training
events and DiscFlow events, so that :meth:`DiscFlow.sample` gives unweighted
DiscFlow events (Fig. 7) or, with ``reweight=True``, weighted ones (Fig. 8).

The joint phase writes a checkpoint after every epoch into ``RUN/checkpoints``
and resumes from it; the data order and generated events of an epoch follow
from the seed and the epoch number.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.events import event_weights, n_jets, training_weights, with_weights
from evgen.files import atomic_write
from evgen.generation.run_dir import RunDir
from evgen.preprocessing.zjets import MULTIPLICITIES
from evgen.training.config import deep_merge
from evgen_zjets_inn.discflow.config import DiscFlowConfig
from evgen_zjets_inn.generator import FEATURE_LIMIT, ZJetsINN, check_events

__all__ = ["DiscFlow"]

_JOINT_CHECKPOINT = "discflow_joint"
_PRETRAIN_DIR = "discflow_discriminators"
_FORMAT = 1


class DiscFlow(ZJetsINN):
    """DiscFlow: the multiplicity-conditioned INN with discriminator-weighted training (Sec. 3.2).

    Parameters
    ----------
    config
        Options (a mapping as read from TOML/JSON, or a :class:`DiscFlowConfig`).
    **overrides
        Sections or values merged over ``config``, e.g. ``discflow={"epochs": 10}``.

    Examples
    --------
    >>> gen = DiscFlow({"discflow": {"init_from": "runs/zjets-small", "epochs": 20}})   # doctest: +SKIP
    >>> gen.fit(events, run_dir="runs/discflow")                                      # doctest: +SKIP
    >>> gen.save("runs/discflow")                                                     # doctest: +SKIP
    >>> DiscFlow.load("runs/discflow").sample(100_000, reweight=True)                 # doctest: +SKIP
    """

    name = "discflow"
    description = (
        "zjets-inn trained jointly with per-multiplicity discriminators, loss × w_D^α (2110.13632 Sec. 3.2)"
    )

    def __init__(self, config: Mapping[str, Any] | DiscFlowConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        if isinstance(config, DiscFlowConfig):
            config = config.to_dict()
        self.config = DiscFlowConfig.from_mapping(deep_merge(dict(config or {}), overrides))
        self.discriminators: dict[int, Any] = {}
        self.reweighter: Any = None

    # -- training -------------------------------------------------------------------------
    def fit(
        self,
        events: ak.Array,
        weights: np.ndarray | None = None,
        conditions: np.ndarray | None = None,
        *,
        run_dir: str | os.PathLike[str] | None = None,
        progress: bool = True,
        **options: Any,
    ) -> dict[str, Any]:
        """Pretrain (or load) the generator, pretrain the discriminators, train jointly, reweight.

        Returns the histories: the generator stages (``base``, ``j2``, ``j3``), the
        discriminator pretraining (``discriminator_{n}``) and the joint epochs (``joint``).
        """
        if options:
            raise ConfigError(f"discflow fit() got unknown options {sorted(options)}")
        if conditions is not None:
            raise ConfigError("discflow is conditioned on the jet multiplicity only; do not pass conditions")
        cfg = self.config
        events, _ = check_events(events, drop=cfg.data.drop_invalid)
        w_all = training_weights(events, weights, self.name)
        run = RunDir(run_dir).create() if run_dir is not None else None

        if cfg.discflow.init_from is not None:
            self._init_from(cfg.discflow.init_from)
            history: dict[str, Any] = {}
        else:
            history = dict(super().fit(events, w_all, run_dir=run_dir, progress=progress))
        cfg = self.config  # init_from may have replaced the network sections
        rng = np.random.default_rng(cfg.seed)  # the same split as ZJetsINN.fit
        is_val = rng.uniform(size=len(events)) < cfg.data.validation_fraction
        train = np.flatnonzero(~is_val)
        truth = self._truth_tensors(events[train], w_all[train])

        history.update(self._pretrain_discriminators(truth, run, progress))
        history["joint"] = self._joint(truth, run, progress)
        if cfg.discflow.final_reweighting:
            history["reweighter"] = self._final_reweighting(events[train], progress)
        self.history = history
        self.info.update(
            {
                "n_train": int(len(train)),
                "discflow": {
                    "init_from": cfg.discflow.init_from,
                    "joint_epochs": len(history["joint"]),
                    "alpha_max": cfg.discflow.alpha_max,
                },
            }
        )
        return history

    def _init_from(self, path: str | os.PathLike[str]) -> None:
        """Take networks, preprocessing, fractions and charge model from a ``zjets-inn``/``discflow`` run."""
        from evgen.generation.run_dir import load_generator

        source = load_generator(path)
        if not isinstance(source, ZJetsINN):
            raise InputError(
                f"{path}: holds a {source.name!r} run; discflow starts from zjets-inn or discflow runs"
            )
        self.config = dataclasses.replace(
            self.config,
            base=source.config.base,
            jets=source.config.jets,
            preprocessing=source.config.preprocessing,
            magic=source.config.magic,
            mass_step=source.config.mass_step,
            # the source's networks sample, so its generation rule comes along (a symmetrised INN
            # stays symmetrised); the joint phase itself trains on the events as they are
            reflection=dataclasses.replace(
                self.config.reflection, generation=source.config.reflection.generation
            ),
        )
        self.mass_step_ratio = dict(source.mass_step_ratio)
        self.jet_eta_max = source.jet_eta_max
        self.model = source.model
        self.preprocessing = source.preprocessing
        self.fractions = dict(source.fractions)
        self.magic_norm = dict(source.magic_norm)
        self.charge = dict(source.charge)
        self.info["init_from"] = str(Path(path).resolve())

    def _truth_tensors(self, events: ak.Array, w: np.ndarray) -> dict[str, Any]:
        """Network-space rows (padded), multiplicities, weights (× Eq. 8 with magic) and classifier inputs."""
        import torch

        from evgen.validation.classifier import classifier_features

        pre = self.preprocessing
        width = 5 + 4 * max(MULTIPLICITIES)
        ys, ns, ws, rows, features = [], [], [], [], {}
        # point masses spread as in ZJetsINN's own training inputs: without it the joint phase
        # can put unbounded density on the jets of zero mass
        dequantize = np.random.default_rng([self.config.seed, len(events), 0xDE0])
        for n, (y, where) in pre.encode(events, dequantize=dequantize).items():
            f = pre.features(n)
            x = f.to_features(events[where])
            magic = self._training_event_weights(f, x)
            ys.append(np.pad(y, ((0, 0), (0, width - y.shape[1]))))
            ns.append(np.full(len(y), n))
            ws.append(w[where] * magic)
            rows.append(np.arange(len(y)))
            features[n] = torch.as_tensor(classifier_features(events[where], n)[0], dtype=torch.float32)
        as_t = lambda a, dtype=torch.float32: torch.as_tensor(np.concatenate(a), dtype=dtype)  # noqa: E731
        data = {
            "y": as_t(ys),
            "n": as_t(ns, torch.long),
            "w": as_t(ws),
            "row": as_t(rows, torch.long),
            "features": features,
        }
        digest = hashlib.sha256(data["y"].numpy().tobytes() + data["w"].numpy().tobytes()).hexdigest()
        data["sha256"] = digest
        return data

    def _generated_features(self, n: int, size: int, generator: Any, rng: np.random.Generator) -> np.ndarray:
        """Classifier inputs of ``size`` ``n``-jet events from the current generator (network density)."""
        from evgen.validation.classifier import classifier_features

        if size == 0:
            return np.zeros((0, 0))
        parts, missing = [], size
        for _ in range(20):  # rows the preprocessing cannot invert (non-finite) are redrawn
            y = self.model.sample(n, missing, generator).double().cpu().numpy()
            with np.errstate(over="ignore", invalid="ignore"):
                x = self.preprocessing.decode_features(y, n)
            with np.errstate(invalid="ignore"):
                parts.append(x[np.all(np.abs(x) < FEATURE_LIMIT, axis=1)])  # False for NaN and inf too
            missing -= len(parts[-1])
            if missing == 0:
                break
        else:
            raise InputError(
                f"discflow produced non-finite {n}-jet events 20 times in a row; the model is broken"
            )
        x = np.concatenate(parts)
        events = self.preprocessing.features(n).to_events(x, rng=rng)
        return classifier_features(events, n)[0]

    def _pretrain_discriminators(
        self, truth: dict[str, Any], run: RunDir | None, progress: bool
    ) -> dict[str, Any]:
        """Phase 2: one classifier per multiplicity, training events against pretrained-generator events."""
        import torch

        from evgen.validation.classifier import Classifier, ClassifierConfig, train_classifier

        cfg = self.config
        folder = None if run is None else run.path / "checkpoints" / _PRETRAIN_DIR
        self.model.eval()
        history = {}
        disc_cfg = ClassifierConfig.from_mapping(
            {**cfg.discriminator.to_dict(), "epochs": cfg.discflow.discriminator_pretrain_epochs},
            section="discriminator",
        )
        fingerprint = self._fingerprint(truth)
        if folder is not None and (folder / "fingerprint.json").exists():
            if (folder / "fingerprint.json").read_text() != fingerprint:
                raise ConfigError(
                    f"{folder}: pretrained discriminators of other settings or data; "
                    "use a new run directory or delete it"
                )
        elif folder is not None:
            atomic_write(folder / "fingerprint.json", fingerprint)
        for n, x_truth in truth["features"].items():
            stem = None if folder is None else folder / f"discriminator_{n}"
            if stem is not None and stem.with_suffix(".json").exists():
                self.discriminators[n] = Classifier.load(stem, device=cfg.discriminator.device)
                history[f"discriminator_{n}"] = self.discriminators[n].history
                continue
            w_truth = truth["w"][truth["n"] == n].numpy().astype(np.float64)
            generator = torch.Generator(device=_model_device(self.model)).manual_seed(cfg.seed * 7919 + n)
            x_gen = self._generated_features(n, len(x_truth), generator, np.random.default_rng([cfg.seed, n]))
            clf = train_classifier(
                x_truth.numpy().astype(np.float64),
                x_gen,
                w_truth,
                None,
                config=disc_cfg,
                seed=cfg.seed + n,
                progress=progress,
                desc=f"discflow discriminator {n}j",
            )
            if stem is not None:
                clf.save(stem)
            self.discriminators[n] = clf
            history[f"discriminator_{n}"] = clf.history
        return history

    def _fingerprint(self, truth: dict[str, Any]) -> str:
        config = json.loads(json.dumps(self.config.to_dict(), default=str))
        for section in ("training", "discriminator"):
            config.get(section, {}).pop("device", None)
            config.get(section, {}).pop("threads", None)
        return json.dumps({"config": config, "data_sha256": truth["sha256"]}, sort_keys=True)

    def _joint(self, truth: dict[str, Any], run: RunDir | None, progress: bool) -> list[dict[str, Any]]:
        """Phase 3: alternate generator (Eq. 15–16) and discriminator steps on halves of each epoch."""
        import torch
        from tqdm.auto import tqdm

        from evgen.training import BalancedSource, resolve_device

        cfg, j = self.config, self.config.discflow
        device = resolve_device(cfg.training.device)
        threads = torch.get_num_threads()
        if cfg.training.threads is not None:
            torch.set_num_threads(cfg.training.threads)
        model = self.model.to(device)
        nets = {n: clf.net.to(device) for n, clf in self.discriminators.items()}
        features = {n: x.to(device) for n, x in truth["features"].items()}
        g_opt = torch.optim.Adam(model.parameters(), lr=j.lr, betas=tuple(cfg.training.betas))
        d_opts = {
            n: torch.optim.Adam(net.parameters(), lr=j.discriminator_lr, betas=tuple(cfg.discriminator.betas))
            for n, net in nets.items()
        }
        source = BalancedSource(truth["y"], truth["n"], truth["w"], truth["row"], groups=truth["n"])
        steps = math.ceil(len(source) / j.batch_size)
        gen_steps = math.ceil(steps / 2)
        total_gen_steps = j.epochs * gen_steps
        fingerprint = self._fingerprint(truth)
        checkpoint = None if run is None else run.checkpoint_path(_JOINT_CHECKPOINT)
        history: list[dict[str, Any]] = []
        start_epoch = 0
        if checkpoint is not None and checkpoint.exists():
            history, start_epoch = _resume_joint(checkpoint, device, fingerprint, model, g_opt, nets, d_opts)

        bar = tqdm(
            total=j.epochs * len(source),
            initial=start_epoch * len(source),
            unit="ev",
            unit_scale=True,
            desc="discflow joint",
            disable=not progress,
            dynamic_ncols=True,
        )
        try:
            for epoch in range(start_epoch, j.epochs):
                started = time.perf_counter()
                order = torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch))
                y, n, w, row = source.epoch(epoch, order)
                sl = [slice(b * j.batch_size, (b + 1) * j.batch_size) for b in range(steps)]
                gen_sl, disc_sl = sl[0::2], sl[1::2]
                # fresh generator events for this epoch's discriminator half, as many per multiplicity as truth
                model.eval()
                pool = self._generated_pool(nets, n, disc_sl, device, cfg.seed, epoch)
                used = dict.fromkeys(nets, 0)
                record = {"epoch": epoch + 1, "generator_loss": 0.0, "discriminator_loss": 0.0}
                d_abs, d_count = _generator_half(
                    model,
                    nets,
                    features,
                    g_opt,
                    (y, n, w, row),
                    gen_sl,
                    epoch,
                    gen_steps,
                    total_gen_steps,
                    j,
                    cfg.training.grad_clip,
                    device,
                    record,
                    bar,
                )
                _discriminator_half(
                    nets, d_opts, features, pool, used, (n, w, row), disc_sl, device, record, bar, len(y)
                )
                record["mean_abs_half_minus_d"] = d_abs / max(d_count, 1)
                record["seconds"] = time.perf_counter() - started
                history.append(record)
                bar.set_postfix(
                    epoch=f"{epoch + 1}/{j.epochs}",
                    gen=f"{record['generator_loss']:.4g}",
                    disc=f"{record['discriminator_loss']:.4g}",
                    alpha0=f"{record.get('alpha0', 0.0):.3g}",
                )
                if checkpoint is not None:
                    _save_joint(checkpoint, fingerprint, epoch, model, g_opt, nets, d_opts, history)
        finally:
            bar.close()
            torch.set_num_threads(threads)
        model.to("cpu").eval()
        for net in nets.values():
            net.to("cpu").eval()
        return history

    def _generated_pool(
        self, nets: dict[int, Any], n: Any, disc_sl: list[slice], device: Any, seed: int, epoch: int
    ) -> dict[int, Any]:
        """Fresh generator events for an epoch's discriminator half, as many per multiplicity as truth."""
        import torch

        pool = {}
        disc_n = torch.cat([n[s] for s in disc_sl]) if disc_sl else n[:0]
        sampler = torch.Generator(device=device).manual_seed(_epoch_seed(seed, epoch) + 1)
        np_rng = np.random.default_rng([seed, epoch, 2])
        for k in nets:
            size = int((disc_n == k).sum())
            x = self._generated_features(k, size, sampler, np_rng) if size else None
            pool[k] = None if x is None else torch.as_tensor(x, dtype=torch.float32, device=device)
        return pool

    def _final_reweighting(self, train_events: ak.Array, progress: bool) -> dict[str, Any]:
        """A fresh ``discriminator`` reweighter: training events against DiscFlow events (Fig. 8)."""
        from evgen.plugins import get_reweighter

        cfg = self.config
        options = deep_merge({"seed": cfg.seed, "classifier": cfg.discriminator.to_dict()}, cfg.reweighter)
        self.reweighter = get_reweighter("discriminator")(options)
        n = max(1, int(round(cfg.discflow.final_events_factor * len(train_events))))
        generated = ZJetsINN.sample(self, n, seed=cfg.seed + 17)
        return dict(self.reweighter.fit(train_events, generated, progress=progress))

    # -- generation ---------------------------------------------------------------------
    def sample(
        self,
        n: int,
        conditions: np.ndarray | None = None,
        seed: int | None = None,
        *,
        magic: bool = True,
        reweight: bool = False,
    ) -> ak.Array:
        """Generate ``n`` DiscFlow events: unweighted (Fig. 7) or, with ``reweight``, × :math:`w_D` (Fig. 8)."""
        events = super().sample(n, conditions, seed, magic=magic)
        if not reweight:
            return events
        if self.reweighter is None:
            raise ConfigError(
                "this DiscFlow run has no final reweighter (discflow.final_reweighting = false)"
            )
        return with_weights(events, event_weights(events) * self.reweighter.weights(events))

    # -- persistence --------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """The ``zjets-inn`` run directory plus ``discriminators/`` and ``reweighter/``."""
        super().save(path)
        for n, clf in self.discriminators.items():
            clf.save(Path(path) / "discriminators" / f"discriminator_{n}")
        if self.reweighter is not None:
            self.reweighter.save(Path(path) / "reweighter")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DiscFlow:
        """Restore networks, preprocessing, the joint discriminators and the final reweighter."""
        from evgen.plugins import get_reweighter
        from evgen.validation.classifier import Classifier

        gen = super().load(path)
        folder = Path(path) / "discriminators"
        for stem in sorted(folder.glob("discriminator_*.json")):
            n = int(stem.stem.rsplit("_", 1)[1])
            gen.discriminators[n] = Classifier.load(stem.with_suffix(""))
        if (Path(path) / "reweighter").exists():
            gen.reweighter = get_reweighter("discriminator").load(Path(path) / "reweighter")
        return gen

    def discriminator_weights(self, events: ak.Array) -> np.ndarray:
        """:math:`w_D = D/(1-D)` (Eq. 12) of the *joint* discriminators per event (unclipped)."""
        from evgen.validation.classifier import classifier_features

        if not self.discriminators:
            raise ConfigError("discflow is not trained: no discriminators")
        out = np.empty(len(events))
        counts = n_jets(events)
        for n, clf in self.discriminators.items():
            sel = counts == n
            if sel.any():
                out[sel] = np.exp(clf.logit(classifier_features(events[sel], n)[0]))
        return out


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, 0xD15C]).generate_state(1)[0])


def _model_device(model: Any) -> Any:
    return next(model.parameters()).device


def _generator_half(
    model: Any,
    nets: dict[int, Any],
    features: dict[int, Any],
    g_opt: Any,
    batches: tuple[Any, Any, Any, Any],
    gen_sl: list[slice],
    epoch: int,
    gen_steps: int,
    total_gen_steps: int,
    j: Any,
    grad_clip: float | None,
    device: Any,
    record: dict[str, Any],
    bar: Any,
) -> tuple[float, int]:
    """The generator steps of one joint epoch: the DiscFlow loss (Eq. 15–16) with the discriminators
    frozen; returns the sum of |1/2 - D| over the events seen and their number. ``record`` gets the
    share of events whose :math:`w_D` met ``weight_clip`` and the largest loss weight
    :math:`w_D^\\alpha` (where the bound binds, the joint phase pushes hardest: docs/reweighting.md)."""
    import torch

    from evgen_zjets_inn.discflow.losses import alpha0_schedule, discflow_loss, discflow_weights

    d_abs, d_count, clipped, largest = 0.0, 0, 0, 1.0
    log_lo, log_hi = (math.log(b) for b in j.weight_clip)
    y, n, w, row = batches
    for b, s in enumerate(gen_sl):
        step = epoch * gen_steps + b
        alpha0 = alpha0_schedule(step, total_gen_steps, j.alpha_max)
        yb, nb, wb, rb = (t[s].to(device) for t in (y, n, w, row))
        model.train()
        nll, v = [], []
        for k, net in nets.items():
            sel = nb == k
            if not bool(sel.any()):
                continue
            nll.append(-model.log_prob(yb[sel][:, : 5 + 4 * k], k))
            with torch.no_grad():
                net.eval()
                logits = net(features[k][rb[sel]])
            loss_weights = discflow_weights(logits, alpha0, tuple(j.weight_clip))
            v.append(wb[sel] * loss_weights)
            d_abs += float((0.5 - torch.sigmoid(logits)).abs().sum())
            d_count += int(sel.sum())
            clipped += int(((logits <= log_lo) | (logits >= log_hi)).sum())
            largest = max(largest, float(loss_weights.max()))
        loss = discflow_loss(torch.cat(nll), torch.cat(v))
        if not torch.isfinite(loss):
            raise InputError(f"discflow: the generator loss became {float(loss)} at joint epoch {epoch + 1}")
        g_opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        g_opt.step()
        record["generator_loss"] += float(loss.detach()) / len(gen_sl)
        record["alpha0"] = alpha0
        bar.update(int(min(s.stop, len(y)) - s.start))
    record["clipped_fraction"] = clipped / max(d_count, 1)
    record["max_loss_weight"] = largest
    return d_abs, d_count


def _discriminator_half(
    nets: dict[int, Any],
    d_opts: dict[int, Any],
    features: dict[int, Any],
    pool: dict[int, Any],
    used: dict[int, int],
    batches: tuple[Any, Any, Any],
    disc_sl: list[slice],
    device: Any,
    record: dict[str, Any],
    bar: Any,
    n_rows: int,
) -> None:
    """The discriminator steps of one joint epoch: truth against the epoch's generated pool, the
    two classes with equal weight."""
    import torch

    from evgen.validation.classifier import weighted_bce

    n, w, row = batches
    for s in disc_sl:
        nb, wb, rb = (t[s].to(device) for t in (n, w, row))
        loss = torch.zeros((), device=device)
        for k, net in nets.items():
            sel = nb == k
            m = int(sel.sum())
            if m == 0:
                continue
            net.train()
            x_gen = pool[k][used[k] : used[k] + m]
            used[k] += m
            w_truth = wb[sel] * (m / wb[sel].sum().clamp_min(1e-30))  # classes with equal weight
            logits = torch.cat([net(features[k][rb[sel]]), net(x_gen)])
            labels = torch.cat([torch.ones(m, device=device), torch.zeros(len(x_gen), device=device)])
            weights = torch.cat([w_truth, torch.ones(len(x_gen), device=device)])
            loss = loss + weighted_bce(logits, labels, weights)
        for opt in d_opts.values():
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in d_opts.values():
            opt.step()
        record["discriminator_loss"] += float(loss.detach()) / len(disc_sl)
        bar.update(int(min(s.stop, n_rows) - s.start))


def _resume_joint(
    checkpoint: Path,
    device: Any,
    fingerprint: str,
    model: Any,
    g_opt: Any,
    nets: dict[int, Any],
    d_opts: dict[int, Any],
) -> tuple[list[dict[str, Any]], int]:
    """Load a joint-phase checkpoint into the networks and optimisers; its history and epoch."""
    from evgen.training import load_checkpoint

    state = load_checkpoint(checkpoint, device, marker=_FORMAT, kind="a DiscFlow")
    if state["fingerprint"] != fingerprint:
        raise ConfigError(
            f"{checkpoint}: written with other settings or data; use a new run directory or delete it"
        )
    model.load_state_dict(state["model"])
    for n, net in nets.items():
        net.load_state_dict(state["discriminators"][str(n)])
        d_opts[n].load_state_dict(state["discriminator_optimizers"][str(n)])
    g_opt.load_state_dict(state["optimizer"])
    history, start_epoch = list(state["history"]), int(state["epoch"])
    return history, start_epoch


def _save_joint(
    checkpoint: Path,
    fingerprint: str,
    epoch: int,
    model: Any,
    g_opt: Any,
    nets: dict[int, Any],
    d_opts: dict[int, Any],
    history: list[dict[str, Any]],
) -> None:
    """Write the joint-phase checkpoint after ``epoch`` (0-based) atomically."""
    import torch

    state = {
        "format": _FORMAT,
        "fingerprint": fingerprint,
        "epoch": epoch + 1,
        "model": model.state_dict(),
        "optimizer": g_opt.state_dict(),
        "discriminators": {str(k): net.state_dict() for k, net in nets.items()},
        "discriminator_optimizers": {str(k): opt.state_dict() for k, opt in d_opts.items()},
        "history": history,
    }
    atomic_write(checkpoint, lambda tmp, state=state: torch.save(state, tmp))
