r"""The ``binn`` generator: the Z+jets INN with Bayesian subnets (Precision Enthusiasts, Sec. 4).

It is :class:`evgen_zjets_inn.ZJetsINN` (events, preprocessing of Sec. 2.1, the chained
multiplicity networks of Fig. 1, magic transformation, balanced training, run
directories) with three changes:

* every subnet layer is a :class:`~evgen.nn.bayesian.BayesianLinear`
  (:class:`BayesianChainedINN`), and each network's loss adds the KL term scaled by
  its number of training events (:func:`~evgen.nn.bayesian.kl_loss`);
* :meth:`ZJetsBINN.sample` takes ``theta``: ``None`` draws the weights per event (the
  predictive density, Eq. 18), an integer ``k`` uses one fixed draw :math:`\theta_k`
  for the whole sample (histogram it per ``k`` for Eq. 19-21), ``"map"`` the means;
* with ``[augmentation] enabled = true`` the networks are also conditioned on a
  nuisance parameter :math:`a` (Sec. 4.2): each epoch every training event gets a
  random :math:`a` from the grid 0 … 30 and the weight :math:`w(x; a)` of Eq. (23)
  (normalised per grid value); :meth:`ZJetsBINN.sample` then takes ``a`` and draws
  :math:`a' \sim \mathcal{N}(a, \min(a/10, 0.1)^2)` per event.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import torch
from evgen_zjets_inn.config import NetConfig
from evgen_zjets_inn.generator import ZJetsINN, check_events, magic_pair_dr
from evgen_zjets_inn.model import MAX_JETS, ChainedINN, one_hot
from torch import Tensor, nn

from evgen.augmentation import NuisanceWeight, nuisance_grid, pt_j1_tail, sample_nuisance
from evgen.errors import ConfigError, InputError
from evgen.events import event_weights, n_jets
from evgen.nn import ConditionalINN
from evgen.nn.bayesian import bayesian_factory, kl_loss, weight_draw
from evgen.nn.mlp import LinearFactory
from evgen.preprocessing.zjets import MULTIPLICITIES, ZJetsPreprocessing, block_slices
from evgen.run_dir import RunDir
from evgen.training.config import deep_merge
from evgen_binn.config import BINNConfig

__all__ = ["ZJetsBINN", "BayesianChainedINN", "AugmentedSource", "nuisance_from_config"]

_WEIGHTS = "zjets_inn"  # the weight file name ZJetsINN.save writes


def _flow(dim: int, cond_dim: int, cfg: NetConfig, seed: int, factory: LinearFactory) -> ConditionalINN:
    return ConditionalINN(
        dim,
        cond_dim,
        blocks=cfg.blocks,
        bins=cfg.bins,
        hidden=cfg.hidden,
        layers=cfg.layers,
        spline=cfg.spline,
        bound=cfg.bound,
        permutation_seed=seed,
        dropout=cfg.dropout,
        linear_factory=factory,
    )


class BayesianChainedINN(ChainedINN):
    """:class:`~evgen_zjets_inn.model.ChainedINN` with Bayesian subnets and optional extra conditions.

    Parameters
    ----------
    base, jets
        Network configurations (as for ``zjets-inn``).
    seed
        Seeds the fixed rotations.
    linear_factory
        Builds every subnet layer, e.g. :func:`~evgen.nn.bayesian.bayesian_factory`.
    extra_cond
        Number of extra condition values per event (1 for a nuisance parameter), appended
        to every network's condition.

    Attributes
    ----------
    extra_sampler
        ``extra_sampler(size) -> Tensor (size, extra_cond)``: the extra conditions of
        generated events, consulted by :meth:`sample`.
    """

    def __init__(
        self,
        base: NetConfig,
        jets: NetConfig,
        seed: int = 0,
        *,
        linear_factory: LinearFactory,
        extra_cond: int = 0,
    ) -> None:
        nn.Module.__init__(self)
        self.blocks = block_slices(MAX_JETS)
        self.extra_cond = int(extra_cond)
        self.base = _flow(self.blocks[0].stop, MAX_JETS + self.extra_cond, base, seed, linear_factory)
        self.jets = nn.ModuleDict(
            {
                f"j{k + 1}": _flow(
                    self.blocks[k].stop - self.blocks[k].start,
                    self.blocks[k].start + MAX_JETS + self.extra_cond,
                    jets,
                    seed + k,
                    linear_factory,
                )
                for k in range(1, MAX_JETS)
            }
        )
        self.extra_sampler: Callable[[int], Tensor] | None = None

    def _extra(self, extra: Tensor | None, size: int, like: Tensor) -> Tensor | None:
        if self.extra_cond == 0:
            return None
        if extra is None:
            if self.extra_sampler is None:
                raise InputError(
                    f"this network needs {self.extra_cond} extra condition(s) per event (e.g. a)"
                )
            extra = self.extra_sampler(size)
        extra = extra.to(like).reshape(size, self.extra_cond)
        return extra

    def stage_data(
        self, stage: str, y: Tensor, n_jets: Tensor, extra: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """``(x, c)`` of a stage; ``c`` ends with the ``extra`` conditions."""
        x, c = super().stage_data(stage, y, n_jets)
        e = self._extra(extra, len(y), c)
        return x, c if e is None else torch.cat([c, e], dim=1)

    def log_prob(self, y: Tensor, n: int, extra: Tensor | None = None) -> Tensor:
        """``log p(y | n[, a])`` of ``n``-jet rows in network space."""
        n_jets = torch.full((len(y),), n, dtype=torch.long, device=y.device)
        total = y.new_zeros(len(y))
        for stage, flow in self.stages().items():
            if self.stage_jets(stage) <= n:
                x, c = self.stage_data(stage, y, n_jets, extra)
                total = total + flow.log_prob(x, c)
        return total

    @torch.no_grad()
    def sample(self, n: int, size: int, generator: torch.Generator | None = None) -> Tensor:
        """``size`` network-space rows of ``n``-jet events (extra conditions from :attr:`extra_sampler`)."""
        device = next(self.parameters()).device
        hot = one_hot(n, size).to(device)
        e = self._extra(None, size, hot)
        tail = [hot] if e is None else [hot, e]
        parts = [self.base.sample(torch.cat(tail, dim=1), generator=generator)]
        for k in range(2, n + 1):
            parts.append(self.jets[f"j{k}"].sample(torch.cat([*parts, *tail], dim=1), generator=generator))
        return torch.cat(parts, dim=1)


class AugmentedSource:
    """Wraps an epoch source of ``(x, c, w, event_index)``: each epoch every row gets a random
    nuisance value from ``grid``, its weight times ``w(x; a)/<w(.; a)>`` and ``a / a_scale``
    appended to its condition (Sec. 4.2)."""

    def __init__(
        self,
        source: Any,
        weight_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
        grid: np.ndarray,
        a_scale: float,
    ) -> None:
        self.source, self.weight_fn, self.a_scale = source, weight_fn, float(a_scale)
        self.grid = torch.as_tensor(np.asarray(grid, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.source)

    def epoch(self, epoch: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        x, c, w, index = self.source.epoch(epoch, generator)
        a = self.grid[torch.randint(len(self.grid), (len(x),), generator=generator)]
        factor = torch.as_tensor(self.weight_fn(index.numpy(), a.numpy()), dtype=w.dtype)
        return x, torch.cat([c, (a / self.a_scale).to(c.dtype)[:, None]], dim=1), w * factor


def nuisance_from_config(name: str, offset: float, scale: float) -> NuisanceWeight:
    """The nuisance weight a config names (``"pt_j1_tail"``: Eq. 23)."""
    if name == "pt_j1_tail":
        return pt_j1_tail(offset, scale)
    raise ConfigError(f"augmentation.nuisance = {name!r}: unknown")


class ZJetsBINN(ZJetsINN):
    """Bayesian INN for Z → μμ + 1–3 jets (Precision Enthusiasts, Sec. 4.1; augmentation Sec. 4.2).

    Parameters
    ----------
    config
        Options (mapping or :class:`BINNConfig`); sections given only in part keep the
        BINN defaults of the other keys (Table 1).
    nuisance
        A :class:`~evgen.augmentation.NuisanceWeight` replacing the configured one
        (any per-event weight function of the events).
    **overrides
        Sections or values merged over ``config``.

    Examples
    --------
    >>> gen = ZJetsBINN(training={"epochs": 5})                 # doctest: +SKIP
    >>> gen.fit(events); gen.save("runs/binn")                  # doctest: +SKIP
    >>> one_theta = gen.sample(100_000, seed=1, theta=7)        # one weight draw
    """

    name = "binn"
    description = "Bayesian Z+jets INN: per-bin uncertainties from weight draws, conditional augmentation (2110.13632 Sec. 4)"

    def __init__(
        self,
        config: Mapping[str, Any] | BINNConfig | None = None,
        *,
        nuisance: NuisanceWeight | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__()
        if isinstance(config, BINNConfig):
            config = config.to_dict()
        merged = deep_merge(BINNConfig().to_dict(), deep_merge(dict(config or {}), overrides))
        self.config = BINNConfig.from_mapping(merged)
        aug = self.config.augmentation
        self.nuisance = nuisance or nuisance_from_config(aug.nuisance, aug.offset, aug.scale)
        self.n_train_stage: dict[str, int] = {}

    # -- model ----------------------------------------------------------------------------
    def build_model(self) -> BayesianChainedINN:
        """The Bayesian chained networks of this config (fixed rotations from the seed)."""
        b = self.config.bayes
        factory = bayesian_factory(b.prior_std, log_sigma2_init=b.log_sigma2_init, bias=b.bias, prior=b.prior)
        extra = 1 if self.config.augmentation.enabled else 0
        return BayesianChainedINN(
            self.config.base,
            self.config.jets,
            seed=self.config.seed,
            linear_factory=factory,
            extra_cond=extra,
        )

    # -- training ----------------------------------------------------------------------------
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
        """Train the three Bayesian networks (as ``zjets-inn``, with the KL term); returns per-stage histories."""
        from evgen.training import BalancedSource, Trainer

        if options:
            raise ConfigError(f"binn fit() got unknown options {sorted(options)}")
        if conditions is not None:
            raise ConfigError(
                "binn is conditioned on the jet multiplicity (and the nuisance a); do not pass conditions"
            )
        cfg = self.config
        events, _ = check_events(events, drop=cfg.data.drop_invalid)
        w_all = event_weights(events) if weights is None else np.asarray(weights, dtype=np.float64)
        if w_all.shape != (len(events),) or not np.all(np.isfinite(w_all)) or np.any(w_all < 0):
            raise InputError("binn needs one finite, non-negative weight per event")
        rng = np.random.default_rng(cfg.seed)
        is_val = rng.uniform(size=len(events)) < cfg.data.validation_fraction
        train, val = np.flatnonzero(~is_val), np.flatnonzero(is_val)

        pre = ZJetsPreprocessing(**cfg.preprocessing.kwargs())
        pre.fit(events[train], w_all[train])
        self.preprocessing = pre
        counts = n_jets(events)
        total = w_all[train].sum()
        self.fractions = {n: float(w_all[train][counts[train] == n].sum() / total) for n in MULTIPLICITIES}
        self._fit_charge(events[train])

        def tensors(index: np.ndarray) -> dict[str, Tensor]:
            ys, ns, ws, idx = [], [], [], []
            width = 5 + 4 * MAX_JETS
            for n, (y, where) in pre.encode(events[index]).items():
                x = pre.features(n).to_features(events[index][where])
                magic = cfg.magic.training_weights(magic_pair_dr(x, n))
                ys.append(np.pad(y, ((0, 0), (0, width - y.shape[1]))))
                ns.append(np.full(len(y), n))
                ws.append(w_all[index][where] * magic)
                idx.append(index[where])
            return {
                "y": torch.as_tensor(np.concatenate(ys), dtype=torch.float32),
                "n": torch.as_tensor(np.concatenate(ns)),
                "w": torch.as_tensor(np.concatenate(ws), dtype=torch.float32),
                "i": torch.as_tensor(np.concatenate(idx)),
            }

        data = tensors(train)
        for n in MULTIPLICITIES:  # restores each multiplicity's rate after Eq. (9), as in zjets-inn
            sel = (data["n"] == n).numpy()
            self.magic_norm[n] = float(
                data["w"].numpy()[sel].astype(np.float64).sum() / w_all[train][counts[train] == n].sum()
            )
        val_data = tensors(val) if len(val) else None

        aug = cfg.augmentation
        weight_fn = None
        if aug.enabled:
            grid = nuisance_grid(aug.a_min, aug.a_max, aug.step)
            train_events = events[train]
            means = {float(a): float(np.mean(self.nuisance.weight(train_events, a))) for a in grid}
            event_values = self._nuisance_observable(events)

            def weight_fn(index: np.ndarray, a: np.ndarray) -> np.ndarray:
                w = event_values(index, a)
                return w / np.array([means[float(v)] for v in a])

        torch.manual_seed(cfg.seed)
        self.model = self.build_model()
        digest = hashlib.sha256(data["y"].numpy().tobytes() + data["w"].numpy().tobytes()).hexdigest()
        fingerprint = {"config": _without_device(cfg.to_dict()), "data_sha256": digest}
        run = RunDir(run_dir) if run_dir is not None else None
        self.history = {}
        for i, (stage, flow) in enumerate(self.model.stages().items()):
            k = self.model.stage_jets(stage)

            def stage_tensors(d: dict[str, Tensor], k: int = k, stage: str = stage) -> tuple[Tensor, ...]:
                sel = d["n"] >= k
                x, c = ChainedINN.stage_data(self.model, stage, d["y"][sel], d["n"][sel])
                return x, c, d["w"][sel], d["n"][sel], d["i"][sel]

            x, c, w, groups, index = stage_tensors(data)
            n_stage = len(x)
            self.n_train_stage[stage] = int(n_stage)
            validation = None
            if val_data is not None:
                vx, vc, vw, _, _ = stage_tensors(val_data)
                if len(vx):
                    if aug.enabled:
                        vc = torch.cat([vc, vc.new_zeros(len(vc), 1)], dim=1)  # validated at a = 0
                    validation = (vx, vc, vw)
            source: Any = BalancedSource(
                x, c, w, index, groups=groups, per_group=_per_group(cfg.data.per_group, groups)
            )
            if aug.enabled:
                source = AugmentedSource(source, weight_fn, grid, aug.a_max or 1.0)
            else:
                source = _DropIndex(source)
            trainer = Trainer(
                flow,
                _binn_loss(n_stage, cfg.bayes.kl_weight),
                cfg.training,
                seed=cfg.seed + 1 + i,
                checkpoint=None if run is None else run.checkpoint_path(stage),
                fingerprint={**fingerprint, "stage": stage},
                validation=validation,
                progress=progress,
                desc=f"binn {stage}",
                weight_index=2,  # the Eq. (10) weights, as in zjets-inn
            )
            self.history[stage] = trainer.fit(source)
        self.model.to("cpu").eval()
        self.device = "cpu"
        self.info.update(
            {
                "n_train": int(len(train)),
                "n_validation": int(len(val)),
                "n_train_per_network": dict(self.n_train_stage),
                "multiplicity_fractions": {str(k): v for k, v in self.fractions.items()},
                "magic_normalisation": {str(k): v for k, v in self.magic_norm.items()},
                "device": cfg.training.device,
            }
        )
        return self.history

    def _nuisance_observable(self, events: ak.Array) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """``f(index, a) -> w(x_index; a)`` for the fitted events (the nuisance evaluated on a subset)."""
        nuisance = self.nuisance

        def values(index: np.ndarray, a: np.ndarray) -> np.ndarray:
            return np.asarray(nuisance.weight(events[index], a), dtype=np.float64)

        return values

    # -- generation -------------------------------------------------------------------------------
    def _theta_generator(self, theta: int) -> torch.Generator:
        if isinstance(theta, bool) or not isinstance(theta, (int, np.integer)) or theta < 0:
            raise ConfigError(f"theta = {theta!r}: expected None, a non-negative draw index or 'map'")
        seed = int(np.random.SeedSequence([self.config.seed, int(theta)]).generate_state(1)[0])
        return torch.Generator().manual_seed(seed)

    def sample(
        self,
        n: int,
        conditions: np.ndarray | None = None,
        seed: int | None = None,
        *,
        magic: bool = True,
        theta: int | str | None = None,
        a: float | None = None,
    ) -> ak.Array:
        """Generate ``n`` weighted events (see :meth:`ZJetsINN.sample`).

        Parameters
        ----------
        theta
            ``None``: a weight draw per event (the predictive density); ``k``: one fixed
            draw :math:`\\theta_k` for the whole call; ``"map"``: the weight means.
        a
            Nuisance value when trained with augmentation (default 0); per event
            :math:`a' \\sim \\mathcal{N}(a, \\min(a/10, 0.1)^2)`.
        """
        aug = self.config.augmentation
        if a is not None and not aug.enabled:
            raise ConfigError("a nuisance value needs a binn trained with [augmentation] enabled = true")
        self._check_trained()
        if theta is None:
            mode, generator = "sample", None
        elif theta == "map":
            mode, generator = "map", None
        elif isinstance(theta, str):
            raise ConfigError(f"theta = {theta!r}: expected None, a draw index or 'map'")
        else:
            mode, generator = "fixed", self._theta_generator(theta)
        rng = np.random.default_rng(seed)
        torch_seed = int(rng.integers(2**62))
        if aug.enabled:
            value = 0.0 if a is None else float(a)
            scale = aug.a_max or 1.0

            def extra(size: int) -> Tensor:
                return torch.as_tensor(sample_nuisance(value, size, rng) / scale, dtype=torch.float32)[
                    :, None
                ]

            self.model.extra_sampler = extra
        try:
            with torch.random.fork_rng(devices=[]), weight_draw(self.model, generator, mode=mode):
                torch.manual_seed(torch_seed)  # per-event weight draws use the global generator
                return super().sample(
                    n, conditions, None if seed is None else int(rng.integers(2**62)), magic=magic
                )
        finally:
            self.model.extra_sampler = None

    def log_prob_network(
        self, y: np.ndarray, n: int, *, theta: int | str | None = "map", a: float = 0.0
    ) -> np.ndarray:
        """``log p(y | n)`` in network space with the weight means (or a draw), at nuisance ``a``."""
        self._check_trained()
        mode = "map" if theta == "map" else ("sample" if theta is None else "fixed")
        generator = self._theta_generator(theta) if mode == "fixed" else None
        extra = None
        if self.config.augmentation.enabled:
            extra = torch.full((len(y), 1), a / (self.config.augmentation.a_max or 1.0))
        with torch.no_grad(), weight_draw(self.model, generator, mode=mode):
            return self.model.log_prob(torch.as_tensor(y, dtype=torch.float32), n, extra).double().numpy()

    # -- persistence -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ZJetsBINN:
        """Restore a generator from a run directory written by :meth:`save`."""
        run = RunDir(path)
        if run.generator_name() != cls.name:
            raise InputError(f"{path}: holds a {run.generator_name()!r} run, not {cls.name!r}")
        gen = cls(run.read_config())
        state_path = Path(path) / "model.json"
        if not state_path.exists():
            raise InputError(
                f"{state_path}: missing; the run directory is incomplete (was training finished?)"
            )
        state = json.loads(state_path.read_text())
        gen.fractions = {int(k): float(v) for k, v in state["fractions"].items()}
        gen.magic_norm = {int(k): float(v) for k, v in state["magic_normalisation"].items()}
        gen.charge = state["charge"]
        gen.info = state.get("info", {})
        gen.preprocessing = ZJetsPreprocessing.load(run.preprocessing_path)
        gen.model = gen.build_model()
        gen.model.load_state_dict(run.load_weights(_WEIGHTS))
        gen.model.eval()
        if (Path(path) / RunDir.HISTORY).exists():
            gen.history = run.read_history()
        return gen


class _DropIndex:
    """An epoch source without its last tensor (the event index, needed only for augmentation)."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def epoch(self, epoch: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        return self.source.epoch(epoch, generator)[:-1]


def _binn_loss(n_train: int, kl_weight: float) -> Callable[[Any, tuple[Any, ...]], Any]:
    """Eq. (10) per batch plus ``kl_weight`` times the KL term over ``n_train`` events."""

    def loss(model: Any, batch: tuple[Any, ...]) -> Any:
        x, c, w = batch
        return model.loss(x, c, w) + kl_weight * kl_loss(model, n_train)

    return loss


def _per_group(per_group: int | None, groups: Tensor) -> int | None:
    if per_group is None:
        return None
    sizes = torch.bincount(groups)
    return min(per_group, int(sizes[sizes > 0].min()))


def _without_device(config: dict[str, Any]) -> dict[str, Any]:
    config = json.loads(json.dumps(config))
    config["training"].pop("device", None)
    return config
