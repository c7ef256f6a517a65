r"""Importance weights that fill the dip of the dimuon p_T at zero (the magic transform's trick).

In Z+jets events the Z recoils against the jets, so its transverse momentum
:math:`\vec q_T = \vec p_{T,\mu_1} + \vec p_{T,\mu_2}` is small only where something else
balances the jets: a second jet opposite the first, or radiation below the jet threshold. With
one jet above 20 GeV the density of :math:`\vec q_T` in its plane falls by an order of
magnitude from :math:`q_T \approx 25` GeV to :math:`q_T \to 0` (the shared Pythia sample); with
three jets by a factor ≈ 3, with two hardly at all. In the physics coordinates that point is
:math:`\vec B = \vec H` (the balance equals the jets' vector sum), deep in the balance's tail,
and a flow smooths the dip: it generates 10–100 % too many events below 15 GeV.

As the magic transformation does for the ΔR_jj hole (Eq. 8–9 of *Precision Enthusiasts*)
and :mod:`evgen.mass_step` for the generator cut, training events get the weight

.. math::
    w(q) = \Big(\frac{q^2 + q_0^2}{q^2 + q_\text{min}^2}\Big)^{a_n/2},

which tends to 1 above :math:`q_0` and to :math:`(q_0/q_\text{min})^{a_n}` at zero. The
network learns the weighted density, whose plane density near zero is flat where the true one
goes as :math:`(q/q_0)^{a_n}`; generated events carry :math:`1/w(q)`, which restores the dip
exactly in expectation (the per-multiplicity normalisation of the generation weights is the
generator's, as for Eq. 9).

The power :math:`a_n` is measured per jet multiplicity on the training sample
(:meth:`RecoilDip.fit_powers`): the log-ratio of the plane densities (events per unit area of
the :math:`\vec q_T` plane) in the annulus :math:`[q_0/2, q_0)` and the disc
:math:`[0, q_0/2)`, divided by the difference of the mean of :math:`\ln s` in each, with
:math:`s = 1/w` at :math:`a = 1`. On a spectrum that also falls by itself (``e^{-q/40}`` GeV)
it reads 0.3 for a true 0.5 and 1.0 for 1.2 (tested). Any :math:`a \ge 0` gives unbiased
events (``w`` and ``1/w`` are importance weights); it only decides how flat the density the
network learns is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evgen.errors import ConfigError, InputError

__all__ = ["RecoilDip", "MIN_DISC_EVENTS", "MAX_POWER"]

#: Events a multiplicity needs in the disc and the annulus to get a power (else 0: no weights).
MIN_DISC_EVENTS = 50
#: The largest power fitted: the weight at q = 0 is at most (q0/q_min)^MAX_POWER.
MAX_POWER = 2.0


@dataclass(frozen=True)
class RecoilDip:
    """The ``[recoil_dip]`` options: the scale of the dip of the dimuon p_T and its floor.

    Parameters
    ----------
    scale
        :math:`q_0` in GeV, below which the weights grow (``None``: no weights).
    floor
        :math:`q_\\text{min}` in GeV, which bounds the weight at :math:`q_T = 0`.
    """

    scale: float | None = None
    floor: float = 1.0

    def __post_init__(self) -> None:
        if self.scale is not None and not (np.isfinite(self.scale) and self.scale > 0):
            raise ConfigError(f"recoil_dip.scale = {self.scale!r}: must be a positive momentum in GeV")
        if not (np.isfinite(self.floor) and self.floor > 0):
            raise ConfigError(f"recoil_dip.floor = {self.floor!r}: must be a positive momentum in GeV")
        if self.scale is not None and not self.floor < self.scale:
            raise ConfigError(
                f"recoil_dip.floor = {self.floor!r}: must be below recoil_dip.scale = {self.scale!r}"
            )

    @property
    def enabled(self) -> bool:
        return self.scale is not None

    def _log_s(self, qt: np.ndarray) -> np.ndarray:
        """``ln s(q)`` with ``s = 1/w`` at power 1: ``½ ln((q² + q_min²)/(q² + q0²))`` (≤ 0)."""
        q2 = np.square(np.asarray(qt, dtype=np.float64))
        return 0.5 * (np.log(q2 + self.floor**2) - np.log(q2 + float(self.scale) ** 2))

    def fit_power(self, qt: np.ndarray, weights: np.ndarray | None = None) -> float:
        """:math:`a` of one multiplicity's events: the plane-density log-slope against ``ln s``.

        0 where the disc ``[0, q0/2)`` or the annulus ``[q0/2, q0)`` holds fewer than
        :data:`MIN_DISC_EVENTS` events or the density does not fall towards zero; at most
        :data:`MAX_POWER`.
        """
        if not self.enabled:
            return 0.0
        q = np.asarray(qt, dtype=np.float64)
        w = np.ones_like(q) if weights is None else np.asarray(weights, dtype=np.float64)
        if q.shape != w.shape or not (np.all(np.isfinite(q)) and np.all(q >= 0)):
            raise InputError("recoil_dip: the dimuon p_T must be finite and non-negative, one per weight")
        q0 = float(self.scale)
        disc, ring = q < q0 / 2, (q >= q0 / 2) & (q < q0)
        if min(disc.sum(), ring.sum()) < MIN_DISC_EVENTS:
            return 0.0
        # events per unit area of the q_T plane: the disc has area π q0²/4, the annulus 3 π q0²/4
        density_ratio = (w[ring].sum() / 3.0) / w[disc].sum()
        log_s = self._log_s(q)
        slope = np.average(log_s[ring], weights=w[ring]) - np.average(log_s[disc], weights=w[disc])
        if not (density_ratio > 1 and slope > 0):
            return 0.0
        return float(min(np.log(density_ratio) / slope, MAX_POWER))

    def fit_powers(
        self,
        qt: np.ndarray,
        weights: np.ndarray | None,
        multiplicity: np.ndarray,
        multiplicities: Sequence[int],
    ) -> dict[int, float]:
        """:math:`a_n` per jet multiplicity, each from that multiplicity's events (zeros when off)."""
        if not self.enabled:
            return dict.fromkeys(multiplicities, 0.0)
        q = np.asarray(qt, dtype=np.float64)
        w = np.ones_like(q) if weights is None else np.asarray(weights, dtype=np.float64)
        k = np.asarray(multiplicity)
        if not (len(q) == len(w) == len(k)):
            raise InputError(f"recoil_dip: {len(q)} p_T values, {len(w)} weights and {len(k)} multiplicities")
        return {n: self.fit_power(q[k == n], w[k == n]) for n in multiplicities}

    def training_weights(self, qt: np.ndarray, power: float) -> np.ndarray:
        """``w(q)`` of the training events (ones when off or at power 0)."""
        q = np.asarray(qt, dtype=np.float64)
        if not self.enabled or power == 0:
            return np.ones_like(q)
        return np.exp(-float(power) * self._log_s(q))

    def generation_weights(self, qt: np.ndarray, power: float) -> np.ndarray:
        """``1/w(q)`` for generated events."""
        return 1.0 / self.training_weights(qt, power)
