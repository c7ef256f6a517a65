"""Resonance coordinates: the Breit–Wigner map and two-body decay angles.

Monte Carlo phase-space generators sample an s-channel resonance of mass m₀ and
width Γ through the Breit–Wigner map (e.g. Byckling & Kajantie, *Particle
Kinematics*, Sec. V.5; the resonance mapping of VEGAS-based integrators such as
MadGraph's and Sherpa's)::

    u = arctan((M² − m₀²) / (m₀ Γ)),    du/dM = 2 M m₀ Γ / ((M² − m₀²)² + m₀² Γ²),

under which a Breit–Wigner line shape is flat, and describe its decay to two
particles by the rest-frame angles of one of them. The phase-space measure
factorises as (two-body phase space, PDG *Kinematics* Eq. 49.12)::

    d³p₁/E₁ · d³p₂/E₂ = (β/2) · d⁴Q · dΩ*,   β = √(1 − 4m²/M²),
    d⁴Q = M dM dY d²Q_T,                      d³p/E = p_T² cosh η / E · dp_T dη dφ,

for two particles of mass ``m``, pair four-momentum ``Q`` of mass ``M``, rapidity
``Y`` and transverse momentum ``Q_T``; :func:`pair_log_jacobian` is the log of the
resulting Jacobian.

**Rest frame.** The decay angles are measured in the pair rest frame reached from
the lab by a pure boost along the pair momentum (no rotation): its axes are
the lab's, so ``cos θ*`` is measured from the beam (z) axis and ``φ*`` from
the lab x axis. Unlike the Collins–Soper frame this frame is smooth in ``Q``
everywhere (Collins–Soper needs the sign of the pair's longitudinal momentum and
an axis along ``Q_T``, both singular somewhere); for ``Q_T = 0`` the two coincide
up to the orientation of the x axis.

Four-vectors here are ``(..., 4)`` float64 arrays ``(E, p_x, p_y, p_z)``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "Z_MASS",
    "Z_WIDTH",
    "breit_wigner_map",
    "breit_wigner_inverse",
    "breit_wigner_log_derivative",
    "massive_four_vector",
    "pair_mass_rapidity",
    "rest_frame_angles",
    "two_body_decay",
    "pair_log_jacobian",
]

#: Z boson mass and width in GeV (PDG 2024).
Z_MASS = 91.1876
Z_WIDTH = 2.4955

#: Smallest |p*| / (M/2) kept at the pair threshold, so angles and logs stay finite there.
_BETA_FLOOR = 1e-12


def breit_wigner_map(mass: np.ndarray, m0: float = Z_MASS, width: float = Z_WIDTH) -> np.ndarray:
    """``u = arctan((M² − m₀²)/(m₀ Γ))`` in ``(−π/2, π/2)``: a Breit–Wigner in ``M`` is flat in ``u``."""
    m = np.asarray(mass, dtype=np.float64)
    return np.arctan((m * m - m0 * m0) / (m0 * width))


def breit_wigner_inverse(
    u: np.ndarray, m0: float = Z_MASS, width: float = Z_WIDTH, minimum: float = 0.0
) -> np.ndarray:
    """``M = √(m₀² + m₀ Γ tan u)``, clamped to at least ``minimum`` (the pair threshold).

    ``u`` is clipped into ``(−π/2, π/2)`` first (``tan`` would wrap around beyond it).
    """
    half = np.nextafter(np.pi / 2, 0.0)
    m2 = m0 * m0 + m0 * width * np.tan(np.clip(np.asarray(u, dtype=np.float64), -half, half))
    return np.sqrt(np.maximum(m2, minimum * minimum))


def breit_wigner_log_derivative(mass: np.ndarray, m0: float = Z_MASS, width: float = Z_WIDTH) -> np.ndarray:
    """``log du/dM = log(2 M m₀ Γ) − log((M² − m₀²)² + m₀² Γ²)``."""
    m = np.asarray(mass, dtype=np.float64)
    return np.log(2 * m * m0 * width) - np.log((m * m - m0 * m0) ** 2 + (m0 * width) ** 2)


def massive_four_vector(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: float) -> np.ndarray:
    """``(E, p_x, p_y, p_z)`` of particles given by ``p_T, η, φ`` and one mass."""
    pt, eta, phi = (np.asarray(a, dtype=np.float64) for a in (pt, eta, phi))
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px * px + py * py + pz * pz + mass * mass)
    return np.stack([energy, px, py, pz], axis=-1)


def pair_mass_rapidity(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Invariant mass ``M`` and rapidity ``Y = ½ log((E + p_z)/(E − p_z))`` of four-vectors ``q``."""
    e, pz = q[..., 0], q[..., 3]
    m2 = e * e - (q[..., 1:] ** 2).sum(axis=-1)
    mt = np.sqrt(np.maximum(e * e - pz * pz, 0.0))
    return np.sqrt(np.maximum(m2, 0.0)), np.arcsinh(pz / np.maximum(mt, 1e-300))


def _boost(p: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Active pure boost of four-vectors ``p`` by velocity ``beta`` (rest frame → frame where it moves with ``beta``).

    ``E' = γ(E + β·p)``, ``p' = p + [(γ − 1)(β·p)/β² + γE] β``; a boost by ``−beta`` undoes it.
    """
    b2 = (beta * beta).sum(axis=-1, keepdims=True)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = (beta * p[..., 1:]).sum(axis=-1, keepdims=True)
    # (γ − 1)/β² = γ²/(γ + 1), finite at β → 0
    factor = gamma * gamma / (gamma + 1.0) * bp + gamma * p[..., :1]
    return np.concatenate([gamma * (p[..., :1] + bp), p[..., 1:] + factor * beta], axis=-1)


def rest_frame_angles(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``cos θ*`` and ``φ* ∈ (−π, π]`` of ``p`` in the rest frame of ``q`` (pure boost, lab axes).

    At the pair threshold (``p`` at rest in that frame) ``cos θ* = 0``, ``φ* = 0``.
    """
    beta = q[..., 1:] / q[..., :1]
    star = _boost(p, -beta)[..., 1:]
    norm = np.sqrt((star * star).sum(axis=-1))
    cos = np.clip(star[..., 2] / np.maximum(norm, 1e-300), -1.0, 1.0)
    return np.where(norm > 0, cos, 0.0), np.arctan2(star[..., 1], star[..., 0])


def two_body_decay(
    q: np.ndarray, mass: float, cos_theta: np.ndarray, phi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Decay four-vectors ``q`` into two particles of ``mass``; the first flies along ``(θ*, φ*)``.

    In the rest frame ``|p*| = (M/2) β``, ``E* = M/2``; both are boosted back with ``β = q⃗/E``.
    Below threshold (``M < 2m``, only through rounding) ``|p*| = 0``.
    """
    m, _ = pair_mass_rapidity(q)
    p_star = 0.5 * m * np.sqrt(np.clip(1.0 - (2 * mass / np.maximum(m, 1e-300)) ** 2, 0.0, 1.0))
    cos = np.clip(np.asarray(cos_theta, dtype=np.float64), -1.0, 1.0)
    sin = np.sqrt(1.0 - cos * cos)
    direction = np.stack([sin * np.cos(phi), sin * np.sin(phi), cos], axis=-1)
    energy = np.sqrt(p_star * p_star + mass * mass)
    first = np.concatenate([energy[..., None], p_star[..., None] * direction], axis=-1)
    first = _boost(first, q[..., 1:] / q[..., :1])
    return first, q - first


def pair_log_jacobian(pt: np.ndarray, eta: np.ndarray, pair_mass: np.ndarray, mass: float) -> np.ndarray:
    """``log |∂(M, Y, Q_x, Q_y, cos θ*, φ*) / ∂(p_T,1, η₁, φ₁, p_T,2, η₂, φ₂)|`` per event.

    From the factorisation in the module docstring::

        J = Π_i p_T,i² cosh η_i / E_i  /  ((β/2) M),

    with ``pt``, ``eta`` of shape ``(N, 2)``. β is floored at 1e-12 at threshold so the
    log stays finite.
    """
    pt, eta = np.asarray(pt, dtype=np.float64), np.asarray(eta, dtype=np.float64)
    energy = np.sqrt((pt * np.cosh(eta)) ** 2 + mass * mass)
    single = (2 * np.log(pt) + np.log(np.cosh(eta)) - np.log(energy)).sum(axis=-1)
    m = np.asarray(pair_mass, dtype=np.float64)
    beta = np.sqrt(np.clip(1.0 - (2 * mass / np.maximum(m, 1e-300)) ** 2, _BETA_FLOOR**2, 1.0))
    return single - np.log(0.5 * beta) - np.log(m)
