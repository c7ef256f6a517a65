"""Importance weights that smooth a generator cut on the dimuon mass (the magic transform's trick).

Z+jets samples are generated with a cut on the mass of the Z/γ* before final-state
radiation (Pythia's ``23:mMin``; 50 GeV in evgen's samples). After radiation the dimuon
mass has a tail below the cut, so its density *jumps* at the cut (by ≈ 3.3 at 50 GeV in
the shared sample, pooled over the jet multiplicities). A flow cannot represent a jump; it
smooths it and loses events just above the cut. As the magic transformation does for the
ΔR_jj hole (Eq. 8–9 of *Precision Enthusiasts*), training events below the threshold
``M_c`` get the weight

    w(M) = r  for M < M_c,   1 otherwise,

with ``r`` the density ratio just above / just below the cut, measured on the training
sample; the weighted density is continuous, the network learns it, and generated events
carry ``1/w(M)``, which restores the jump exactly in expectation. The per-multiplicity
normalisation of the generation weights is the generator's (as for Eq. 9).

A generator conditioned on the jet multiplicity learns each multiplicity's density on its
own, so the weighted density must be continuous in each: ``r`` is measured per multiplicity
(:meth:`MassStep.fit_ratios`). The jump differs a lot between them: 5.4, 1.9 and 1.6 for 1,
2 and 3 jets in the shared sample, 3.3 pooled (radiation that pulls the dimuon mass below
the cut is often what makes a further jet). With the pooled ratio the 3-jet weighted density
still jumped *up* by 2.1 below the cut; the network smoothed it and put a 3–5σ excess into
the 52–54 GeV bin of most 3-jet samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evgen.errors import ConfigError, InputError

__all__ = ["MassStep", "MIN_WINDOW_EVENTS"]

#: Events a multiplicity needs in each window to get its own ratio (else the pooled one).
MIN_WINDOW_EVENTS = 20


@dataclass(frozen=True)
class MassStep:
    """The ``[mass_step]`` options: where the generator cut is and how its ratio is measured.

    Parameters
    ----------
    threshold
        The cut in GeV (``None``: no step weights).
    window
        Width in GeV of the two windows on either side of the cut that measure the ratio.
    by_multiplicity
        Measure the ratio per jet multiplicity (:meth:`fit_ratios`); ``False``: one pooled
        ratio for all (as runs before the option existed).
    """

    threshold: float | None = None
    window: float = 2.0
    by_multiplicity: bool = True

    def __post_init__(self) -> None:
        if self.threshold is not None and not self.threshold > 0:
            raise ConfigError(f"mass_step.threshold = {self.threshold!r}: must be a positive mass in GeV")
        if not self.window > 0:
            raise ConfigError(f"mass_step.window = {self.window!r}: must be positive (GeV)")

    @property
    def enabled(self) -> bool:
        return self.threshold is not None

    def fit_ratio(self, mass: np.ndarray, weights: np.ndarray | None = None) -> float:
        """``r`` = weighted events in ``[M_c, M_c + window)`` / in ``[M_c − window, M_c)``; 1 when off.

        Fails when either window is empty (the threshold is not where the sample has a cut).
        A ratio from few events is noisy but not wrong: any ``r > 0`` gives unbiased generated
        events (``w`` and ``1/w`` are importance weights); ``r`` only decides how smooth the
        density the network learns is.
        """
        if not self.enabled:
            return 1.0
        m = np.asarray(mass, dtype=np.float64)
        w = np.ones_like(m) if weights is None else np.asarray(weights, dtype=np.float64)
        t, d = float(self.threshold), self.window
        is_above, is_below = self._windows(m)
        above, below = w[is_above].sum(), w[is_below].sum()
        if not (above > 0 and below > 0):
            raise InputError(
                f"mass_step.threshold = {t} GeV: the training sample has {above:.0f} (weighted) events in "
                f"[{t}, {t + d}) and {below:.0f} in [{t - d}, {t}) GeV; the step weights need both. "
                "Set it to the sample's generator cut on the dimuon mass, or remove [mass_step]"
            )
        return float(above / below)

    def fit_ratios(
        self,
        mass: np.ndarray,
        weights: np.ndarray | None,
        multiplicity: np.ndarray,
        multiplicities: Sequence[int],
    ) -> dict[int, float]:
        """``r`` per multiplicity (``by_multiplicity``), each from that multiplicity's events.

        A multiplicity with fewer than :data:`MIN_WINDOW_EVENTS` events in either window takes
        the pooled ratio (its own would be noise; any ``r > 0`` stays unbiased). All ones when off.
        """
        if not self.enabled:
            return dict.fromkeys(multiplicities, 1.0)
        m = np.asarray(mass, dtype=np.float64)
        w = np.ones_like(m) if weights is None else np.asarray(weights, dtype=np.float64)
        k = np.asarray(multiplicity)
        if not (len(w) == len(m) == len(k)):
            raise InputError(f"mass_step: {len(m)} masses, {len(w)} weights and {len(k)} multiplicities")
        pooled = self.fit_ratio(m, w)
        if not self.by_multiplicity:
            return dict.fromkeys(multiplicities, pooled)
        out = {}
        for n in multiplicities:
            mn = m[k == n]
            counts = [int(inside.sum()) for inside in self._windows(mn)]
            out[n] = self.fit_ratio(mn, w[k == n]) if min(counts) >= MIN_WINDOW_EVENTS else pooled
        return out

    def _windows(self, mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Masks of ``[M_c, M_c + window)`` and ``[M_c − window, M_c)``."""
        t, d = float(self.threshold), self.window
        return (mass >= t) & (mass < t + d), (mass >= t - d) & (mass < t)

    def training_weights(self, mass: np.ndarray, ratio: float) -> np.ndarray:
        """``w(M)``: ``ratio`` below the threshold, 1 above (ones when off)."""
        m = np.asarray(mass, dtype=np.float64)
        if not self.enabled:
            return np.ones_like(m)
        return np.where(m < float(self.threshold), float(ratio), 1.0)

    def generation_weights(self, mass: np.ndarray, ratio: float) -> np.ndarray:
        """``1/w(M)`` for generated events."""
        return 1.0 / self.training_weights(mass, ratio)
