r"""The ``toy-binn`` generator: a Bayesian spline INN for toy points in :math:`\mathbb{R}^d`.

The toy version of the BINN of arXiv:2110.13632, Sec. 4.1: a
:class:`~evgen.nn.ConditionalINN` whose subnet layers are
:class:`~evgen.nn.bayesian.BayesianLinear` (``linear_factory=bayesian_factory``),
trained on standardised points with the negative log-likelihood plus the KL term
scaled by the training-set size (:func:`~evgen.nn.bayesian.kl_loss`). Optional
per-event conditions (e.g. a nuisance parameter, Sec. 4.2) enter every subnet.

Sampling (:meth:`ToyBINN.sample`, :meth:`ToyBINN.sample_points`):

* ``theta=None``: a fresh weight draw per event, i.e. the predictive density
  :math:`\int d\theta\,q(\theta)\,p(x|\theta)` of Eq. (18);
* ``theta=k`` (an integer): one weight draw :math:`\theta_k`, fixed by ``k``, for the
  whole sample: histogramming such samples for ``k = 0 … K-1`` gives
  :math:`\sigma_\mathrm{pred}` (Eq. 21, :mod:`evgen.statistics.uncertainty`);
* ``theta="map"``: the weight means.

With ``bayesian = false`` it is the deterministic INN (``theta`` is ignored), the
member of a deep ensemble or of a bootstrap.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.events import toy_events, toy_points, training_weights
from evgen.files import atomic_write
from evgen.generation.run_dir import RunDir
from evgen.interfaces import Generator
from evgen.training.config import deep_merge
from evgen_zjets_inn.binn.toy_config import ToyBINNConfig

__all__ = ["ToyBINN", "Theta"]

_STATE = "toy_binn.json"
_WEIGHTS = "toy_binn"

#: How weights are drawn at generation: ``None`` (per event), an integer draw index, or ``"map"``.
Theta = int | str | None


class ToyBINN(Generator):
    """Bayesian (or deterministic) spline INN for toy points, with optional conditions.

    Parameters
    ----------
    config
        A :class:`ToyBINNConfig` or a mapping of its options.
    **overrides
        Options merged over ``config``, e.g. ``training={"epochs": 50}``, ``bayesian=False``.

    Examples
    --------
    >>> from evgen.plugins import get_dataset
    >>> gen = ToyBINN(training={"epochs": 100})                       # doctest: +SKIP
    >>> gen.fit(get_dataset("camel").load(2000, seed=1))             # doctest: +SKIP
    >>> x = gen.sample_points(100_000, seed=0, theta=3)              # one weight draw
    """

    name = "toy-binn"
    description = (
        "Bayesian spline INN for toy points: per-bin uncertainties from weight draws (2110.13632 Sec. 4.1)"
    )

    def __init__(self, config: Mapping[str, Any] | ToyBINNConfig | None = None, **overrides: Any) -> None:
        if isinstance(config, ToyBINNConfig):
            config = config.to_dict()
        self.config = ToyBINNConfig.from_mapping(deep_merge(dict(config or {}), overrides))
        self.model: Any = None
        self.dim = 0
        self.cond_dim = 0
        self.shift = np.zeros(0)
        self.scale = np.ones(0)
        self.n_train = 0
        self.history: list[dict[str, Any]] = []

    # -- model -----------------------------------------------------------------------
    def _build(self) -> Any:
        import torch

        from evgen.nn import ConditionalINN
        from evgen.nn.bayesian import bayesian_factory

        cfg, net = self.config, self.config.net
        factory = (
            bayesian_factory(
                cfg.prior_std, log_sigma2_init=cfg.log_sigma2_init, bias=cfg.bias, prior=cfg.prior
            )
            if cfg.bayesian
            else None
        )
        torch.manual_seed(cfg.seed)
        return ConditionalINN(
            self.dim,
            self.cond_dim,
            blocks=net.blocks,
            bins=net.bins,
            hidden=net.hidden,
            layers=net.layers,
            spline=net.spline,
            bound=net.bound,
            permutation_seed=cfg.seed,
            linear_factory=factory,
        )

    # -- training ------------------------------------------------------------------------
    def fit(
        self,
        events: ak.Array,
        weights: np.ndarray | None = None,
        conditions: np.ndarray | None = None,
        *,
        run_dir: str | os.PathLike[str] | None = None,
        progress: bool = False,
        **options: Any,
    ) -> dict[str, Any]:
        """Train on toy ``events`` (weights default to ``events.weight``); returns ``{"history": [...]}``.

        Parameters
        ----------
        conditions
            Optional per-event conditions, shape ``(n, c)`` (or ``(n,)``); they must then be
            given at generation too.
        run_dir
            Directory for the training checkpoint (resumes from it).
        """
        import torch

        from evgen.nn.bayesian import kl_loss
        from evgen.training import TensorSource, Trainer

        if options:
            raise ConfigError(f"toy-binn fit() got unknown options {sorted(options)}")
        points = toy_points(events)
        n, self.dim = points.shape
        w = training_weights(events, weights, self.name)
        if w.sum() <= 0:
            raise InputError(f"toy-binn needs weights with a positive sum; the {n} weights sum to {w.sum()}")
        cond = None
        if conditions is not None:
            cond = np.asarray(conditions, dtype=np.float64).reshape(n, -1)
            if not np.all(np.isfinite(cond)):
                raise InputError("conditions contain NaN or inf")
        self.cond_dim = 0 if cond is None else cond.shape[1]
        mean = np.average(points, axis=0, weights=w)
        std = np.sqrt(np.average((points - mean) ** 2, axis=0, weights=w))
        self.shift, self.scale = mean, np.where(std > 0, std, 1.0)
        self.n_train = n
        self.model = self._build()

        x = torch.as_tensor((points - self.shift) / self.scale, dtype=torch.float32)
        wt = torch.as_tensor(w / w.mean(), dtype=torch.float32)
        tensors = (x, wt) if cond is None else (x, torch.as_tensor(cond, dtype=torch.float32), wt)
        kl_weight, n_train = self.config.kl_weight, float(n)

        def loss_fn(model: Any, batch: tuple[Any, ...]) -> Any:
            if len(batch) == 2:
                xb, wb = batch
                cb = None
            else:
                xb, cb, wb = batch
            nll = model.loss(xb, cb, wb)
            return nll + kl_weight * kl_loss(model, n_train) if self.config.bayesian else nll

        run = RunDir(run_dir) if run_dir is not None else None
        trainer = Trainer(
            self.model,
            loss_fn,
            self.config.training,
            seed=self.config.seed,
            checkpoint=None if run is None else run.checkpoint_path(_WEIGHTS),
            fingerprint={"config": self.config.to_dict(), "n": n, "dim": self.dim},
            progress=progress,
            desc="toy-binn",
        )
        self.history = trainer.fit(TensorSource(*tensors))
        self.model.to("cpu").eval()
        return {"history": self.history}

    # -- generation -------------------------------------------------------------------------
    def _check_trained(self) -> None:
        if self.model is None:
            raise ConfigError("toy-binn is not trained: call fit() or load a run directory")

    def _theta_generator(self, theta: Theta) -> Any:
        """The torch generator of weight draw number ``theta`` (fixed by the draw index and the seed)."""
        import torch

        if isinstance(theta, bool) or not isinstance(theta, (int, np.integer)) or theta < 0:
            raise ConfigError(f"theta = {theta!r}: expected None, a non-negative draw index or 'map'")
        seed = int(np.random.SeedSequence([self.config.seed, int(theta)]).generate_state(1)[0])
        return torch.Generator().manual_seed(seed)

    def _conditions(self, conditions: np.ndarray | None, n: int) -> Any:
        import torch

        if self.cond_dim == 0:
            if conditions is not None:
                raise InputError("this toy-binn was trained without conditions; do not pass any")
            return None
        if conditions is None:
            raise InputError(
                f"this toy-binn is conditional ({self.cond_dim} values per event): pass conditions"
            )
        c = np.asarray(conditions, dtype=np.float64)
        c = np.broadcast_to(c.reshape(-1, self.cond_dim) if c.ndim else c.reshape(1, 1), (n, self.cond_dim))
        return torch.tensor(np.array(c, dtype=np.float32))

    def sample_points(
        self,
        n: int,
        conditions: np.ndarray | None = None,
        seed: int | None = None,
        *,
        theta: Theta = None,
        chunk_size: int = 200_000,
    ) -> np.ndarray:
        """``n`` points of shape ``(n, dim)``; ``theta`` selects the weight draw (module docstring)."""
        import torch

        from evgen.nn.bayesian import weight_draw

        self._check_trained()
        if n < 0:
            raise ConfigError(f"n = {n}: must be a non-negative number of events")
        if isinstance(theta, str) and theta != "map":
            raise ConfigError(f"theta = {theta!r}: expected None, a draw index or 'map'")
        c_all = self._conditions(conditions, n)
        rng = np.random.default_rng(seed)
        latent = torch.Generator().manual_seed(int(rng.integers(2**62)))
        if theta is None:
            mode, weights_gen = "sample", None
        elif theta == "map":
            mode, weights_gen = "map", None
        else:
            mode, weights_gen = "fixed", self._theta_generator(theta)
        parts = []
        with (
            torch.no_grad(),
            torch.random.fork_rng(devices=[]),
            weight_draw(self.model, weights_gen, mode=mode),
        ):
            torch.manual_seed(int(rng.integers(2**62)))  # per-event weight draws use the global generator
            for start in range(0, n, chunk_size):
                m = min(chunk_size, n - start)
                c = None if c_all is None else c_all[start : start + m]
                z = torch.randn(m, self.dim, generator=latent)
                parts.append(self.model.inverse(z, c).double().numpy())
        x = np.concatenate(parts) if parts else np.zeros((0, self.dim))
        return x * self.scale + self.shift

    def sample(
        self,
        n: int,
        conditions: np.ndarray | None = None,
        seed: int | None = None,
        *,
        theta: Theta = None,
    ) -> ak.Array:
        """``n`` toy events with unit weights (see :meth:`sample_points`)."""
        x = self.sample_points(n, conditions, seed, theta=theta)
        bad = ~np.all(np.isfinite(x), axis=1)
        if bad.any():
            raise InputError(f"toy-binn produced {int(bad.sum())} non-finite points; the model is broken")
        return toy_events(x)

    def log_prob(
        self, points: np.ndarray, conditions: np.ndarray | None = None, *, theta: Theta = "map"
    ) -> np.ndarray:
        """Log density of ``points`` (shape ``(n, dim)``) with the chosen weights (default: the means)."""
        import torch

        from evgen.nn.bayesian import weight_draw

        self._check_trained()
        x = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
        if x.shape[1] != self.dim:
            raise InputError(f"points have {x.shape[1]} coordinates; toy-binn was trained on {self.dim}")
        c = self._conditions(conditions, len(x))
        mode = "map" if theta == "map" else ("sample" if theta is None else "fixed")
        gen = None if mode != "fixed" else self._theta_generator(theta)
        with torch.no_grad(), weight_draw(self.model, gen, mode=mode):
            y = torch.as_tensor((x - self.shift) / self.scale, dtype=torch.float32)
            lp = self.model.log_prob(y, c).double().numpy()
        return lp - np.sum(np.log(self.scale))

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write config, weights (safetensors), standardisation and history into ``path``."""
        self._check_trained()
        run = RunDir(path).create()
        run.write_config(self.name, self.config.to_dict())
        run.save_weights(_WEIGHTS, self.model.state_dict())
        state = {
            "dim": self.dim,
            "cond_dim": self.cond_dim,
            "shift": self.shift.tolist(),
            "scale": self.scale.tolist(),
            "n_train": self.n_train,
        }
        atomic_write(Path(path) / _STATE, json.dumps(state, indent=2) + "\n")
        if self.history:
            run.write_history({"history": self.history})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ToyBINN:
        """Restore a generator written by :meth:`save`."""
        run = RunDir(path)
        if run.generator_name() != cls.name:
            raise InputError(f"{path}: holds a {run.generator_name()!r} run, not {cls.name!r}")
        gen = cls(run.read_config())
        state_path = Path(path) / _STATE
        if not state_path.exists():
            raise InputError(f"{state_path}: missing; the run directory is incomplete")
        state = json.loads(state_path.read_text())
        gen.dim, gen.cond_dim, gen.n_train = int(state["dim"]), int(state["cond_dim"]), int(state["n_train"])
        gen.shift, gen.scale = np.asarray(state["shift"]), np.asarray(state["scale"])
        gen.model = gen._build()
        gen.model.load_state_dict(run.load_weights(_WEIGHTS))
        gen.model.eval()
        return gen
