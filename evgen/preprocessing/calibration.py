"""Marginal calibration: a trained flow's marginals mapped onto the training data's, per column.

A flow trained at a CPU budget draws each coordinate's marginal with small, smooth errors
(e.g. a 2 % narrow jet-η difference, a Jacobian peak slightly smeared). After training, its
own samples ``u_model`` and the training data ``u_data`` are compared column by column in the
space just before the whitening (where every column is close to a standard normal). The
quantile map (quantile mapping, the univariate optimal transport between the two marginals)

    T_j(u) = F_data,j⁻¹(F_model,j(u))

moves a network sample's column ``j`` onto the training data's marginal while keeping its
rank, so the dependence between the columns (the copula) stays the network's. Both CDFs are
:class:`~evgen.preprocessing.steps.Gaussianize` maps (piecewise linear through quantile
knots, linear tails), so ``T`` is a monotone bijection of ℝ with an exact log-determinant
and the calibrated generator keeps a density.

In a chain the step runs towards the network: :meth:`MarginalCalibration.forward` is ``T⁻¹``
(data → the network's marginals, used by ``log_prob``), :meth:`MarginalCalibration.inverse`
is ``T`` (what generation applies to the network's samples).

:class:`ConditionalCalibration` does the same for one column *given* another,
``T_h(u) = F_data⁻¹(F_model(u | h) | h)`` (:mod:`evgen.preprocessing.conditional_quantiles`), for
a dependence the network draws wrong although both marginals are right: in the recipe (2 jets,
``p_T,j1 > 55`` GeV) the jet network put 1.1–1.3 × the training sample's events at
``p_T,j2 > 0.65 p_T,j1`` and too few below, the 2-jet ``p_T,j2`` at 1.95–2.25 × the floor.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.preprocessing.base import BaseStep, as_matrix, register_step
from evgen.preprocessing.conditional_quantiles import (
    ConditionalKnots,
    fit_conditional_quantiles,
    side_weights,
)
from evgen.preprocessing.steps import Gaussianize

__all__ = ["PairFittedStep", "MarginalCalibration", "ConditionalCalibration"]


class PairFittedStep(BaseStep):
    """A calibration: fitted from two samples, the training data and the network's own draws
    (:meth:`fit_pair`), never from one (:meth:`fit` refuses)."""

    def fit(self, x: np.ndarray, weights: np.ndarray | None = None) -> PairFittedStep:
        raise ConfigError(
            f"{self.kind}: fitted from two samples, the data and the model's; call fit_pair(data, model)"
        )

    @abc.abstractmethod
    def fit_pair(
        self,
        data: np.ndarray,
        model: np.ndarray,
        data_weights: np.ndarray | None = None,
        model_weights: np.ndarray | None = None,
    ) -> PairFittedStep:
        """Fit on the training data and the network's samples, each weighted as the events they
        stand for; returns self."""


@register_step
class MarginalCalibration(PairFittedStep):
    """Per-column quantile map from a model's samples onto the data's marginals.

    Parameters
    ----------
    bins
        Quantile knots per column and distribution (``bins + 1`` of them, at evenly spaced
        standard-normal values, as :class:`~evgen.preprocessing.steps.Gaussianize`).
    tail_events
        Events per outer bin (:class:`~evgen.preprocessing.steps.Gaussianize`).
    """

    kind = "marginal-calibration"
    fitted_arrays = ("data_knots", "model_knots")

    def __init__(
        self,
        bins: int = 128,
        tail_events: float = 10.0,
        data_z_limit: float | None = None,
        model_z_limit: float | None = None,
    ) -> None:
        self.bins = int(bins)
        self.tail_events = float(tail_events)
        self._data = Gaussianize(bins=bins, tail_events=tail_events, z_limit=data_z_limit)
        self._model = Gaussianize(bins=bins, tail_events=tail_events, z_limit=model_z_limit)

    @property
    def data_knots(self) -> np.ndarray | None:
        return self._data.knots

    @data_knots.setter
    def data_knots(self, value: np.ndarray) -> None:
        self._data.knots = value

    @property
    def model_knots(self) -> np.ndarray | None:
        return self._model.knots

    @model_knots.setter
    def model_knots(self, value: np.ndarray) -> None:
        self._model.knots = value

    def params(self) -> dict[str, Any]:
        return {
            "bins": self.bins,
            "tail_events": self.tail_events,
            "data_z_limit": self._data.z_limit,
            "model_z_limit": self._model.z_limit,
        }

    def fit_pair(
        self,
        data: np.ndarray,
        model: np.ndarray,
        data_weights: np.ndarray | None = None,
        model_weights: np.ndarray | None = None,
    ) -> MarginalCalibration:
        """Fit on the training data (``data``) and on the network's own samples (``model``),
        both in the space the step sits in.

        Each side carries the weights of the events it stands for: the data their event
        weights, the model's samples the weights generation gives them (e.g. the inverse
        importance weights of a flow trained on reweighted data). The map then moves the
        *weighted* marginal of the generated events onto the data's: ``T = F_data⁻¹ ∘
        F_model`` with both CDFs weighted."""
        data, model = as_matrix(data), as_matrix(model)
        if data.shape[1] != model.shape[1]:
            raise InputError(
                f"{self.kind}: data has {data.shape[1]} columns but the model's samples {model.shape[1]}"
            )
        for name, x, w, arg in (
            ("data", data, data_weights, "data_weights"),
            ("model samples", model, model_weights, "model_weights"),
        ):
            if not np.isfinite(x).all():
                raise InputError(f"{self.kind}: the {name} hold NaN or infinite values")
            if w is None:
                continue
            w = np.asarray(w, dtype=np.float64)
            if w.shape != (len(x),):
                raise InputError(f"{self.kind}: {arg} has shape {w.shape}, but the {name} have {len(x)} rows")
            if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
                raise InputError(f"{self.kind}: {arg} must be finite, non-negative and not all zero")
        self._data.fit(data, data_weights)
        self._model.fit(model, model_weights)
        return self

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``T⁻¹``: data-space values onto the model's marginals, with ``log|det|``."""
        self._check_fitted()
        z, log_det_data = self._data.forward(x)
        y = self._model.inverse(z)
        _, log_det_model = self._model.forward(y)
        return y, log_det_data - log_det_model

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """``T``: the model's samples onto the data's marginals."""
        self._check_fitted()
        z, _ = self._model.forward(y)
        return self._data.inverse(z)

    def shift(self) -> np.ndarray:
        """Per column, the largest ``|T(u) − u|`` over the model's central knots (1 %–99 %):
        how far the calibration moves the network's marginals."""
        self._check_fitted()
        grid = self._model.grid
        from scipy.special import ndtr

        p = ndtr(grid)
        inner = (p >= 0.01) & (p <= 0.99)
        knots = self.model_knots[:, inner]
        moved = np.stack([self.inverse(knots[:, k][None, :])[0] for k in range(knots.shape[1])], axis=1)
        return np.abs(moved - knots).max(axis=1)


@register_step
class ConditionalCalibration(PairFittedStep):
    """Quantile map of one column given another, from a model's samples onto the data's.

    Parameters
    ----------
    column
        The column mapped.
    given
        The column it is conditioned on (left alone).
    bins
        Quantile levels per bin of ``given`` (``bins + 1`` knots).
    given_bins
        Quantile bins of ``given`` (1: the unconditional map). A small sample gets fewer of both
        (:func:`~evgen.preprocessing.conditional_quantiles.fit_conditional_quantiles`);
        :meth:`fit_pair` stores the numbers it used.
    z_max, tail_events
        The outer levels ``Φ(±z)``: ``z ≤ z_max``, at least ``tail_events`` rows beyond them.
    """

    kind = "conditional-calibration"
    fitted_arrays = ("given_centres", "data_knots", "model_knots")

    def __init__(
        self,
        column: int,
        given: int,
        bins: int = 32,
        given_bins: int = 4,
        z_max: float = 3.5,
        tail_events: float = 20.0,
    ) -> None:
        if int(column) < 0 or int(given) < 0 or int(column) == int(given):
            raise ConfigError(
                f"{self.kind}: need two distinct non-negative columns; got {column!r}, {given!r}"
            )
        if int(bins) < 2 or int(given_bins) < 1:
            raise ConfigError(
                f"{self.kind}: bins must be ≥ 2 and given_bins ≥ 1; got {bins!r}, {given_bins!r}"
            )
        self.column, self.given = int(column), int(given)
        self.bins, self.given_bins = int(bins), int(given_bins)
        self.z_max, self.tail_events = float(z_max), float(tail_events)
        self.given_centres: np.ndarray | None = None
        self.data_knots: np.ndarray | None = None
        self.model_knots: np.ndarray | None = None

    def params(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "given": self.given,
            "bins": self.bins,
            "given_bins": self.given_bins,
            "z_max": self.z_max,
            "tail_events": self.tail_events,
        }

    def _columns(self, x: np.ndarray, what: str = "rows") -> tuple[np.ndarray, np.ndarray]:
        if max(self.column, self.given) >= x.shape[1]:
            raise InputError(
                f"{self.kind}: column {max(self.column, self.given)} does not exist in a {x.shape[1]}-column matrix"
            )
        if not np.isfinite(x[:, [self.column, self.given]]).all():
            raise InputError(f"{self.kind}: the {what} hold NaN or infinite values")
        return x[:, self.column], x[:, self.given]

    def fit_pair(
        self,
        data: np.ndarray,
        model: np.ndarray,
        data_weights: np.ndarray | None = None,
        model_weights: np.ndarray | None = None,
    ) -> ConditionalCalibration:
        """Fit on the training data and the network's own samples, both in the space the step
        sits in, each weighted as the events they stand for (:meth:`MarginalCalibration.fit_pair`)."""
        data, model = as_matrix(data), as_matrix(model)
        sides = [
            (*self._columns(x, name), side_weights(w, len(x), name, arg, self.kind))
            for name, x, w, arg in (
                ("data", data, data_weights, "data_weights"),
                ("model samples", model, model_weights, "model_weights"),
            )
        ]
        knots, self.bins, self.given_bins = fit_conditional_quantiles(
            sides[0], sides[1], self.bins, self.given_bins, self.z_max, self.tail_events, self.kind
        )
        self.given_centres, self.data_knots, self.model_knots = knots.centres, knots.data, knots.model
        return self

    def _knots(self) -> ConditionalKnots:
        self._check_fitted()
        assert self.given_centres is not None and self.data_knots is not None and self.model_knots is not None
        return ConditionalKnots(self.given_centres, self.data_knots, self.model_knots)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``T⁻¹``: data-space values onto the model's, with ``log|det|``."""
        knots = self._knots()
        y = as_matrix(x)
        u, h = self._columns(y)
        y[:, self.column], log_det = knots.forward(u, h)
        return y, log_det

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """``T``: the model's samples onto the data's."""
        knots = self._knots()
        x = as_matrix(y)
        u, h = self._columns(x)
        x[:, self.column] = knots.inverse(u, h)
        return x

    def shift(self) -> float:
        """The largest ``|T_h(u) − u|`` over the knots."""
        return self._knots().shift()
