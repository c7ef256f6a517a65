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

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import torch
from torch import Tensor

from evgen.errors import ConfigError, InputError
from evgen.generation.run_dir import RunDir
from evgen.nn.bayesian import bayesian_factory, kl_loss, weight_draw
from evgen.nn.mlp import LinearFactory
from evgen.physics.augmentation import NuisanceWeight, nuisance_grid, pt_j1_tail, sample_nuisance
from evgen.preprocessing.zjets import ZJetsPreprocessing
from evgen.training.config import deep_merge
from evgen_zjets_inn.binn.config import BINNConfig
from evgen_zjets_inn.config import NetConfig, stored_config
from evgen_zjets_inn.generator import ZJetsINN
from evgen_zjets_inn.model import ChainedINN

__all__ = ["ZJetsBINN", "BayesianChainedINN", "AugmentedSource", "nuisance_from_config"]

_WEIGHTS = "zjets_inn"  # the weight file name ZJetsINN.save writes


class BayesianChainedINN(ChainedINN):
    """:class:`~evgen_zjets_inn.model.ChainedINN` whose subnets a ``linear_factory`` builds
    (:func:`~evgen.nn.bayesian.bayesian_factory`), with optional extra conditions."""

    def __init__(
        self,
        base: NetConfig,
        jets: NetConfig,
        seed: int = 0,
        *,
        linear_factory: LinearFactory,
        extra_cond: int = 0,
    ) -> None:
        super().__init__(base, jets, seed, linear_factory=linear_factory, extra_cond=extra_cond)


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
        A :class:`~evgen.physics.augmentation.NuisanceWeight` replacing the configured one
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
        self._augmentation: tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], np.ndarray] | None = None

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

    # -- training: ZJetsINN.fit with the KL term and the augmentation ---------------------------
    def _prepare_stages(self, events: ak.Array, train: np.ndarray) -> None:
        """With augmentation: the nuisance grid and ``w(x; a)/<w(.; a)>`` per training event (Sec. 4.2)."""
        aug = self.config.augmentation
        self._augmentation = None
        if not aug.enabled:
            return
        grid = nuisance_grid(aug.a_min, aug.a_max, aug.step)
        means = {float(a): float(np.mean(self.nuisance.weight(events[train], a))) for a in grid}
        event_values = self._nuisance_observable(events)

        def weight_fn(index: np.ndarray, a: np.ndarray) -> np.ndarray:
            return event_values(index, a) / np.array([means[float(v)] for v in a])

        self._augmentation = (weight_fn, grid)

    def _stage_source(self, x: Any, c: Any, w: Any, groups: Any, index: Any) -> Any:
        """Balanced as in ``zjets-inn``; with augmentation every row also gets a random ``a`` per epoch."""
        source = self._balanced_source(x, c, w, index, groups=groups)
        if self._augmentation is None:
            return _DropIndex(source)
        weight_fn, grid = self._augmentation
        return AugmentedSource(source, weight_fn, grid, self.config.augmentation.a_max or 1.0)

    def _stage_validation(self, x: Tensor, c: Tensor, w: Tensor) -> tuple[Tensor, ...]:
        if self.config.augmentation.enabled:
            c = torch.cat([c, c.new_zeros(len(c), 1)], dim=1)  # validated at a = 0
        return x, c, w

    def _stage_loss(self, n_train: int) -> Any:
        """Eq. (10) plus the KL term scaled by the network's training-set size."""
        return _binn_loss(n_train, self.config.bayes.kl_weight)

    def _fitted_magic_normalisation(self, training_mean_w: dict[int, float]) -> dict[int, float]:
        """The training mean of the Eq. (8) weights: restores each multiplicity's rate after Eq. (9)."""
        return dict(training_mean_w)

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
        gen = cls(stored_config(run.read_config()))
        state_path = Path(path) / "model.json"
        if not state_path.exists():
            raise InputError(
                f"{state_path}: missing; the run directory is incomplete (was training finished?)"
            )
        gen._restore_state(json.loads(state_path.read_text()))
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
