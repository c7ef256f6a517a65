"""The ``quantile-mse`` metric: GANplifying's quantile MSE (Eq. 2) against a toy's exact truth."""

from __future__ import annotations

import math
from collections.abc import Sequence

import awkward as ak
import numpy as np

from evgen.errors import ConfigError
from evgen.events import event_weights, toy_points
from evgen.interfaces import Measurement, Metric, ToyDataset
from evgen.statistics.amplification import equivalent_sample_size
from evgen.statistics.quantiles import (
    expected_quantile_mse,
    expected_quantile_mse_spread,
    kish_sample_size,
    quantile_mse_with_error,
)

__all__ = ["QuantileMSE"]


class QuantileMSE(Metric):
    """Quantile MSE of generated toy events in equal-truth-probability cells.

    Parameters
    ----------
    n_per_axis
        Quantiles per truth axis: one number for every axis used, or one per axis
        (e.g. ``(7, 7)`` for the ring, ``(3,) * 5`` for the 5D shell).
    axes
        Truth-coordinate axes the cells span (default: all of the toy's).

    ``compare(reference, generated)`` needs the exact truth: ``reference`` must be a
    :class:`~evgen.interfaces.ToyDataset`. It returns

    * ``mse``: the quantile MSE of ``generated`` with its statistical error
      (:func:`evgen.statistics.quantiles.quantile_mse_with_error`);
    * ``expected_mse_same_n``: the expected MSE of as many truly sampled events (Kish
      effective number for weighted events), with the spread of a true sample as error;
    * ``equivalent_events``: the number of truly sampled events with the same expected
      MSE (:func:`evgen.statistics.amplification.equivalent_sample_size`), error propagated from ``mse``;
    * ``n_cells``: the number of cells (error 0).
    """

    name = "quantile-mse"
    description = "quantile MSE against a toy's exact truth, with equivalent events (GANplifying Eq. 2)"

    def __init__(self, n_per_axis: int | Sequence[int] = 10, axes: Sequence[int] | None = None) -> None:
        if isinstance(n_per_axis, (int, np.integer)):
            self.n_per_axis: int | tuple[int, ...] = int(n_per_axis)
        else:
            self.n_per_axis = tuple(int(n) for n in n_per_axis)
        self.axes = None if axes is None else tuple(int(a) for a in axes)
        if (
            isinstance(self.n_per_axis, tuple)
            and self.axes is not None
            and len(self.n_per_axis) != len(self.axes)
        ):
            raise ConfigError(f"n_per_axis {self.n_per_axis} and axes {self.axes} must have the same length")

    def _grid(self, toy: ToyDataset) -> tuple[tuple[int, ...], tuple[int, ...]]:
        k = toy.to_truth_coordinates(toy.sample(1, np.random.default_rng(0))).shape[1]
        if self.axes is not None:
            axes = self.axes
        elif isinstance(self.n_per_axis, tuple):
            axes = tuple(range(len(self.n_per_axis)))
        else:
            axes = tuple(range(k))
        n_per_axis = self.n_per_axis if isinstance(self.n_per_axis, tuple) else (self.n_per_axis,) * len(axes)
        return n_per_axis, axes

    def compare(self, reference: ak.Array | ToyDataset, generated: ak.Array) -> dict[str, Measurement]:
        if not isinstance(reference, ToyDataset):
            raise ConfigError(
                "quantile-mse needs the exact truth: pass a toy data set (e.g. "
                "evgen.plugins.get_dataset('camel')) as reference, not "
                f"{type(reference).__name__}"
            )
        if isinstance(generated, np.ndarray):
            points, weights = generated, np.ones(len(generated))
        else:
            points, weights = toy_points(generated), event_weights(generated)
        n_per_axis, axes = self._grid(reference)
        n_cells = math.prod(n_per_axis)
        mse, error = quantile_mse_with_error(reference, points, n_per_axis, axes, weights)
        n_eff = kish_sample_size(weights)
        expected = expected_quantile_mse(n_eff, n_cells)
        spread = expected_quantile_mse_spread(n_eff, n_cells) if n_cells > 1 else 0.0
        n_eq = equivalent_sample_size(mse, n_cells)
        n_eq_error = n_eq * error / mse if mse > 0 else math.nan
        return {
            "mse": Measurement(mse, error),
            "expected_mse_same_n": Measurement(float(expected), float(spread)),
            "equivalent_events": Measurement(float(n_eq), float(n_eq_error)),
            "n_cells": Measurement(float(n_cells), 0.0),
        }
