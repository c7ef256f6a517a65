r"""The decay-angle distribution of Z/γ* → ℓℓ factored out with its angular coefficients.

The lepton angles ``(θ*, φ*)`` in the dilepton rest frame (Collins–Soper by default)
follow, at any order in QCD and for the full lepton phase space, a sum of the nine
spherical harmonics of order ≤ 2 (Mirkes, Nucl. Phys. B387 (1992) 3; ATLAS, JHEP 08 (2016)
159, Eq. 1)::

    dσ/dΩ ∝ (1 + c²) + A0/2 (1 − 3c²) + A1 sin2θ cosφ + A2/2 sin²θ cos2φ + A3 sinθ cosφ
            + A4 c + A5 sin²θ sin2φ + A6 sin2θ sinφ + A7 sinθ sinφ,        c = cos θ*

(a rotation of the rest-frame axes, e.g. another ``decay_frame``, mixes harmonics of the same
order, so the form holds in every rest frame, with other coefficients), with coefficients
``A_i(q_T, y)`` that depend on the dilepton's transverse momentum and
rapidity: at ``q_T → 0`` the distribution is ``1 + c²``, and ``A_0 ≈ A_2`` grow like
``q_T²/(M² + q_T²)`` (Lam–Tung). A flow that sees ``(cos θ*, φ*)`` has to learn this
``q_T`` dependence, a modulation of ~10 % whose likelihood gain is ∝ its square; the CPU
recipe did not (measured ``⟨sin²θ cos2φ⟩`` flat in ``q_T`` where the sample's rises 5×),
and it showed as the 1-jet ``p_T,μ2`` around the Jacobian edge.

:class:`AngularCoefficients` measures each ``A_i`` on the training sample by its moment,
``A_i = ⟨h_i⟩`` with ``h_0 = 4 − 10c²``, ``h_1 = 5 sin2θ cosφ``, ``h_2 = 10 sin²θ cos2φ``,
``h_3 = 4 sinθ cosφ``, ``h_4 = 4c``, ``h_5 = 5 sin²θ sin2φ``, ``h_6 = 5 sin2θ sinφ``,
``h_7 = 4 sinθ sinφ`` (ATLAS Eq. 4), as functions linear in a smooth basis of
``t = q_T²/(q_T² + m_Z²)`` and ``v = y²/(1 + y²)``. The moments are unbiased only over the full
lepton phase space; the muons' acceptance cuts part of it away, and there the moments' ``A_2``
came out 0.1 too large at ``q_T`` = 50–100 GeV (1 jet), a residual ``⟨cos 2φ'⟩ ≈ −0.012`` the
network did not learn. So by default (``fit = "likelihood"``) the coefficients maximise the
likelihood of the sample under ``g`` (:func:`~evgen.preprocessing.linear_likelihood.fit_linear_density`,
the criterion the flow is trained with; the residual falls to ``|⟨cos 2φ'⟩| ≲ 0.002``);
``fit = "moments"`` regresses the moments by weighted least squares, as runs before this
option did. It then maps the angles through the
conditional CDFs of that distribution (a Rosenblatt transform)::

    c' = 2 F(c | q_T, y) − 1,      φ' = 2π F(φ | c, q_T, y) − π,

so the network sees angles that are uniform and independent of ``q_T`` where the
coefficients are right, and has to learn only what they miss. The map is an exact
bijection for any coefficients (its ``log |det J| = log(3/4) + log g(c, φ)``, ``g`` the
bracket above), because ``q_T`` and ``y`` come from columns it leaves alone; coefficients
that would make ``g`` negative are shrunk towards ``1 + c²`` until ``g > 0``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.preprocessing.base import BaseStep, as_matrix, register_step
from evgen.preprocessing.fourier import (
    bisect_increasing,
    fit_moments,
    fourier_cdf_shift,
    fourier_density,
    invert_fourier_cdf,
)
from evgen.preprocessing.linear_likelihood import fit_linear_density

__all__ = ["AngularCoefficients", "harmonic_moments", "harmonic_terms", "angular_density"]

#: How the coefficients are fitted (module docstring).
FIT_METHODS = ("likelihood", "moments")

#: Z mass in GeV that sets the ``q_T`` scale of the basis.
M_Z = 91.1876


def harmonic_moments(cos_theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """``h_i(θ, φ)``, ``(N, 8)``, whose expectation is the angular coefficient ``A_i``."""
    c = np.asarray(cos_theta, dtype=np.float64)
    s = np.sqrt(np.clip(1.0 - c * c, 0.0, None))
    phi = np.asarray(phi, dtype=np.float64)
    s2 = 2.0 * s * c  # sin 2θ
    return np.stack(
        [
            4.0 - 10.0 * c * c,
            5.0 * s2 * np.cos(phi),
            10.0 * s * s * np.cos(2 * phi),
            4.0 * s * np.cos(phi),
            4.0 * c,
            5.0 * s * s * np.sin(2 * phi),
            5.0 * s2 * np.sin(phi),
            4.0 * s * np.sin(phi),
        ],
        axis=1,
    )


def harmonic_terms(cos_theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """``f_i(θ, φ)``, ``(N, 8)``, with ``g = (1 + c²) + Σ_i A_i f_i``: the bracket of the module
    docstring term by term (each integrates to zero over the sphere)."""
    c = np.asarray(cos_theta, dtype=np.float64)
    s = np.sqrt(np.clip(1.0 - c * c, 0.0, None))
    phi = np.asarray(phi, dtype=np.float64)
    s2 = 2.0 * s * c  # sin 2θ
    return np.stack(
        [
            0.5 * (1.0 - 3.0 * c * c),
            s2 * np.cos(phi),
            0.5 * s * s * np.cos(2 * phi),
            s * np.cos(phi),
            c,
            s * s * np.sin(2 * phi),
            s2 * np.sin(phi),
            s * np.sin(phi),
        ],
        axis=1,
    )


def _terms(c: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, ...]:
    """``base(c)`` and the Fourier amplitudes ``a1, b1, a2, b2`` of ``g`` in ``φ`` (``a``: ``(N, 8)``)."""
    s = np.sqrt(np.clip(1.0 - c * c, 0.0, None))
    s2 = 2.0 * s * c
    base = _base_cos(c, a)
    a1 = a[:, 1] * s2 + a[:, 3] * s
    b1 = a[:, 6] * s2 + a[:, 7] * s
    a2 = 0.5 * a[:, 2] * s * s
    b2 = a[:, 5] * s * s
    return base, a1, b1, a2, b2


def angular_density(cos_theta: np.ndarray, phi: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """``dσ/dΩ`` normalised over ``c ∈ [−1, 1]``, ``φ ∈ (−π, π]``: ``3/(16π) · g(c, φ)``."""
    c = np.asarray(cos_theta, dtype=np.float64)
    base, a1, b1, a2, b2 = _terms(c, np.atleast_2d(coefficients))
    g = base + a1 * np.cos(phi) + b1 * np.sin(phi) + a2 * np.cos(2 * phi) + b2 * np.sin(2 * phi)
    return 3.0 / (16.0 * np.pi) * g


def _safe(a: np.ndarray) -> np.ndarray:
    """Coefficients for which ``g > 0`` everywhere: ``A_0`` clipped to ``[−1.8, 1.8]``, the rest
    shrunk until their largest possible sum is at most 0.9 of the smallest ``1 + c² + A_0/2 (1 − 3c²)``."""
    a = np.array(a, dtype=np.float64)
    a[:, 0] = np.clip(a[:, 0], -1.8, 1.8)
    floor = np.minimum(1.0 + 0.5 * a[:, 0], 2.0 - a[:, 0])
    rest = np.abs(a[:, [1, 3, 4, 5, 6, 7]]).sum(axis=1) + 0.5 * np.abs(a[:, 2])
    shrink = np.minimum(1.0, 0.9 * floor / np.maximum(rest, 1e-300))
    a[:, 1:] *= shrink[:, None]
    return a


def _base_cos(c: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``base(c) = (1 + A0/2) + A4 c + (1 − 3A0/2) c²``, the ``φ``-averaged density (× 8/3)."""
    return 1.0 + 0.5 * a[:, 0] + a[:, 4] * c + (1.0 - 1.5 * a[:, 0]) * c * c


def _cdf_cos(c: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``F(c) = (3/8) ∫_{-1}^{c} base``: ``base = (1 + A0/2) + A4 c + (1 − 3A0/2) c²``."""
    k0 = 1.0 + 0.5 * a[:, 0]
    k2 = 1.0 - 1.5 * a[:, 0]
    return 0.375 * (k0 * (c + 1.0) + 0.5 * a[:, 4] * (c * c - 1.0) + k2 * (c**3 + 1.0) / 3.0)


@register_step
class AngularCoefficients(BaseStep):
    """``(cos θ*, φ*) → (2F(c) − 1, 2πF(φ|c) − π)`` with ``A_0…A_7`` fitted as functions of ``q_T, y``.

    Parameters
    ----------
    cos_theta, phi
        Columns of ``cos θ*`` and ``φ*`` (radians, in ``(−π, π]``).
    rapidity
        Column of the dilepton rapidity ``y``.
    balance
        The two columns of the transverse-momentum balance ``B`` (GeV, along and across the
        leading jet): the vector sum of both leptons' and all jets' ``p_T``.
    jet_pt, jet_dphi
        Each jet's ``p_T`` column and its ``Δφ`` to the leading jet (``-1``: the leading jet,
        ``Δφ = 0``). ``q⃗_T = B⃗ − Σ_k p⃗_T,k``.
    degree
        Polynomial degree in ``t = q_T²/(q_T² + m_Z²)`` of each coefficient (plus ``v`` and
        ``v·t``, ``v = y²/(1 + y²)``).
    fit
        ``"likelihood"`` (maximum likelihood of the sample under ``g``) or ``"moments"`` (least
        squares of the moments ``h_i``; a saved step without this parameter was fitted so).
    """

    kind = "angular-coefficients"
    fitted_arrays = ("coefficients",)

    def __init__(
        self,
        cos_theta: int,
        phi: int,
        rapidity: int,
        balance: Sequence[int],
        jet_pt: Sequence[int],
        jet_dphi: Sequence[int],
        degree: int = 2,
        fit: str = "likelihood",
    ) -> None:
        if fit not in FIT_METHODS:
            raise ConfigError(f"{self.kind}: fit must be one of {list(FIT_METHODS)}; got {fit!r}")
        if len(balance) != 2:
            raise ConfigError(f"{self.kind}: balance needs its two columns; got {list(balance)}")
        if len(jet_pt) != len(jet_dphi) or not jet_pt:
            raise ConfigError(
                f"{self.kind}: one Δφ column (or -1) per jet p_T column; got {jet_pt}, {jet_dphi}"
            )
        if int(degree) < 0:
            raise ConfigError(f"{self.kind}: degree must be ≥ 0; got {degree!r}")
        self.cos_theta, self.phi, self.rapidity = int(cos_theta), int(phi), int(rapidity)
        self.balance = [int(c) for c in balance]
        self.jet_pt = [int(c) for c in jet_pt]
        self.jet_dphi = [int(c) for c in jet_dphi]
        self.degree = int(degree)
        self.fit_method = fit
        self.coefficients: np.ndarray | None = None  # (8, n_basis)

    @classmethod
    def for_features(cls, features: Any, degree: int = 2, fit: str = "likelihood") -> AngularCoefficients:
        """The step for a :class:`~evgen.preprocessing.zjets_physics.ZJetsPhysicsFeatures` layout."""
        names = list(features.names)
        n = features.n_jets
        return cls(
            cos_theta=names.index("cos_theta"),
            phi=names.index("phi_star"),
            rapidity=names.index("y_mumu"),
            balance=[names.index("balance_par"), names.index("balance_perp")],
            jet_pt=[names.index(f"j{k}_pt") for k in range(1, n + 1)],
            jet_dphi=[-1] + [names.index(f"j{k}_dphi") for k in range(2, n + 1)],
            degree=degree,
            fit=fit,
        )

    @classmethod
    def from_state(cls, params: Any, arrays: Any) -> AngularCoefficients:
        """A step saved before ``fit`` was a parameter was fitted by its moments."""
        return super().from_state({"fit": "moments", **params}, arrays)

    def params(self) -> dict[str, Any]:
        return {
            "cos_theta": self.cos_theta,
            "phi": self.phi,
            "rapidity": self.rapidity,
            "balance": self.balance,
            "jet_pt": self.jet_pt,
            "jet_dphi": self.jet_dphi,
            "degree": self.degree,
            "fit": self.fit_method,
        }

    # -- the conditioning -------------------------------------------------------------
    def dilepton_qt(self, x: np.ndarray) -> np.ndarray:
        """``|q⃗_T| = |B⃗ − Σ_k p⃗_T,k|`` from the balance and the jets (leading jet along x)."""
        qx = x[:, self.balance[0]].copy()
        qy = x[:, self.balance[1]].copy()
        for pt, dphi in zip(self.jet_pt, self.jet_dphi, strict=True):
            angle = 0.0 if dphi < 0 else x[:, dphi]
            qx -= x[:, pt] * np.cos(angle)
            qy -= x[:, pt] * np.sin(angle)
        return np.hypot(qx, qy)

    def basis(self, x: np.ndarray) -> np.ndarray:
        """``(N, degree + 3)``: ``1, t, …, t^degree, v, v·t``."""
        q = self.dilepton_qt(x)
        t = q * q / (q * q + M_Z * M_Z)
        y = x[:, self.rapidity]
        v = y * y / (1.0 + y * y)
        return np.stack([t**k for k in range(self.degree + 1)] + [v, v * t], axis=1)

    def angular_coefficients(self, x: np.ndarray) -> np.ndarray:
        """``A_0…A_7`` per row, ``(N, 8)``, as the map uses them (made positive by :func:`_safe`)."""
        self._check_fitted()
        return _safe(self.basis(x) @ self.coefficients.T)

    # -- fit and map ------------------------------------------------------------------
    def fit(self, x: np.ndarray, weights: np.ndarray | None = None) -> AngularCoefficients:
        x = as_matrix(x)
        self._check_columns(x)
        b = self.basis(x)
        if len(x) < 10 * b.shape[1]:
            raise InputError(f"{self.kind}: need at least {10 * b.shape[1]} rows to fit; got {len(x)}")
        c, phi = x[:, self.cos_theta], x[:, self.phi]
        if self.fit_method == "moments":
            self.coefficients = fit_moments(b, harmonic_moments(c, phi), weights)  # (8, n_basis)
        else:
            c = np.clip(c, -1.0, 1.0)
            self.coefficients = fit_linear_density(1.0 + c * c, harmonic_terms(c, phi), b, weights)
        return self

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = as_matrix(x)
        self._check_columns(y)
        a = self.angular_coefficients(y)
        c = np.clip(y[:, self.cos_theta], -1.0, 1.0)
        phi = y[:, self.phi]
        terms = _terms(c, a)
        g = terms[0] * fourier_density(phi, terms)  # base · (the φ density × 2π)
        y[:, self.cos_theta] = 2.0 * _cdf_cos(c, a) - 1.0
        y[:, self.phi] = phi + fourier_cdf_shift(phi, terms)
        return y, np.log(0.75) + np.log(g)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        x = as_matrix(y)
        self._check_columns(x)
        a = self.angular_coefficients(x)
        target = 0.5 * (np.clip(x[:, self.cos_theta], -1.0, 1.0) + 1.0)
        c = bisect_increasing(
            lambda cc: _cdf_cos(cc, a), target, -1.0, 1.0, derivative=lambda cc: 0.375 * _base_cos(cc, a)
        )
        terms = _terms(c, a)
        phi_mapped = np.clip(x[:, self.phi], -np.pi, np.pi)
        phi = invert_fourier_cdf(phi_mapped, terms)
        x[:, self.cos_theta] = c
        x[:, self.phi] = phi
        return x

    def _check_columns(self, x: np.ndarray) -> None:
        cols = [self.cos_theta, self.phi, self.rapidity, *self.balance, *self.jet_pt]
        cols += [c for c in self.jet_dphi if c >= 0]
        if max(cols) >= x.shape[1]:
            raise InputError(
                f"{self.kind}: column {max(cols)} does not exist in a {x.shape[1]}-column matrix"
            )
