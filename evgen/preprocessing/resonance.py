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

**Rest frames** (``frame``). The decay angles are those of one daughter in the pair rest frame:

* ``"collins-soper"`` (default): reached by a boost along the beam to zero longitudinal
  momentum, then a boost along ``Q_T`` to rest. Its z axis is the Collins–Soper axis, the
  bisector of the beam and minus the other beam (Collins & Soper, Phys. Rev. D 16 (1977)
  2219), so ``cos θ* = 2(p₁⁺p₂⁻ − p₁⁻p₂⁺)/(M √(M² + Q_T²))`` with ``p± = (E ± p_z)/√2``;
  unlike the usual convention the axis does not flip with the sign of the pair's ``p_z``
  (beam 1 is +z), so the map is continuous in ``Y``. ``φ*`` is measured from ``Q_T``, the
  Collins–Soper x axis (from the lab x axis at ``Q_T = 0``). In this frame the Drell–Yan
  angular distribution is ``1 + cos²θ`` plus small terms (``A₀…A₄``) that vary slowly with
  ``Q_T`` and ``Y``: it is nearly independent of the pair's motion.
* ``"collins-soper-lab"``: the same boosts, ``φ*`` from the lab x axis.
* ``"boost"``: a pure boost along the pair momentum, lab axes (the first physics runs).
  Its polar axis is the Collins–Soper axis rotated by a Wigner rotation that grows with
  ``Q_T`` and ``Y``, so the angular distribution changes with the pair's motion.

For ``Q_T = 0`` all three coincide up to the orientation of the x axis. The rest frame is
a rotation that depends on ``Q`` only, so the phase-space Jacobian below is the same for all.

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
    "DECAY_FRAMES",
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


#: The decay frames: ``"collins-soper"`` (default) and ``"boost"`` (the first physics runs).
DECAY_FRAMES = ("collins-soper", "collins-soper-lab", "boost")


def _check_frame(frame: str) -> None:
    if frame not in DECAY_FRAMES:
        raise ValueError(f"decay frame must be one of {list(DECAY_FRAMES)}; got {frame!r}")


def _collins_soper_velocities(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two boosts of the Collins–Soper frames: along the beam to zero ``p_z``, then along ``Q_T`` to rest."""
    zeros = np.zeros_like(q[..., :1])
    longitudinal = np.concatenate([zeros, zeros, q[..., 3:] / q[..., :1]], axis=-1)
    mt = np.sqrt(np.maximum(q[..., :1] ** 2 - q[..., 3:] ** 2, 1e-300))
    transverse = np.concatenate([q[..., 1:3] / mt, zeros], axis=-1)
    return longitudinal, transverse


def _to_rest(p: np.ndarray, q: np.ndarray, frame: str) -> np.ndarray:
    """``p`` in the rest frame of ``q`` (``frame``: module docstring)."""
    if frame == "boost":
        return _boost(p, -q[..., 1:] / q[..., :1])
    longitudinal, transverse = _collins_soper_velocities(q)
    return _boost(_boost(p, -longitudinal), -transverse)


def _from_rest(p: np.ndarray, q: np.ndarray, frame: str) -> np.ndarray:
    """Inverse of :func:`_to_rest`."""
    if frame == "boost":
        return _boost(p, q[..., 1:] / q[..., :1])
    longitudinal, transverse = _collins_soper_velocities(q)
    return _boost(_boost(p, transverse), longitudinal)


def rest_frame_angles(
    p: np.ndarray, q: np.ndarray, frame: str = "collins-soper"
) -> tuple[np.ndarray, np.ndarray]:
    """``cos θ*`` and ``φ* ∈ (−π, π]`` of ``p`` in the rest frame of ``q`` (``frame``: module docstring).

    At the pair threshold (``p`` at rest in that frame) ``cos θ* = 0``, ``φ* = 0``.
    """
    _check_frame(frame)
    star = _to_rest(p, q, frame)[..., 1:]
    norm = np.sqrt((star * star).sum(axis=-1))
    cos = np.clip(star[..., 2] / np.maximum(norm, 1e-300), -1.0, 1.0)
    phi = np.arctan2(star[..., 1], star[..., 0])
    if frame == "collins-soper":
        phi = np.angle(np.exp(1j * (phi - np.arctan2(q[..., 2], q[..., 1]))))
    return np.where(norm > 0, cos, 0.0), phi


def two_body_decay(
    q: np.ndarray, mass: float, cos_theta: np.ndarray, phi: np.ndarray, frame: str = "collins-soper"
) -> tuple[np.ndarray, np.ndarray]:
    """Decay four-vectors ``q`` into two particles of ``mass``; the first flies along ``(θ*, φ*)``.

    In the rest frame ``|p*| = (M/2) β``, ``E* = M/2``; both are taken back to the lab (``frame``: module docstring).
    Below threshold (``M < 2m``, only through rounding) ``|p*| = 0``.
    """
    _check_frame(frame)
    m, _ = pair_mass_rapidity(q)
    p_star = 0.5 * m * np.sqrt(np.clip(1.0 - (2 * mass / np.maximum(m, 1e-300)) ** 2, 0.0, 1.0))
    cos = np.clip(np.asarray(cos_theta, dtype=np.float64), -1.0, 1.0)
    sin = np.sqrt(1.0 - cos * cos)
    if frame == "collins-soper":
        phi = np.asarray(phi, dtype=np.float64) + np.arctan2(q[..., 2], q[..., 1])
    direction = np.stack([sin * np.cos(phi), sin * np.sin(phi), cos], axis=-1)
    energy = np.sqrt(p_star * p_star + mass * mass)
    first = np.concatenate([energy[..., None], p_star[..., None] * direction], axis=-1)
    first = _from_rest(first, q, frame)
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
