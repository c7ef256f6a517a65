r"""The Z's transverse momentum relative to the jets, calibrated after training.

In the physics coordinates the dimuon ``p_T`` is not a coordinate: it is the balance minus the
jets, ``q⃗_T = B⃗ − H⃗``, with ``B⃗`` the vector sum of both muons' and all jets' ``p_T`` and
``H⃗ = Σ_jets p⃗_T``. Most Z bosons balance the jets (``q_T ≈ |H⃗|``); a Z with ``q_T → 0`` next
to hard jets needs the unclustered radiation to cancel them, which is Sudakov suppressed. In
the shared Pythia sample 0.5 % of 1-jet events have ``t = q_T/|H⃗| < 0.3``. The network draws
``B⃗`` (in its log-polar form) and the jets, and near ``B⃗ = H⃗``, at a place that moves with the
jets, it smooths that suppression away: the recipe's events (seed 0, ``runs/ord-s0`` in
``docs/zjets-inn.md``) had 1.36, 1.23 and 1.08 × the training sample's events in
``t`` = 0–0.1, 0.1–0.2, 0.2–0.3 with 1 jet and 1.5, 1.5, 1.2, 1.3 × in ``t`` = 0–0.4 with 2 jets,
and their ``p_T,μμ`` came out 2.1 and 2.4 × the floor.

:class:`RecoilCalibration` is the marginal calibration of
:mod:`evgen.preprocessing.calibration` for that one derived quantity, conditioned on the jets:
the quantile map ``T_h = F_data⁻¹(· | h) ∘ F_model(· | h)`` of ``log t`` between the training
data and the network's own samples (each weighted as the events they stand for), at the jets'
``h = log |H⃗|``, moves ``q⃗_T`` along its own direction,

    q⃗_T′ = q⃗_T · t′/t,   t′ = exp T_h(log t),   B⃗′ = H⃗ + q⃗_T′,

with the jets, and so ``H⃗``, untouched. The conditional quantiles are fitted in ``jet_bins``
quantile bins of ``h`` (both sides in the data's bins) at ``bins + 1`` levels ``Φ(z_k)``, ``z_k``
evenly spaced (as :class:`~evgen.preprocessing.steps.Gaussianize`); between the bins' weighted
mean ``h`` the knots are interpolated linearly (a convex combination of increasing knots is
increasing), beyond the outer knots ``T_h`` continues with slope 1. So ``T_h`` is a monotone,
piecewise-linear bijection of ``log t`` for every ``h``, continuous in ``h``; and since it fixes
the distribution of ``t`` at every ``|H⃗|``, it fixes that of ``q_T = t |H⃗|`` as well where the
network draws the jets right. In the plane of ``q⃗_T`` it is a radial map with
``log |det J| = 2 log(t′/t) + log(d log t′/d log t)``, a bijection of ``q_T > 0`` given the
jets; as with the column calibration, the dependence on the rest of the event stays the
network's. In a chain the step runs towards the network: :meth:`RecoilCalibration.forward` is
``T⁻¹`` (used by ``log_prob``), :meth:`RecoilCalibration.inverse` is ``T`` (used by generation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.preprocessing.base import as_matrix, register_step
from evgen.preprocessing.calibration import PairFittedStep
from evgen.preprocessing.conditional_quantiles import (
    ConditionalKnots,
    fit_conditional_quantiles,
    side_weights,
)
from evgen.preprocessing.recoil import jet_sum

__all__ = ["RecoilCalibration", "recoil_ratio"]


def recoil_ratio(
    x: np.ndarray, balance: Sequence[int], jet_pt: int, further: Sequence[Sequence[int]]
) -> np.ndarray:
    """``t = |B⃗ − H⃗| / |H⃗|``: the Z's ``p_T`` over the jets' (``inf`` where ``H⃗ = 0``)."""
    hx, hy = jet_sum(x, jet_pt, further)
    q = np.hypot(x[:, balance[0]] - hx, x[:, balance[1]] - hy)
    h = np.hypot(hx, hy)
    return np.divide(q, h, out=np.full(len(x), np.inf), where=h > 0)


@register_step
class RecoilCalibration(PairFittedStep):
    """Quantile map of ``log(q_T/|H⃗|)`` given ``log |H⃗|`` from a model's samples onto the data's.

    Parameters
    ----------
    balance
        The balance's two columns (GeV): along and across the leading jet.
    jet_pt
        The leading jet's ``p_T`` column (GeV).
    further
        ``[p_T, Δφ]`` column pairs of the further jets (GeV, radians to the leading jet).
    bins
        Quantile levels per bin of ``|H⃗|`` (``bins + 1`` knots).
    jet_bins
        Quantile bins of ``log |H⃗|`` the map is fitted in (1: the unconditional map of ``t``).
        A small sample gets fewer of both
        (:func:`~evgen.preprocessing.conditional_quantiles.fit_conditional_quantiles`);
        :meth:`fit_pair` stores the numbers it used.
    z_max, tail_events
        The outer levels ``Φ(±z)`` with ``z ≤ z_max`` and at least ``tail_events`` (effective)
        rows beyond them in the sparsest bin.
    """

    kind = "recoil-calibration"
    fitted_arrays = ("jet_centres", "data_knots", "model_knots")

    def __init__(
        self,
        balance: Sequence[int],
        jet_pt: int,
        further: Sequence[Sequence[int]] = (),
        bins: int = 32,
        jet_bins: int = 1,
        z_max: float = 3.5,
        tail_events: float = 20.0,
    ) -> None:
        if len(balance) != 2:
            raise ConfigError(f"{self.kind}: balance needs its two columns; got {list(balance)}")
        if any(len(pair) != 2 for pair in further):
            raise ConfigError(f"{self.kind}: further needs [p_T, Δφ] column pairs; got {list(further)}")
        if int(bins) < 2:
            raise ConfigError(f"{self.kind}: bins must be at least 2; got {bins!r}")
        if int(jet_bins) < 1:
            raise ConfigError(f"{self.kind}: jet_bins must be at least 1; got {jet_bins!r}")
        if not (z_max > 0 and tail_events > 0):
            raise ConfigError(
                f"{self.kind}: z_max and tail_events must be positive; got {z_max!r}, {tail_events!r}"
            )
        self.balance = [int(c) for c in balance]
        self.jet_pt = int(jet_pt)
        self.further = [[int(c) for c in pair] for pair in further]
        self.bins = int(bins)
        self.jet_bins = int(jet_bins)
        self.z_max = float(z_max)
        self.tail_events = float(tail_events)
        self.jet_centres: np.ndarray | None = None  # (jet_bins,): weighted mean log|H| per bin
        self.data_knots: np.ndarray | None = None  # (jet_bins, bins + 1): log t at the levels
        self.model_knots: np.ndarray | None = None

    @classmethod
    def for_features(cls, features: Any, bins: int = 32, jet_bins: int = 1) -> RecoilCalibration:
        """The step for a :class:`~evgen.preprocessing.zjets_physics.ZJetsPhysicsFeatures` layout."""
        names = list(features.names)
        further = [k for k in (2, 3, 4, 5) if f"j{k}_pt" in names]
        return cls(
            balance=[names.index("balance_par"), names.index("balance_perp")],
            jet_pt=names.index("j1_pt"),
            further=[[names.index(f"j{k}_pt"), names.index(f"j{k}_dphi")] for k in further],
            bins=bins,
            jet_bins=jet_bins,
        )

    def params(self) -> dict[str, Any]:
        return {
            "balance": self.balance,
            "jet_pt": self.jet_pt,
            "further": self.further,
            "bins": self.bins,
            "jet_bins": self.jet_bins,
            "z_max": self.z_max,
            "tail_events": self.tail_events,
        }

    def _ratios(self, x: np.ndarray, what: str = "rows") -> tuple[np.ndarray, np.ndarray]:
        """``(log t, log |H⃗|)`` per row."""
        last = max(*self.balance, self.jet_pt, *sum(self.further, []))
        if last >= x.shape[1]:
            raise InputError(f"{self.kind}: column {last} does not exist in a {x.shape[1]}-column matrix")
        if not np.isfinite(x[:, [*self.balance, self.jet_pt, *sum(self.further, [])]]).all():
            raise InputError(f"{self.kind}: {what} hold NaN or infinite values")
        hx, hy = jet_sum(x, self.jet_pt, self.further)
        q = np.hypot(x[:, self.balance[0]] - hx, x[:, self.balance[1]] - hy)
        h = np.hypot(hx, hy)
        if not np.all((q > 0) & (h > 0)):
            raise InputError(f"{self.kind}: {what} with the Z's p_T or the jets' vector sum exactly 0")
        log_h = np.log(h)
        return np.log(q) - log_h, log_h

    def fit_pair(
        self,
        data: np.ndarray,
        model: np.ndarray,
        data_weights: np.ndarray | None = None,
        model_weights: np.ndarray | None = None,
    ) -> RecoilCalibration:
        """Fit on the training data and the network's own samples (feature rows, GeV), each
        weighted as the events they stand for (:meth:`MarginalCalibration.fit_pair`)."""
        data, model = as_matrix(data), as_matrix(model)
        sides = []
        for name, x, w, arg in (
            ("data rows", data, data_weights, "data_weights"),
            ("model samples", model, model_weights, "model_weights"),
        ):
            w = side_weights(w, len(x), name, arg, self.kind)
            sides.append((*self._ratios(x, name), w))
        knots, self.bins, self.jet_bins = fit_conditional_quantiles(
            sides[0], sides[1], self.bins, self.jet_bins, self.z_max, self.tail_events, self.kind
        )
        self.jet_centres, self.data_knots, self.model_knots = knots.centres, knots.data, knots.model
        return self

    def _knots(self) -> ConditionalKnots:
        assert self.jet_centres is not None and self.data_knots is not None and self.model_knots is not None
        return ConditionalKnots(self.jet_centres, self.data_knots, self.model_knots)

    def _rescale(self, x: np.ndarray, log_t: np.ndarray, log_t_new: np.ndarray) -> None:
        hx, hy = jet_sum(x, self.jet_pt, self.further)
        scale = np.exp(log_t_new - log_t)
        i, j = self.balance
        x[:, i] = hx + (x[:, i] - hx) * scale
        x[:, j] = hy + (x[:, j] - hy) * scale

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``T⁻¹``: data-space rows onto the model's ``t``, with ``log |det|``."""
        self._check_fitted()
        y = as_matrix(x)
        log_t, log_h = self._ratios(y)
        mapped, log_slope = self._knots().forward(log_t, log_h)
        self._rescale(y, log_t, mapped)
        return y, 2.0 * (mapped - log_t) + log_slope

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """``T``: the model's samples onto the data's ``t``."""
        self._check_fitted()
        x = as_matrix(y)
        log_t, log_h = self._ratios(x)
        self._rescale(x, log_t, self._knots().inverse(log_t, log_h))
        return x

    def shift(self) -> float:
        """The largest ``|T_h(log t) − log t|`` over the fitted knots: how far the map moves ``t``."""
        self._check_fitted()
        return self._knots().shift()
