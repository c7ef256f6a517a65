"""E independent toy GANs trained and sampled at once.

GANplifying (arXiv:2008.06545, Sec. 2) quotes every GAN result with a band from
100 independent trainings. :class:`ToyGANEnsemble` holds E models as stacked
``[E, ...]`` parameters (``torch.func.stack_module_state`` of E plain modules,
each initialised from its own seed), trains model e on its own training set, and
samples all of them in one batched pass.

>>> ens = ToyGANEnsemble(ToyGANConfig(epochs=100), n_models=20, seed=1)   # doctest: +SKIP
>>> ens.fit([toy.sample(100, rng) for _ in range(20)])                    # doctest: +SKIP
>>> ens.sample(10_000).shape                                              # doctest: +SKIP
(20, 10000, 1)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from evgen.errors import InputError
from evgen_toy_gan.config import ToyGANConfig
from evgen_toy_gan.networks import ToyDiscriminator, ToyGenerator, generator_forward, uniform_noise
from evgen_toy_gan.seeding import member_seeds
from evgen_toy_gan.training import EnsembleTrainer

__all__ = ["ToyGANEnsemble", "WEIGHTS_FILE", "CONFIG_FILE", "HISTORY_FILE"]

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"

#: Upper bound on generator-input numbers per sampling chunk (memory, not speed).
_CHUNK_NUMBERS = 2**25


def _rng_devices(device: torch.device) -> list[int]:
    return [device.index or 0] if device.type == "cuda" else []


def _as_config(config: ToyGANConfig | Mapping[str, Any] | None, overrides: Mapping[str, Any]) -> ToyGANConfig:
    if isinstance(config, ToyGANConfig):
        return config.replace(**overrides) if overrides else config
    return ToyGANConfig.from_dict(config, **overrides)


class ToyGANEnsemble:
    """E independent toy GANs with stacked parameters.

    Parameters
    ----------
    config
        A :class:`ToyGANConfig`, a mapping of its fields, or None for the paper's settings.
    n_models
        Ensemble size E.
    seed
        Seeds the members' initialisation (:func:`evgen_toy_gan.seeding.member_seeds`)
        and the training stream (shuffles, noise, dropout).
    **overrides
        Config fields to change.
    """

    def __init__(
        self,
        config: ToyGANConfig | Mapping[str, Any] | None = None,
        n_models: int = 1,
        seed: int = 0,
        **overrides: Any,
    ) -> None:
        self.config = _as_config(config, overrides)
        if int(n_models) != n_models or n_models < 1:
            raise InputError(f"an ensemble needs n_models >= 1; got {n_models!r}")
        self.n_models = int(n_models)
        self.seed = int(seed)
        self.seeds = member_seeds(self.seed, self.n_models)
        self.device = torch.device(self.config.device)
        self.history: list[dict[str, Any]] = []
        self.gen, self.disc = self._initial_parameters()

    def _initial_parameters(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        gens, discs = [], []
        with torch.random.fork_rng(devices=[]):
            for s in self.seeds:
                torch.manual_seed(s)
                gens.append(ToyGenerator(self.config))
                discs.append(ToyDiscriminator(self.config))
        gen, _ = torch.func.stack_module_state(gens)
        disc, _ = torch.func.stack_module_state(discs)
        return (
            {k: v.detach().to(self.device) for k, v in gen.items()},
            {k: v.detach().to(self.device) for k, v in disc.items()},
        )

    # -- training -------------------------------------------------------------------------
    def _stack(self, samples: Sequence[np.ndarray] | np.ndarray) -> Tensor:
        arrays = [np.asarray(s, dtype=np.float64) for s in samples]
        if len(arrays) != self.n_models:
            raise InputError(
                f"an ensemble of {self.n_models} models needs {self.n_models} training sets; got {len(arrays)}"
            )
        d = self.config.dim
        arrays = [a[:, None] if a.ndim == 1 and d == 1 else a for a in arrays]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1 or arrays[0].ndim != 2 or arrays[0].shape[1] != d:
            raise InputError(
                f"training sets must all have shape (N, {d}) with the same N; got shapes {sorted(shapes)}"
            )
        stacked = np.stack(arrays)
        if not np.all(np.isfinite(stacked)):
            raise InputError("training points contain NaN or inf")
        return torch.as_tensor(stacked, dtype=torch.float32, device=self.device)

    def fit(
        self,
        samples: Sequence[np.ndarray] | np.ndarray,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        epochs: int | None = None,
    ) -> list[dict[str, Any]]:
        """Train model e on ``samples[e]`` (shape ``(N, d)``, the same N for all).

        Parameters
        ----------
        checkpoint, resume
            Checkpoint file, and whether to continue from it when it exists.
        epochs
            Stop after this many epochs (default ``config.epochs``; the learning-rate
            schedule stays that of ``config``).

        Returns
        -------
        list of dict
            History rows ``{"epoch", "loss_d": [E], "loss_g": [E], "lr"}``.
        """
        data = self._stack(samples)
        with torch.random.fork_rng(devices=_rng_devices(self.device)):
            torch.manual_seed(self.seed)
            trainer = EnsembleTrainer(self.config, self.gen, self.disc)
            trainer.history = list(self.history)
            self.history = trainer.fit(data, checkpoint=checkpoint, resume=resume, epochs=epochs)
        return self.history

    # -- sampling -------------------------------------------------------------------------
    @torch.no_grad()
    def _generate(self, n: int) -> np.ndarray:
        config = self.config
        chunk = max(1, _CHUNK_NUMBERS // (self.n_models * config.noise_dim))
        parts = []
        for start in range(0, n, chunk):
            rows = min(chunk, n - start)
            z = uniform_noise((self.n_models, rows, config.noise_dim), 1.0, self.device)
            parts.append(generator_forward(self.gen, z, config).double().cpu().numpy())
        if not parts:
            return np.empty((self.n_models, 0, config.dim))
        return np.concatenate(parts, axis=1)

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n`` points from every model, shape ``(E, n, d)``; dropout stays active (Sec. 2).

        With ``seed`` the draw is reproducible and leaves the global RNG untouched.
        """
        if int(n) != n or n < 0:
            raise InputError(f"number of events to sample must be a non-negative integer; got {n!r}")
        if seed is None:
            return self._generate(int(n))
        with torch.random.fork_rng(devices=_rng_devices(self.device)):
            torch.manual_seed(int(seed))
            return self._generate(int(n))

    # -- persistence ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Tensor]:
        """Stacked weights as ``{"generator.<name>": [E, ...], "discriminator.<name>": ...}`` on the CPU."""
        out = {f"generator.{k}": v.detach().cpu().contiguous() for k, v in self.gen.items()}
        out.update({f"discriminator.{k}": v.detach().cpu().contiguous() for k, v in self.disc.items()})
        return out

    def save(self, path: str | Path) -> Path:
        """Write ``model.safetensors``, ``config.json`` and ``history.json`` into the directory ``path``."""
        from safetensors.torch import save_file

        from evgen import __version__

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_file(self.state_dict(), str(path / WEIGHTS_FILE))
        meta = {
            "generator": "toy-gan",
            "evgen_version": __version__,
            "n_models": self.n_models,
            "seed": self.seed,
            "member_seeds": self.seeds,
            "config": self.config.to_dict(),
        }
        (path / CONFIG_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        (path / HISTORY_FILE).write_text(json.dumps(self.history) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> ToyGANEnsemble:
        """Restore an ensemble written by :meth:`save` (optionally onto another ``device``)."""
        from safetensors.torch import load_file

        path = Path(path)
        config_file, weights_file = path / CONFIG_FILE, path / WEIGHTS_FILE
        for f in (config_file, weights_file):
            if not f.is_file():
                raise InputError(f"{f} is missing: {path} is not a saved toy-gan directory")
        meta = json.loads(config_file.read_text())
        config = ToyGANConfig.from_dict(meta["config"])
        if device is not None:
            config = config.replace(device=device, cuda_graphs=False)
        self = cls.__new__(cls)
        self.config = config
        self.n_models = int(meta["n_models"])
        self.seed = int(meta["seed"])
        self.seeds = [int(s) for s in meta["member_seeds"]]
        self.device = torch.device(config.device)
        history_file = path / HISTORY_FILE
        self.history = json.loads(history_file.read_text()) if history_file.is_file() else []
        state = load_file(str(weights_file), device="cpu")
        self.gen, self.disc = {}, {}
        for key, value in state.items():
            part, _, name = key.partition(".")
            target = {"generator": self.gen, "discriminator": self.disc}.get(part)
            if target is None or value.shape[0] != self.n_models:
                raise InputError(f"{weights_file}: unexpected tensor {key!r} of shape {tuple(value.shape)}")
            target[name] = value.to(self.device)
        with torch.device("meta"):  # names only: no memory, no random numbers
            expected = {f"generator.{k}" for k in ToyGenerator(config).state_dict()}
            expected |= {f"discriminator.{k}" for k in ToyDiscriminator(config).state_dict()}
        if set(state) != expected:
            raise InputError(
                f"{weights_file} does not match its config: missing {sorted(expected - set(state))}, "
                f"unexpected {sorted(set(state) - expected)}"
            )
        return self
