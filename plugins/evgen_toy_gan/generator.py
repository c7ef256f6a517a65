"""The ``toy-gan`` generator plugin: the GANplifying GAN behind evgen's Generator interface.

A :class:`ToyGAN` is an ensemble of one :class:`~evgen_toy_gan.ensemble.ToyGANEnsemble`
model; :meth:`ToyGAN.ensemble` hands out the batched ensemble the GANplification
study trains (E models at once).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, EvgenError, InputError
from evgen.events import event_weights, toy_events, toy_points
from evgen.interfaces import Generator
from evgen_toy_gan.config import ToyGANConfig
from evgen_toy_gan.ensemble import ToyGANEnsemble, _as_config

__all__ = ["ToyGAN"]


class ToyGAN(Generator):
    """GAN with a batch-statistics discriminator for toy points (arXiv:2008.06545, Sec. 2).

    Parameters
    ----------
    config
        A :class:`ToyGANConfig` or mapping of its fields (paper settings by default);
        ``dim`` is taken from the training points.
    seed
        Seeds initialisation and training.
    **overrides
        Config fields to change, e.g. ``epochs=2000, device="cuda"``.
    """

    name = "toy-gan"
    description = "GANplifying toy GAN: dropout generator, batch-statistics discriminator (arXiv:2008.06545)"

    def __init__(
        self, config: ToyGANConfig | Mapping[str, Any] | None = None, *, seed: int = 0, **overrides: Any
    ) -> None:
        self.config = _as_config(config, overrides)
        self.seed = int(seed)
        self.model: ToyGANEnsemble | None = None

    @classmethod
    def ensemble(
        cls,
        n_models: int,
        config: ToyGANConfig | Mapping[str, Any] | None = None,
        *,
        seed: int = 0,
        **overrides: Any,
    ) -> ToyGANEnsemble:
        """``n_models`` independent GANs trained and sampled at once (stacked parameters)."""
        return ToyGANEnsemble(config, n_models=n_models, seed=seed, **overrides)

    @classmethod
    def load_ensemble(cls, path: str | Path, device: str | None = None) -> ToyGANEnsemble:
        """Restore an ensemble written by :meth:`ToyGANEnsemble.save`."""
        return ToyGANEnsemble.load(path, device=device)

    def fit(
        self,
        events: ak.Array,
        weights: np.ndarray | None = None,
        conditions: np.ndarray | None = None,
        *,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        **options: Any,
    ) -> dict[str, Any]:
        """Train on toy events (unit weights); ``options`` override config fields.

        Returns ``{"history": [...]}`` with the losses every ``log_every`` epochs.
        """
        if conditions is not None:
            raise ConfigError("toy-gan is unconditional: conditions are not supported")
        points = toy_points(events)
        w = event_weights(events) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(points),) or not np.allclose(w, 1.0):
            raise InputError("toy-gan trains on unweighted points: all event weights must be 1")
        self.config = self.config.replace(dim=points.shape[1], **options)
        self.model = ToyGANEnsemble(self.config, n_models=1, seed=self.seed)
        history = self.model.fit([points], checkpoint=checkpoint, resume=resume)
        return {"history": history}

    def _trained(self) -> ToyGANEnsemble:
        if self.model is None:
            raise EvgenError("toy-gan is not trained: call fit() or ToyGAN.load(directory) first")
        return self.model

    def sample(self, n: int, conditions: np.ndarray | None = None, seed: int | None = None) -> ak.Array:
        """``n`` toy events with unit weights (dropout active, as in the paper)."""
        if conditions is not None:
            raise ConfigError("toy-gan is unconditional: conditions are not supported")
        return toy_events(self._trained().sample(n, seed=seed)[0])

    def save(self, path: str | Path) -> None:
        """Write ``model.safetensors``, ``config.json`` and ``history.json`` into ``path``."""
        self._trained().save(path)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> ToyGAN:
        """Restore a generator written by :meth:`save`."""
        model = ToyGANEnsemble.load(path, device=device)
        if model.n_models != 1:
            raise InputError(
                f"{path} holds an ensemble of {model.n_models} GANs; "
                "load it with evgen_toy_gan.ToyGANEnsemble.load"
            )
        self = cls(model.config, seed=model.seed)
        self.model = model
        return self
