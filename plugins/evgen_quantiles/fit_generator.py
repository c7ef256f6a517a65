"""The ``two-gaussian-fit`` generator: GANplifying's 5-parameter fit benchmark as a generator.

Wrapping :func:`evgen.statistics.fits.fit_two_gaussians` in the :class:`~evgen.interfaces.Generator`
interface lets studies treat the fit like any trained model: fit on toy events,
sample, save to and load from a directory (``fit.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, EvgenError, InputError
from evgen.events import event_weights, toy_events, toy_points
from evgen.interfaces import Generator
from evgen.statistics.fits.two_gaussians import PARAMETERS, TwoGaussianFit, fit_two_gaussians

__all__ = ["TwoGaussianFitGenerator"]

_FILE = "fit.json"


class TwoGaussianFitGenerator(Generator):
    """Two-Gaussian maximum-likelihood fit of 1D toy points (arXiv:2008.06545, Sec. 2).

    Parameters
    ----------
    start
        Optional starting values ``(mu1, sigma1, mu2, sigma2, frac)``; by default
        several data-driven starts are tried.
    seed
        Default seed of :meth:`sample` when none is given.
    """

    name = "two-gaussian-fit"
    description = "5-parameter two-Gaussian max-likelihood fit (iminuit), the GANplifying fit benchmark; 1D"

    def __init__(self, start: Any = None, *, seed: int = 0) -> None:
        if start is not None and len(start) != len(PARAMETERS):
            raise ConfigError(f"start must give the 5 values {PARAMETERS}; got {start!r}")
        self.start = None if start is None else tuple(float(s) for s in start)
        self.seed = int(seed)
        self.result: TwoGaussianFit | None = None

    def fit(
        self,
        events: ak.Array,
        weights: np.ndarray | None = None,
        conditions: np.ndarray | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Fit 1D toy events; returns the fit as a dict (values, errors, covariance, nll, valid)."""
        if conditions is not None:
            raise ConfigError("two-gaussian-fit is unconditional: conditions are not supported")
        if options:
            raise ConfigError(f"two-gaussian-fit takes no training options; got {sorted(options)}")
        points = toy_points(events)
        if points.shape[1] != 1:
            raise InputError(f"two-gaussian-fit fits 1D points; got dimension {points.shape[1]}")
        w = event_weights(events) if weights is None else np.asarray(weights, dtype=np.float64)
        self.result = fit_two_gaussians(points[:, 0], start=self.start, weights=w)
        return self.result.to_dict()

    def _fitted(self) -> TwoGaussianFit:
        if self.result is None:
            raise EvgenError("two-gaussian-fit is not fitted: call fit() or load(directory) first")
        return self.result

    def sample(self, n: int, conditions: np.ndarray | None = None, seed: int | None = None) -> ak.Array:
        """``n`` unit-weight toy events from the fitted density."""
        if conditions is not None:
            raise ConfigError("two-gaussian-fit is unconditional: conditions are not supported")
        rng = np.random.default_rng(self.seed if seed is None else seed)
        return toy_events(self._fitted().sample(int(n), rng))

    def save(self, path: str | Path) -> None:
        """Write ``fit.json`` (fit result, start, seed) into the directory ``path``."""
        from evgen.files import atomic_write_text

        payload = {
            "generator": self.name,
            "start": self.start,
            "seed": self.seed,
            "fit": self._fitted().to_dict(),
        }
        atomic_write_text(Path(path) / _FILE, json.dumps(payload, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> TwoGaussianFitGenerator:
        """Restore a fit written by :meth:`save`."""
        file = Path(path) / _FILE
        if not file.exists():
            raise InputError(f"{file}: not found; expected a directory written by two-gaussian-fit save()")
        try:
            payload = json.loads(file.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"{file}: not valid JSON ({exc})") from None
        self = cls(payload.get("start"), seed=payload.get("seed", 0))
        self.result = TwoGaussianFit.from_dict(payload["fit"])
        return self
