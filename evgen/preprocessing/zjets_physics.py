"""Physics coordinates for Z → μμ + jets: the resonance, its decay and the momentum balance.

The paper's feature map (:class:`~evgen.preprocessing.zjets.ZJetsFeatures`, the
``particles`` coordinates) gives the network each particle's ``p_T, η, φ``. The
Z peak is then a narrow ridge in the six muon dimensions and the transverse-momentum
balance a small difference of large momenta, both hard to learn. The ``physics``
coordinates describe the same event the way Monte Carlo phase-space generators do
(see :mod:`evgen.preprocessing.resonance`). Per event with ``n`` jets, ``5 + 4n``
columns in the same blocks as the paper's (μμj first, then 4 per further jet)::

    m_bw y_mumu cos_theta phi_star balance_par balance_perp j1_pt j1_eta j1_mass | j2_pt j2_eta j2_dphi j2_mass | j3_...

* global azimuth: everything is rotated so that the leading jet has ``φ = 0``;
  generation draws the azimuth uniformly;
* ``m_bw = arctan((M_μμ² − m_Z²)/(m_Z Γ_Z))``, the Breit–Wigner map of the dimuon
  mass, under which the Z line shape is nearly flat; ``y_mumu``, the dimuon rapidity;
* ``cos_theta``, ``phi_star``: the direction of the negative muon in the dimuon rest
  frame, by default the Collins–Soper frame (``θ*`` from the Collins–Soper axis, ``φ*``
  from ``Q_T``); the frames are described in :mod:`evgen.preprocessing.resonance`;
* ``balance_par``, ``balance_perp``: the vector sum of both muons' and all jets'
  ``p_T`` (GeV), along and across the leading jet; the dimuon ``p_T`` is not a
  coordinate, it is ``balance − Σ jets``;
* jets: ``p_T, η, m`` and, from the second on, ``Δφ`` to the leading jet.

Decoding rebuilds the dimuon four-momentum from ``(M, Y, Q_T)``, decays it with the
rest-frame angles, orders the muons by ``p_T`` and gives the one that carried the
angles charge −1. Samples without muon charges label one muon at random (seeded,
reproducible), which makes the angle distribution symmetric; decoded events then
carry no charge.

The map is a bijection between the paper's features (plus the muon labelling) and
these; :func:`physics_log_jacobian` is ``log |det ∂x_physics/∂x_particles|``, so a
density over physics coordinates converts exactly to one over the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.preprocessing.resonance import (
    DECAY_FRAMES,
    breit_wigner_inverse,
    breit_wigner_log_derivative,
    breit_wigner_map,
    massive_four_vector,
    pair_log_jacobian,
    pair_mass_rapidity,
    rest_frame_angles,
    two_body_decay,
)
from evgen.preprocessing.zjets_particles import (
    MUON_MASS,
    ZJetsFeatures,
    feature_dimuon_mass,
    feature_pair_delta_r,
    wrap_phi,
)

__all__ = [
    "ZJetsPhysicsFeatures",
    "physics_from_particles",
    "particles_from_physics",
    "physics_log_jacobian",
    "muon_labels",
]

_MUON_COLUMNS = ["m_bw", "y_mumu", "cos_theta", "phi_star", "balance_par", "balance_perp"]
#: Seed of the random muon labelling of samples without charge.
_LABEL_SEED = 0x5EED


def _jets(xp: np.ndarray, n_jets: int) -> np.ndarray:
    return xp[:, 5:].reshape(len(xp), n_jets, 4)  # pt, eta, dphi (to the leading muon), mass


def physics_from_particles(
    xp: np.ndarray,
    label: np.ndarray,
    n_jets: int,
    muon_mass: float = MUON_MASS,
    frame: str = "collins-soper",
) -> np.ndarray:
    """The physics coordinates of a paper feature matrix ``xp`` (``(N, 5 + 4n)``).

    ``label[i]`` (0 or 1) says which muon, in ``p_T`` order, carries the decay angles;
    ``frame`` is the rest frame they are measured in (:mod:`evgen.preprocessing.resonance`).
    """
    xp = np.asarray(xp, dtype=np.float64)
    jets = _jets(xp, n_jets)
    phi_j1 = jets[:, 0, 2]
    mu_phi = np.stack([-phi_j1, xp[:, 4] - phi_j1], axis=1)  # rotated so that φ_j1 = 0
    muons = massive_four_vector(xp[:, [0, 2]], xp[:, [1, 3]], mu_phi, muon_mass)
    q = muons[:, 0] + muons[:, 1]
    mass, rapidity = pair_mass_rapidity(q)
    chosen = np.where(np.asarray(label)[:, None] == 1, muons[:, 1], muons[:, 0])
    cos_theta, phi_star = rest_frame_angles(chosen, q, frame)
    jet_phi = jets[..., 2] - phi_j1[:, None]
    balance_x = q[:, 1] + (jets[..., 0] * np.cos(jet_phi)).sum(axis=1)
    balance_y = q[:, 2] + (jets[..., 0] * np.sin(jet_phi)).sum(axis=1)
    out = np.empty_like(xp)
    out[:, :6] = np.stack(
        [breit_wigner_map(mass), rapidity, cos_theta, phi_star, balance_x, balance_y], axis=1
    )
    out[:, 6:9] = jets[:, 0, [0, 1, 3]]
    for k in range(1, n_jets):
        out[:, 9 + 4 * (k - 1) : 13 + 4 * (k - 1)] = np.stack(
            [jets[:, k, 0], jets[:, k, 1], wrap_phi(jet_phi[:, k]), jets[:, k, 3]], axis=1
        )
    return out


def particles_from_physics(
    xq: np.ndarray, n_jets: int, muon_mass: float = MUON_MASS, frame: str = "collins-soper"
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`physics_from_particles`: the paper features and the muon labels."""
    xq = np.asarray(xq, dtype=np.float64)
    n = len(xq)
    jet = np.empty((n, n_jets, 4))  # pt, eta, phi (leading jet at 0), mass
    jet[:, 0] = np.stack([xq[:, 6], xq[:, 7], np.zeros(n), xq[:, 8]], axis=1)
    for k in range(1, n_jets):
        block = xq[:, 9 + 4 * (k - 1) : 13 + 4 * (k - 1)]
        jet[:, k] = block[:, [0, 1, 2, 3]]
    qx = xq[:, 4] - (jet[..., 0] * np.cos(jet[..., 2])).sum(axis=1)
    qy = xq[:, 5] - (jet[..., 0] * np.sin(jet[..., 2])).sum(axis=1)
    mass = breit_wigner_inverse(xq[:, 0], minimum=2 * muon_mass)
    mt = np.sqrt(mass * mass + qx * qx + qy * qy)
    q = np.stack([mt * np.cosh(xq[:, 1]), qx, qy, mt * np.sinh(xq[:, 1])], axis=1)
    chosen, other = two_body_decay(q, muon_mass, xq[:, 2], xq[:, 3], frame)
    pts = np.hypot(np.stack([chosen[:, 1], other[:, 1]], 1), np.stack([chosen[:, 2], other[:, 2]], 1))
    label = (pts[:, 1] > pts[:, 0]).astype(np.int8)  # 1: the chosen muon is the subleading one
    lead = np.where(label[:, None] == 1, other, chosen)
    sub = np.where(label[:, None] == 1, chosen, other)

    def pt_eta_phi(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pt = np.hypot(p[:, 1], p[:, 2])
        return pt, np.arcsinh(p[:, 3] / np.maximum(pt, 1e-300)), np.arctan2(p[:, 2], p[:, 1])

    (pt1, eta1, phi1), (pt2, eta2, phi2) = pt_eta_phi(lead), pt_eta_phi(sub)
    out = np.empty_like(xq)
    out[:, :5] = np.stack([pt1, eta1, pt2, eta2, wrap_phi(phi2 - phi1)], axis=1)
    jet[..., 2] = wrap_phi(jet[..., 2] - phi1[:, None])
    out[:, 5:] = jet.reshape(n, -1)
    return out, label


def physics_log_jacobian(xp: np.ndarray, muon_mass: float = MUON_MASS) -> np.ndarray:
    """``log |det ∂x_physics / ∂x_particles|`` per row of a paper feature matrix.

    The jets and the global azimuth enter both maps by shifts (unit Jacobian), so
    this is the dimuon part: :func:`~evgen.preprocessing.resonance.pair_log_jacobian`
    (muon momenta → ``M, Y, Q_T, cos θ*, φ*``; the balance is ``Q_T`` shifted by the
    jets) plus ``log du/dM`` of the Breit–Wigner map.
    """
    xp = np.asarray(xp, dtype=np.float64)
    mass = feature_dimuon_mass(xp, muon_mass)
    return pair_log_jacobian(xp[:, [0, 2]], xp[:, [1, 3]], mass, muon_mass) + breit_wigner_log_derivative(
        mass
    )


def muon_labels(events: ak.Array) -> tuple[np.ndarray, bool]:
    """Which muon (0 or 1 in ``p_T`` order) carries the decay angles, and whether charges decided it.

    The negative muon where ``Muon.charge`` exists and the pair has opposite charges;
    otherwise a seeded random choice.
    """
    n = len(events)
    random = np.random.default_rng(_LABEL_SEED).integers(0, 2, n).astype(np.int8)
    if "charge" not in ak.fields(events["Muon"]) or n == 0:
        return random, False
    charge = ak.to_numpy(ak.flatten(events["Muon"].charge, axis=1)).reshape(n, 2)
    opposite = charge[:, 0] * charge[:, 1] < 0
    return np.where(opposite, (charge[:, 1] < 0).astype(np.int8), random), bool(opposite.all())


@dataclass(frozen=True)
class ZJetsPhysicsFeatures:
    """Events with two muons and ``n_jets`` jets ↔ the ``(N, 5 + 4·n_jets)`` physics coordinates.

    Same interface as :class:`~evgen.preprocessing.zjets.ZJetsFeatures` (``dim``,
    ``names``, ``columns``, ``to_features``, ``to_events``), plus :meth:`log_jacobian`
    to the paper's coordinates and :meth:`jet_pair_delta_r` for the magic transform.

    Parameters
    ----------
    n_jets
        Jet multiplicity (≥ 1).
    muon_mass
        Mass of both muons (the decay needs it).
    charged
        Decoded events carry ``Muon.charge`` (the labelled muon is μ⁻).
    frame
        Rest frame of the decay angles: one of
        :data:`~evgen.preprocessing.resonance.DECAY_FRAMES`.
    """

    n_jets: int
    muon_mass: float = MUON_MASS
    charged: bool = True
    frame: str = "collins-soper"

    #: Decoding decides the muon charges (the generator must not draw them).
    decodes_charge = True

    def __post_init__(self) -> None:
        if self.n_jets < 1:
            raise ConfigError(f"ZJetsPhysicsFeatures needs n_jets ≥ 1; got {self.n_jets}")
        if self.frame not in DECAY_FRAMES:
            raise ConfigError(f"decay frame must be one of {list(DECAY_FRAMES)}; got {self.frame!r}")

    @property
    def particles(self) -> ZJetsFeatures:
        """The paper's feature map for the same multiplicity."""
        return ZJetsFeatures(self.n_jets, self.muon_mass)

    @property
    def dim(self) -> int:
        return 5 + 4 * self.n_jets

    @property
    def names(self) -> list[str]:
        names = [*_MUON_COLUMNS, "j1_pt", "j1_eta", "j1_mass"]
        for k in range(2, self.n_jets + 1):
            names += [f"j{k}_pt", f"j{k}_eta", f"j{k}_dphi", f"j{k}_mass"]
        return names

    def columns(self, kind: str) -> list[int]:
        """Indices of one kind: ``jet_pt``, ``eta``, ``dphi`` (jet Δφ and ``φ*``), ``jet_mass``,
        ``breit_wigner``, ``cos_theta``, ``balance``, ``rapidity``; ``muon_pt`` is empty."""
        select = {
            "muon_pt": lambda n: False,
            "jet_pt": lambda n: n.startswith("j") and n.endswith("_pt"),
            "eta": lambda n: n.endswith("_eta"),
            "dphi": lambda n: n.endswith("_dphi") or n == "phi_star",
            "jet_mass": lambda n: n.startswith("j") and n.endswith("_mass"),
            "breit_wigner": lambda n: n == "m_bw",
            "cos_theta": lambda n: n == "cos_theta",
            "balance": lambda n: n.startswith("balance_"),
            "rapidity": lambda n: n == "y_mumu",
        }
        if kind not in select:
            raise ConfigError(f"unknown column kind {kind!r}; choose one of {sorted(select)}")
        return [i for i, n in enumerate(self.names) if select[kind](n)]

    def check(self, events: ak.Array, source: str = "events") -> None:
        self.particles.check(events, source)

    def to_features(self, events: ak.Array, source: str = "events") -> np.ndarray:
        """The ``(N, dim)`` physics coordinates of ``events``."""
        xp = self.particles.to_features(events, source)
        label, _ = muon_labels(events)
        return physics_from_particles(xp, label, self.n_jets, self.muon_mass, self.frame)

    def log_jacobian(self, events: ak.Array, source: str = "events") -> np.ndarray:
        """``log |det ∂x_physics/∂x_particles|``: add it to a physics-space log-density."""
        return physics_log_jacobian(self.particles.to_features(events, source), self.muon_mass)

    def dimuon_mass(self, x: np.ndarray) -> np.ndarray:
        """``M_μμ`` of every row: the inverse Breit–Wigner map of ``m_bw``."""
        return breit_wigner_inverse(x[:, 0], minimum=2 * self.muon_mass)

    def jet_pair_delta_r(self, x: np.ndarray) -> np.ndarray:
        """``(N, pairs)`` ΔR of every jet pair (for the magic transform, Eq. 8–9)."""
        return feature_pair_delta_r(x, self.names, self.n_jets)

    def to_events(
        self,
        features: np.ndarray,
        phi_ref: np.ndarray | None = None,
        charge: np.ndarray | None = None,
        weight: np.ndarray | None = None,
        rng: np.random.Generator | None = None,
    ) -> ak.Array:
        """Collider events from physics coordinates (global azimuth drawn from ``rng`` unless given).

        ``charge`` must be omitted: decoding decides it (μ⁻ is the muon that carried the angles).
        """
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise InputError(
                f"physics features for {self.n_jets} jets must have shape (N, {self.dim}); got {x.shape}"
            )
        if charge is not None:
            raise ConfigError("physics coordinates decide the muon charges; do not pass charge")
        xp, label = particles_from_physics(x, self.n_jets, self.muon_mass, self.frame)
        charges = None
        if self.charged:
            negative_first = label == 0
            charges = np.stack([np.where(negative_first, -1, 1), np.where(negative_first, 1, -1)], axis=1)
        return self.particles.to_events(xp, phi_ref=phi_ref, charge=charges, weight=weight, rng=rng)
