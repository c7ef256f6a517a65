"""A third-party evgen plugin: a multivariate Gaussian generator and a mean-difference metric."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from evgen.events import event_weights, toy_events, toy_points
from evgen.hookspecs import hookimpl
from evgen.interfaces import Generator, Measurement, Metric


class GaussianGenerator(Generator):
    """Fits a (weighted) multivariate Gaussian to toy points and samples from it."""

    name = "gaussian"
    description = "multivariate Gaussian fitted to toy points (example third-party plugin)"

    def __init__(self, config: dict | None = None) -> None:
        self.mean: np.ndarray | None = None
        self.cov: np.ndarray | None = None

    def fit(self, events, weights=None, conditions=None, **options):
        x = toy_points(events)
        w = event_weights(events) if weights is None else np.asarray(weights, float)
        self.mean = np.average(x, axis=0, weights=w)
        self.cov = np.atleast_2d(np.cov(x, rowvar=False, aweights=w))
        return {"n": len(x)}

    def sample(self, n, conditions=None, seed=None):
        rng = np.random.default_rng(seed)
        return toy_events(rng.multivariate_normal(self.mean, self.cov, size=n))

    def save(self, path):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "gaussian.json").write_text(
            json.dumps({"mean": self.mean.tolist(), "cov": self.cov.tolist()})
        )

    @classmethod
    def load(cls, path):
        data = json.loads((Path(path) / "gaussian.json").read_text())
        gen = cls()
        gen.mean, gen.cov = np.array(data["mean"]), np.array(data["cov"])
        return gen


class MeanDifference(Metric):
    """Difference of the weighted means of the first coordinate, with its standard error."""

    name = "mean-difference"
    description = "difference of weighted means of toy points (example third-party plugin)"

    def compare(self, reference, generated):
        def mean_and_error(events):
            x, w = toy_points(events)[:, 0], event_weights(events)
            mean = np.average(x, weights=w)
            n_eff = w.sum() ** 2 / (w**2).sum()
            return mean, np.sqrt(np.average((x - mean) ** 2, weights=w) / n_eff)

        (m1, e1), (m2, e2) = mean_and_error(reference), mean_and_error(generated)
        return {"difference": Measurement(m2 - m1, float(np.hypot(e1, e2)))}


@hookimpl
def evgen_register_generators():
    return [GaussianGenerator]


@hookimpl
def evgen_register_metrics():
    return [MeanDifference]
