"""Registers the quantile metric and the two-Gaussian fit (entry point ``quantiles`` of group ``evgen``)."""

from __future__ import annotations

from evgen.hookspecs import hookimpl
from evgen.interfaces import Generator, Metric


@hookimpl
def evgen_register_metrics() -> list[type[Metric]]:
    from evgen_quantiles.metric import QuantileMSE

    return [QuantileMSE]


@hookimpl
def evgen_register_generators() -> list[type[Generator]]:
    from evgen_quantiles.fit_generator import TwoGaussianFitGenerator

    return [TwoGaussianFitGenerator]
