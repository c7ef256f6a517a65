"""The interfaces every plugin implements: generator, reweighter, metric, data set.

They are deliberately small (STYLE practice 5): a generator fits, samples with
weights, saves and loads; a reweighter fits reference against generated events
and returns weights; a metric compares two weighted samples and returns values
with uncertainties; a data set hands out events. All of them speak
:mod:`evgen.events` arrays, for collider events and toy points alike.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import awkward as ak
import numpy as np

__all__ = ["Generator", "Reweighter", "Metric", "Dataset", "ToyDataset", "Measurement", "PluginClass"]


@dataclass(frozen=True)
class Measurement:
    """A value with its (one standard deviation) uncertainty."""

    value: float
    error: float = math.nan

    def __format__(self, spec: str) -> str:
        spec = spec or ".4g"
        if math.isnan(self.error):
            return format(self.value, spec)
        return f"{format(self.value, spec)} ± {format(self.error, spec)}"

    def to_dict(self) -> dict[str, float]:
        return {"value": float(self.value), "error": float(self.error)}


class _Described(abc.ABC):
    #: Registry name, e.g. ``"toy-gan"``.
    name: ClassVar[str]
    #: One line shown by ``evgen plugins``.
    description: ClassVar[str] = ""


class Generator(_Described):
    """A generative model of events.

    Subclasses take their configuration as a mapping (or keyword overrides) in
    ``__init__`` and must be able to regenerate events from a saved directory
    alone: ``Generator.load(path).sample(n)``.
    """

    @abc.abstractmethod
    def fit(
        self,
        events: ak.Array,
        weights: np.ndarray | None = None,
        conditions: np.ndarray | None = None,
        **options: Any,
    ) -> Mapping[str, Any]:
        """Train on ``events`` (weights default to ``events.weight``); return a training history."""

    @abc.abstractmethod
    def sample(self, n: int, conditions: np.ndarray | None = None, seed: int | None = None) -> ak.Array:
        """Generate ``n`` events; the result carries a per-event ``weight`` field."""

    @abc.abstractmethod
    def save(self, path: str | Path) -> None:
        """Write everything needed to sample again into the directory ``path``."""

    @classmethod
    @abc.abstractmethod
    def load(cls, path: str | Path) -> Generator:
        """Restore a generator written by :meth:`save`."""

    def to(self, device: str) -> Generator:
        """Sample on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``); returns the generator.

        The default runs on the CPU only; generators with networks override it to move
        them (decoding to events stays on the CPU).
        """
        if str(device) != "cpu":
            from evgen.errors import ConfigError

            raise ConfigError(f"generator {self.name!r} samples on the CPU only; got device {device!r}")
        return self


class Reweighter(_Described):
    """Learns weights that morph generated events onto a reference."""

    @abc.abstractmethod
    def fit(self, reference: ak.Array, generated: ak.Array, **options: Any) -> Mapping[str, Any]:
        """Train to tell ``reference`` from ``generated`` (both possibly weighted)."""

    @abc.abstractmethod
    def weights(self, events: ak.Array) -> np.ndarray:
        """Per-event weights that make ``events`` (drawn like ``generated``) look like ``reference``."""

    def save(self, path: str | Path) -> None:  # pragma: no cover - optional
        raise NotImplementedError(f"{type(self).__name__} cannot be saved")

    @classmethod
    def load(cls, path: str | Path) -> Reweighter:  # pragma: no cover - optional
        raise NotImplementedError(f"{cls.__name__} cannot be loaded")


class Metric(_Described):
    """Compares a reference with a generated sample, both possibly weighted.

    The reference is either events or, for toys, a :class:`ToyDataset` whose exact
    truth the metric may use (e.g. true quantile boundaries).
    """

    @abc.abstractmethod
    def compare(self, reference: ak.Array | ToyDataset, generated: ak.Array) -> dict[str, Measurement]:
        """Return named values with uncertainties."""


class Dataset(_Described):
    """A source of events: a shipped file, a maker, or a toy with exact truth."""

    @abc.abstractmethod
    def load(self, n: int | None = None, seed: int | None = None) -> ak.Array:
        """Return ``n`` events (all of them, for a file, when ``n`` is None)."""


class ToyDataset(Dataset):
    """A toy density in R^d with exact truth.

    Subclasses give the sampler and the truth needed for quantile metrics: the
    map to coordinates in which the density factorises (e.g. polar) and the
    marginal CDF of each such coordinate.
    """

    #: Dimension d of the points.
    dim: ClassVar[int]

    @abc.abstractmethod
    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` points of shape ``(n, d)`` from the exact density."""

    @abc.abstractmethod
    def log_prob(self, points: np.ndarray) -> np.ndarray:
        """Exact log density of points of shape ``(n, d)``."""

    @abc.abstractmethod
    def to_truth_coordinates(self, points: np.ndarray) -> np.ndarray:
        """Map points to coordinates in which the truth factorises, shape ``(n, k)``."""

    @abc.abstractmethod
    def truth_cdf(self, coords: np.ndarray) -> np.ndarray:
        """Marginal CDF of each truth coordinate, shape ``(n, k)`` with values in [0, 1].

        Because the coordinates are independent under the truth, the CDF values
        of a true sample are independent uniforms: equal-probability quantile
        cells are hyper-rectangles in this unit cube.
        """

    def load(self, n: int | None = None, seed: int | None = None) -> ak.Array:
        from evgen.events import toy_events

        return toy_events(self.sample(100 if n is None else n, np.random.default_rng(seed)))


#: Kinds of plugin class, as listed by ``evgen plugins``.
PluginClass = type[Generator] | type[Reweighter] | type[Metric]
