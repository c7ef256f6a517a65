r"""The direction of the transverse-momentum balance, factored out with its azimuthal harmonics.

The balance ``B⃗`` (the vector sum of both muons' and all jets' ``p_T``) is minus the ``p_T`` of
everything the event does not reconstruct: radiation outside the jets, jets below threshold,
the underlying event. Its direction is not uniform around the leading jet. Out-of-cone
radiation of a jet leaves the jet with less ``p_T`` than its parton and the unclustered
remainder along it, so ``B⃗`` points *opposite* the jet; the jet threshold selects such jets
near ``p_T = p_T,min``. In the shared Pythia sample (1 jet, measured on ``train_0..2``) the
first harmonic ``a_1 = 2⟨cos ψ⟩`` of the balance angle ``ψ`` (from the direction opposite the
jet) is 0.25–0.50 for ``p_T,j1 < 25`` GeV and ``|B| < 40`` GeV, 0.1 above 25 GeV, and turns
negative (−0.15 to −0.19) for ``|B| > 40`` GeV, where a second, unreconstructed jet sits
opposite the leading one. A flow learns such a modulation of ~10–50 % slowly (its likelihood
gain is ∝ its square); the CPU recipe did not: ``a_1`` came out 0.35 where the sample has 0.50,
and the balance along the jet (χ²/ndf 10–18 against the floor's 1.05 for ``p_T,j1`` in 20–30 GeV)
and the 1-jet ``p_T,μ1`` near its Jacobian peak showed it. With the step: 1.2–2.6 and the
``p_T,μ1`` from 1.4–1.8 to 1.2–1.4 × the floor, and the 1-jet ``p_T`` of the Z from 8.6–13.6 to
1.7–2.3 × (four seeds; ``docs/zjets-inn.md``; in the CPU recipe).

:class:`BalanceHarmonics` measures the Fourier moments of ``ψ`` conditioned on ``|B|`` and the
leading jet's ``p_T``,

    f(ψ | r, p) = (1/2π) [1 + Σ_{k=1,2} a_k(r, p) cos kψ + b_k(r, p) sin kψ],
    a_k = 2⟨cos kψ⟩,  b_k = 2⟨sin kψ⟩,

regressed by weighted least squares on a smooth basis in ``ρ = r/(r + r_0)`` and
``e = exp(−(p − p_min)/p_0)``, ``ℓ = p_min/p`` (and the terms below), and maps the angle through its conditional CDF
(a Rosenblatt transform, as :class:`~evgen.preprocessing.angular.AngularCoefficients` does for
the decay angles; :mod:`evgen.preprocessing.fourier`)::

    ψ' = 2π F(ψ | r, p) − π,

keeping ``|B|``. With two or more jets the basis also holds the harmonics of jet 2's azimuth
``Δφ_2`` to the leading jet: the balance leans towards one side of the event (2 jets, same
sample: ``b_2 = 2⟨sin 2ψ⟩`` of −0.10 and +0.11 on the two sides of the leading jet, where
the recipe's events had −0.03 and +0.03). Two more causes enter the basis: a final-state
photon lost from the muons leaves ``B⃗`` along the jet below the Z peak (1 jet: ``a_1`` −0.19
for ``M_μμ < 80`` GeV after the terms above, +0.05 above the peak), and narrow jets
(``m/p_T < 0.05``, often a photon) have ``a_1`` −0.50; the terms ``s_M = (1 − sin u)/2`` of the
Breit–Wigner variable ``u`` and ``s_m = exp(−m/(0.05 p_T))`` take both to within ±0.1 on
independent events. With ``recoil`` the basis also holds the harmonics of the direction ``ψ_H``
of the jets' vector sum ``H⃗`` (measured as ``ψ``), alone and times ``exp(−|H|/H_0)``: with two
or three jets that nearly cancel (``|H| < 30`` GeV) the balance points away from ``H⃗`` (2 jets:
``2⟨cos(ψ − ψ_H)⟩`` = −0.29 to −0.21 for ``|B|`` in 10–35 GeV; 3 jets: −0.33 to −0.30), which jet
2's azimuth alone does not carry; the recipe's events without the terms had −0.24 to −0.14 and
−0.09 to −0.05, and with ``B⃗ ≈ H⃗`` too often, too many Z bosons at low ``p_T`` (3 jets: +20–100 %
below 16 GeV). With the terms the 3-jet ``p_T,μμ`` went from 1.6–2.3 to 1.5–1.7 × the floor
(four seeds, with :class:`~evgen.preprocessing.ordering.PtOrdering`; ``docs/zjets-inn.md``).
The network then sees a balance angle that is uniform and independent of
``|B|``, ``p_T,j1`` and the rest where the harmonics are right. The map is an exact bijection for any
coefficients: ``r`` and ``p`` are untouched, ``ψ = ±π`` (along the jet, where
:class:`~evgen.preprocessing.steps.LogPolar` cuts) stays fixed, and the area element
``r dr dψ`` gives ``log |det J| = log g(ψ)``, ``g`` the bracket above; coefficients that would make
``g`` negative are shrunk until ``Σ |a_k| + |b_k| ≤ 0.9``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.preprocessing.base import BaseStep, as_matrix, register_step
from evgen.preprocessing.fourier import fit_moments, fourier_cdf_shift, fourier_density, invert_fourier_cdf

__all__ = ["BalanceHarmonics", "balance_angle", "jet_sum"]

#: Largest ``Σ |a_k| + |b_k|`` the map uses: ``g ≥ 0.1`` everywhere.
_MAX_MODULATION = 0.9


def jet_sum(x: np.ndarray, jet_pt: int, further: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """``H⃗ = p_T,j1 x̂ + Σ_k p_T,k (cos Δφ_k, sin Δφ_k)`` in the balance's frame (``x̂`` along
    the leading jet; ``further``: ``[p_T, Δφ]`` columns of jets 2, 3, … in GeV and radians)."""
    hx = np.array(x[:, jet_pt], dtype=np.float64)
    hy = np.zeros_like(hx)
    for pt, dphi in further:
        hx += x[:, pt] * np.cos(x[:, dphi])
        hy += x[:, pt] * np.sin(x[:, dphi])
    return hx, hy


def balance_angle(par: np.ndarray, perp: np.ndarray) -> np.ndarray:
    """``ψ ∈ (−π, π]``: the balance's azimuth from the direction opposite the leading jet."""
    return np.mod(np.arctan2(perp, par), 2 * np.pi) - np.pi


def _safe(c: np.ndarray) -> np.ndarray:
    """Harmonics ``(a_1, b_1, a_2, b_2)`` per row, shrunk so that ``g > 0``."""
    total = np.abs(c).sum(axis=1)
    return c * np.minimum(1.0, _MAX_MODULATION / np.maximum(total, 1e-300))[:, None]


def _fourier_terms(c: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(base, a_1, b_1, a_2, b_2)`` of :mod:`evgen.preprocessing.fourier` (``base = 1``)."""
    return (np.ones(len(c)), c[:, 0], c[:, 1], c[:, 2], c[:, 3])


@register_step
class BalanceHarmonics(BaseStep):
    """``ψ → 2πF(ψ | |B|, p_T,j1, …) − π`` on the balance direction, ``|B|`` kept.

    Parameters
    ----------
    balance
        The two columns of the balance (GeV): along and across the leading jet.
    jet_pt
        The leading jet's ``p_T`` column (GeV), untransformed.
    dimuon_bw, jet_mass
        The Breit–Wigner-mapped dimuon mass ``u`` and the leading jet's mass (GeV), or ``-1``:
        ``s_M = (1 − sin u)/2`` (1 far below the Z peak, where final-state photons are lost) and
        ``s_m = exp(−m/(0.05 p_T))`` (narrow jets), with their squares, join the terms.
    jet_dphi
        The second jet's ``Δφ`` to the leading one (radians), or ``-1`` (one jet): its
        harmonics ``cos kΔφ, sin kΔφ`` (``k = 1, 2``) join the basis, so the balance may lean
        towards the side of jet 2.
    recoil
        ``[p_T, Δφ]`` column pairs (GeV, radians to the leading jet) of the further jets, or
        none: ``H⃗ = p_T,j1 x̂ + Σ_k p_T,k (cos Δφ_k, sin Δφ_k)``, and ``cos kψ_H, sin kψ_H``
        (``k = 1, 2``), alone and times ``exp(−|H|/H_0)``, join the basis.
    recoil_scale
        ``H_0`` (GeV).
    radius_scale
        ``r_0`` (GeV) of ``ρ = r/(r + r_0)``.
    pt_scale
        ``p_0`` (GeV) of ``e = exp(−(p − p_min)/p_0)``; ``p_min`` is the smallest ``p_T,j1`` fitted.
    degree
        Polynomial degree in ``ρ``; the basis is ``ρ^i × (1, e, e², ℓ[, s_M, s_M², s_m, s_m²][, cos Δφ,
        sin Δφ, cos 2Δφ, sin 2Δφ][, the recoil terms])``, ``i ≤ degree``.
    """

    kind = "balance-harmonics"
    fitted_arrays = ("coefficients", "pt_min")

    def __init__(
        self,
        balance: Sequence[int],
        jet_pt: int,
        jet_dphi: int = -1,
        dimuon_bw: int = -1,
        jet_mass: int = -1,
        recoil: Sequence[Sequence[int]] = (),
        recoil_scale: float = 30.0,
        radius_scale: float = 15.0,
        pt_scale: float = 8.0,
        degree: int = 5,
    ) -> None:
        if len(balance) != 2:
            raise ConfigError(f"{self.kind}: balance needs its two columns; got {list(balance)}")
        if not (radius_scale > 0 and pt_scale > 0):
            raise ConfigError(
                f"{self.kind}: radius_scale and pt_scale must be positive (GeV); got {radius_scale!r}, {pt_scale!r}"
            )
        if any(len(pair) != 2 for pair in recoil):
            raise ConfigError(f"{self.kind}: recoil needs [p_T, Δφ] column pairs; got {list(recoil)}")
        if not recoil_scale > 0:
            raise ConfigError(f"{self.kind}: recoil_scale must be positive (GeV); got {recoil_scale!r}")
        if int(degree) < 0:
            raise ConfigError(f"{self.kind}: degree must be ≥ 0; got {degree!r}")
        self.balance = [int(c) for c in balance]
        self.jet_pt = int(jet_pt)
        self.jet_dphi = int(jet_dphi)
        self.dimuon_bw = int(dimuon_bw)
        self.jet_mass = int(jet_mass)
        self.recoil = [[int(c) for c in pair] for pair in recoil]
        self.recoil_scale = float(recoil_scale)
        self.radius_scale = float(radius_scale)
        self.pt_scale = float(pt_scale)
        self.degree = int(degree)
        self.coefficients: np.ndarray | None = None  # (4, n_basis): a_1, b_1, a_2, b_2
        self.pt_min: np.ndarray | None = None  # (1,)

    @classmethod
    def for_features(cls, features: Any, recoil: bool = False) -> BalanceHarmonics:
        """The step for a :class:`~evgen.preprocessing.zjets_physics.ZJetsPhysicsFeatures` layout;
        ``recoil``: with the terms of the jets' vector sum (two or more jets)."""
        names = list(features.names)
        further = [k for k in (2, 3, 4, 5) if f"j{k}_pt" in names]
        pairs = [[names.index(f"j{k}_pt"), names.index(f"j{k}_dphi")] for k in further] if recoil else []
        return cls(
            recoil=pairs,
            balance=[names.index("balance_par"), names.index("balance_perp")],
            jet_pt=names.index("j1_pt"),
            jet_dphi=names.index("j2_dphi") if "j2_dphi" in names else -1,
            dimuon_bw=names.index("m_bw"),
            jet_mass=names.index("j1_mass"),
        )

    def params(self) -> dict[str, Any]:
        return {
            "balance": self.balance,
            "jet_pt": self.jet_pt,
            "jet_dphi": self.jet_dphi,
            "dimuon_bw": self.dimuon_bw,
            "jet_mass": self.jet_mass,
            "recoil": self.recoil,
            "recoil_scale": self.recoil_scale,
            "radius_scale": self.radius_scale,
            "pt_scale": self.pt_scale,
            "degree": self.degree,
        }

    # -- the conditioning -------------------------------------------------------------
    def basis(self, x: np.ndarray, pt_min: float | None = None) -> np.ndarray:
        """``(N, k·(degree + 1))``: ``ρ^i`` times each of the ``k`` terms (``1, e, e², ℓ``, then
        those of the optional columns; see the class docstring)."""
        if pt_min is None:
            self._check_fitted()
            pt_min = float(self.pt_min[0])
        r = np.hypot(x[:, self.balance[0]], x[:, self.balance[1]])
        rho = r / (r + self.radius_scale)
        p = np.maximum(x[:, self.jet_pt], 1e-12)
        e = np.exp(-np.maximum(p - pt_min, 0.0) / self.pt_scale)
        pt_terms = [np.ones_like(p), e, e * e, np.minimum(pt_min / p, 1.0)]
        if self.dimuon_bw >= 0:
            below = 0.5 * (1.0 - np.sin(x[:, self.dimuon_bw]))
            pt_terms += [below, below * below]
        if self.jet_mass >= 0:
            narrow = np.exp(-np.maximum(x[:, self.jet_mass], 0.0) / (0.05 * p))
            pt_terms += [narrow, narrow * narrow]
        if self.jet_dphi >= 0:
            d = x[:, self.jet_dphi]
            pt_terms += [np.cos(d), np.sin(d), np.cos(2 * d), np.sin(2 * d)]
        if self.recoil:
            pt_terms += self._recoil_terms(x)
        return np.stack([rho**i * t for i in range(self.degree + 1) for t in pt_terms], axis=1)

    def _recoil_terms(self, x: np.ndarray) -> list[np.ndarray]:
        """``cos kψ_H, sin kψ_H`` (``k = 1, 2``) of the jets' vector sum, alone and times ``exp(−|H|/H_0)``."""
        hx, hy = jet_sum(x, self.jet_pt, self.recoil)
        psi = balance_angle(hx, hy)
        harmonics = [np.cos(psi), np.sin(psi), np.cos(2 * psi), np.sin(2 * psi)]
        soft = np.exp(-np.hypot(hx, hy) / self.recoil_scale)
        return harmonics + [soft * h for h in harmonics]

    def harmonics(self, x: np.ndarray) -> np.ndarray:
        """``(a_1, b_1, a_2, b_2)`` per row, ``(N, 4)``, as the map uses them."""
        self._check_fitted()
        return _safe(self.basis(x) @ self.coefficients.T)

    # -- fit and map ------------------------------------------------------------------
    def fit(self, x: np.ndarray, weights: np.ndarray | None = None) -> BalanceHarmonics:
        x = as_matrix(x)
        self._check_columns(x)
        pt_min = float(x[:, self.jet_pt].min()) if len(x) else 0.0
        b = self.basis(x, pt_min)
        if len(x) < 10 * b.shape[1]:
            raise InputError(f"{self.kind}: need at least {10 * b.shape[1]} rows to fit; got {len(x)}")
        psi = balance_angle(x[:, self.balance[0]], x[:, self.balance[1]])
        moments = 2.0 * np.stack([np.cos(psi), np.sin(psi), np.cos(2 * psi), np.sin(2 * psi)], axis=1)
        self.coefficients = fit_moments(b, moments, weights)
        self.pt_min = np.array([pt_min])
        return self

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = as_matrix(x)
        self._check_columns(y)
        i, j = self.balance
        c = self.harmonics(y)
        r = np.hypot(y[:, i], y[:, j])
        psi = balance_angle(y[:, i], y[:, j])
        terms = _fourier_terms(c)
        g = fourier_density(psi, terms)
        mapped = psi + fourier_cdf_shift(psi, terms)
        y[:, i] = -r * np.cos(mapped)
        y[:, j] = -r * np.sin(mapped)
        return y, np.log(g)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        x = as_matrix(y)
        self._check_columns(x)
        i, j = self.balance
        c = self.harmonics(x)  # |B| and p_T,j1 are what the forward map saw
        r = np.hypot(x[:, i], x[:, j])
        terms = _fourier_terms(c)
        mapped = balance_angle(x[:, i], x[:, j])
        psi = invert_fourier_cdf(mapped, terms)
        x[:, i] = -r * np.cos(psi)
        x[:, j] = -r * np.sin(psi)
        return x

    def _check_columns(self, x: np.ndarray) -> None:
        last = max(
            *self.balance, self.jet_pt, self.jet_dphi, self.dimuon_bw, self.jet_mass, *sum(self.recoil, [])
        )
        if last >= x.shape[1]:
            raise InputError(f"{self.kind}: column {last} does not exist in a {x.shape[1]}-column matrix")
