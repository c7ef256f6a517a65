"""The paper's Z → μμ + jets feature map (the ``particles`` coordinates, Sec. 2.1).

:class:`ZJetsFeatures` maps events with two muons and exactly ``n`` jets to a
``(N, 5 + 4n)`` matrix and back: per muon ``p_T, η`` and, relative to the
leading muon, ``Δφ`` (the leading muon's ``φ`` is dropped: the global azimuth is
a symmetry, Sec. 2.1); muons are massless for the network (3 degrees of freedom
each, the mass is put back as a constant); per jet ``p_T, η, Δφ, m``. That gives
9, 13 and 17 dimensions for 1, 2 and 3 jets (2·3 + 4n − 1). Column order::

    mu1_pt mu1_eta | mu2_pt mu2_eta mu2_dphi | j1_pt j1_eta j1_dphi j1_mass | j2_... | j3_...

so the first 9 columns describe μμj, the next 4 the second jet, the last 4 the
third: exactly the inputs of the chained networks of Fig. 1. The helpers here
(``wrap_phi``, the column blocks, ΔR and M_μμ from feature columns) serve both
feature maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.events import collider_events, n_jets

__all__ = [
    "MUON_MASS",
    "MULTIPLICITIES",
    "ZJetsFeatures",
    "wrap_phi",
    "block_slices",
    "feature_pair_delta_r",
    "feature_dimuon_mass",
]

#: PDG muon mass in GeV, used when the training data carry no muon mass.
MUON_MASS = 0.1056583755
#: Jet multiplicities of the Z + {1, 2, 3} jets process, Eq. (1).
MULTIPLICITIES = (1, 2, 3)
_MUON_DIM = 5
_JET_DIM = 4


def wrap_phi(phi: np.ndarray) -> np.ndarray:
    """Azimuthal angles wrapped into ``[−π, π)``."""
    return np.mod(np.asarray(phi, dtype=np.float64) + np.pi, 2 * np.pi) - np.pi


def feature_pair_delta_r(x: np.ndarray, names: Sequence[str], n_jets: int) -> np.ndarray:
    """ΔR of every jet pair from the ``jk_eta`` and ``jk_dphi`` columns of a feature matrix.

    A jet without a ``jk_dphi`` column is the azimuth reference (φ = 0).
    """
    from evgen.physics.magic import jet_pair_delta_r

    eta = x[:, [names.index(f"j{k}_eta") for k in range(1, n_jets + 1)]]
    phi = np.stack(
        [
            x[:, names.index(f"j{k}_dphi")] if f"j{k}_dphi" in names else np.zeros(len(x))
            for k in range(1, n_jets + 1)
        ],
        axis=1,
    )
    return jet_pair_delta_r(eta, phi)


def feature_dimuon_mass(x: np.ndarray, muon_mass: float) -> np.ndarray:
    """``M_μμ`` from the muon columns (``mu1_pt mu1_eta mu2_pt mu2_eta mu2_dphi``) of a feature matrix."""
    from evgen.preprocessing.resonance import massive_four_vector, pair_mass_rapidity

    phi = np.stack([np.zeros(len(x)), x[:, 4]], axis=1)
    muons = massive_four_vector(x[:, [0, 2]], x[:, [1, 3]], phi, muon_mass)
    return pair_mass_rapidity(muons[:, 0] + muons[:, 1])[0]


def block_slices(n_jets: int) -> list[slice]:
    """Column blocks of the chained networks: μμj, then one block of 4 per further jet."""
    first = _MUON_DIM + _JET_DIM
    return [slice(0, first)] + [
        slice(first + _JET_DIM * k, first + _JET_DIM * (k + 1)) for k in range(n_jets - 1)
    ]


def _regular(array: ak.Array, width: int) -> np.ndarray:
    """``(N, width)`` float64 from a jagged array with ``width`` entries per event.

    (``ak.flatten`` rather than ``ak.to_regular``: the latter mishandles masked
    selections of file-read arrays, IndexedArray over ListOffsetArray, in awkward 2.)
    """
    return ak.to_numpy(ak.flatten(array, axis=1)).astype(np.float64).reshape(-1, width)


@dataclass(frozen=True)
class ZJetsFeatures:
    """Events with two muons and ``n_jets`` jets ↔ the ``(N, 5 + 4·n_jets)`` feature matrix.

    Parameters
    ----------
    n_jets
        Jet multiplicity (≥ 1).
    muon_mass
        Mass given to both muons when building events from features.
    """

    n_jets: int
    muon_mass: float = MUON_MASS

    #: Decoding leaves the muon charges to the generator.
    decodes_charge = False

    def __post_init__(self) -> None:
        if self.n_jets < 1:
            raise ConfigError(f"ZJetsFeatures needs n_jets ≥ 1; got {self.n_jets}")

    @property
    def dim(self) -> int:
        """Number of features, 2·3 + 4·n_jets − 1."""
        return _MUON_DIM + _JET_DIM * self.n_jets

    @property
    def names(self) -> list[str]:
        names = ["mu1_pt", "mu1_eta", "mu2_pt", "mu2_eta", "mu2_dphi"]
        for k in range(1, self.n_jets + 1):
            names += [f"j{k}_pt", f"j{k}_eta", f"j{k}_dphi", f"j{k}_mass"]
        return names

    def columns(self, kind: str) -> list[int]:
        """Indices of the columns of one kind: ``muon_pt``, ``jet_pt``, ``eta``, ``dphi``, ``jet_mass``."""
        names = self.names
        select = {
            "muon_pt": lambda n: n.startswith("mu") and n.endswith("_pt"),
            "jet_pt": lambda n: n.startswith("j") and n.endswith("_pt"),
            "eta": lambda n: n.endswith("_eta"),
            "dphi": lambda n: n.endswith("_dphi"),
            "jet_mass": lambda n: n.endswith("_mass"),
        }
        if kind not in select:
            raise ConfigError(f"unknown column kind {kind!r}; choose one of {sorted(select)}")
        return [i for i, n in enumerate(names) if select[kind](n)]

    def check(self, events: ak.Array, source: str = "events") -> None:
        """Raise :class:`InputError` unless every event has 2 muons and ``n_jets`` jets."""
        n_mu = ak.to_numpy(ak.num(events["Muon"], axis=1))
        n_j = n_jets(events)
        bad = np.flatnonzero((n_mu != 2) | (n_j != self.n_jets))
        if len(bad):
            i = int(bad[0])
            raise InputError(
                f"{source}: event {i} has {n_mu[i]} muons and {n_j[i]} jets; "
                f"expected 2 muons and {self.n_jets} jets"
            )

    def to_features(self, events: ak.Array, source: str = "events") -> np.ndarray:
        """The ``(N, dim)`` float64 feature matrix of ``events``."""
        self.check(events, source)
        mu, jet = events["Muon"], events["Jet"]
        mu_pt, mu_eta, mu_phi = (_regular(mu[f], 2) for f in ("pt", "eta", "phi"))
        j_pt, j_eta, j_phi, j_m = (_regular(jet[f], self.n_jets) for f in ("pt", "eta", "phi", "mass"))
        ref = mu_phi[:, :1]
        out = np.empty((len(events), self.dim))
        out[:, 0], out[:, 1] = mu_pt[:, 0], mu_eta[:, 0]
        out[:, 2], out[:, 3], out[:, 4] = mu_pt[:, 1], mu_eta[:, 1], wrap_phi(mu_phi[:, 1] - ref[:, 0])
        jets = np.stack([j_pt, j_eta, wrap_phi(j_phi - ref), j_m], axis=-1)  # (N, n_jets, 4)
        out[:, _MUON_DIM:] = jets.reshape(len(events), -1)
        return out

    def reference_phi(self, events: ak.Array) -> np.ndarray:
        """The leading muon's ``φ`` (the azimuth the features are measured from)."""
        return _regular(events["Muon"].phi, 2)[:, 0]

    def dimuon_mass(self, x: np.ndarray) -> np.ndarray:
        """``M_μμ`` of every row of a feature matrix."""
        return feature_dimuon_mass(x, self.muon_mass)

    def log_jacobian(self, events: ak.Array, source: str = "events") -> np.ndarray:
        """``log |det|`` of the map to the paper's coordinates: zero, these are them."""
        return np.zeros(len(events))

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
        """Collider events from a feature matrix.

        Parameters
        ----------
        features
            ``(N, dim)`` matrix.
        phi_ref
            Leading-muon azimuth per event; drawn uniformly in ``[−π, π)`` from
            ``rng`` when omitted (the symmetry the features removed).
        charge
            ``(N, 2)`` muon charges; no ``charge`` field when omitted.
        weight
            Event weights (ones when omitted).
        """
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise InputError(
                f"features for {self.n_jets} jets must have shape (N, {self.dim}); got {x.shape}"
            )
        n = len(x)
        if phi_ref is None:
            phi_ref = (rng or np.random.default_rng()).uniform(-np.pi, np.pi, n)
        phi_ref = np.asarray(phi_ref, dtype=np.float64)
        mu_pt = np.stack([x[:, 0], x[:, 2]], axis=1)
        mu_eta = np.stack([x[:, 1], x[:, 3]], axis=1)
        mu_phi = np.stack([wrap_phi(phi_ref), wrap_phi(phi_ref + x[:, 4])], axis=1)
        jets = x[:, _MUON_DIM:].reshape(n, self.n_jets, _JET_DIM)
        muon = {
            "pt": mu_pt,
            "eta": mu_eta,
            "phi": mu_phi,
            "mass": np.full((n, 2), self.muon_mass),
        }
        if charge is not None:
            muon["charge"] = np.asarray(charge, dtype=np.int32).reshape(n, 2)
        jet = {
            "pt": jets[..., 0],
            "eta": jets[..., 1],
            "phi": wrap_phi(jets[..., 2] + phi_ref[:, None]),
            "mass": jets[..., 3],
        }

        def jagged(values: np.ndarray) -> ak.Array:
            return ak.from_regular(ak.from_numpy(np.ascontiguousarray(values)), axis=1)

        return collider_events(
            {"Muon": {k: jagged(v) for k, v in muon.items()}, "Jet": {k: jagged(v) for k, v in jet.items()}},
            weight,
        )
