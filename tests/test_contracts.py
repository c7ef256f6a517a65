"""Contract tests that run over every registered plugin component, third-party ones included."""

from __future__ import annotations

import inspect

import awkward as ak
import numpy as np
import pytest

from evgen import plugins
from evgen.events import event_weights, toy_points
from evgen.interfaces import Generator, Metric, Reweighter, ToyDataset

GENERATORS = sorted(plugins.generators())
METRICS = sorted(plugins.metrics())
REWEIGHTERS = sorted(plugins.reweighters())
TOYS = sorted(name for name, ds in plugins.datasets().items() if isinstance(ds, ToyDataset))


@pytest.mark.parametrize("name", GENERATORS)
def test_generator_contract(name):
    cls = plugins.get_generator(name)
    assert issubclass(cls, Generator) and not inspect.isabstract(cls)
    assert cls.name == name and cls.description and "\n" not in cls.description
    assert "n" in inspect.signature(cls.sample).parameters
    assert isinstance(inspect.getattr_static(cls, "load"), classmethod)


@pytest.mark.parametrize("name", METRICS)
def test_metric_contract(name):
    cls = plugins.get_metric(name)
    assert issubclass(cls, Metric) and not inspect.isabstract(cls)
    assert cls.name == name and cls.description


@pytest.mark.parametrize("name", REWEIGHTERS)
def test_reweighter_contract(name):
    cls = plugins.get_reweighter(name)
    assert issubclass(cls, Reweighter) and not inspect.isabstract(cls)
    assert cls.name == name and cls.description


@pytest.mark.parametrize("name", TOYS)
def test_toy_dataset_contract(name):
    toy = plugins.get_dataset(name)
    rng = np.random.default_rng(0)
    x = toy.sample(2000, rng)
    assert x.shape == (2000, toy.dim) and np.isfinite(x).all()
    assert np.isfinite(toy.log_prob(x)).all()
    u = toy.truth_cdf(toy.to_truth_coordinates(x))
    assert u.ndim == 2 and len(u) == 2000 and (u >= 0).all() and (u <= 1).all()
    # under the truth every CDF coordinate is uniform: mean 1/2, variance 1/12
    np.testing.assert_allclose(u.mean(axis=0), 0.5, atol=0.03)
    np.testing.assert_allclose(u.var(axis=0), 1 / 12, atol=0.01)
    events = toy.load(100, seed=1)
    assert toy_points(events).shape == (100, toy.dim)
    np.testing.assert_array_equal(event_weights(events), np.ones(100))
    assert ak.array_equal(events, toy.load(100, seed=1))
