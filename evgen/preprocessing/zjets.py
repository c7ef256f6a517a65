"""Z → μμ + jets events ↔ feature matrices ↔ network space (Sec. 2.1).

:class:`ZJetsFeatures` maps events with two muons and exactly ``n`` jets to a
``(N, 5 + 4n)`` matrix and back: per muon ``p_T, η`` and, relative to the
leading muon, ``Δφ`` (the leading muon's ``φ`` is dropped: the global azimuth is
a symmetry, Sec. 2.1); muons are massless for the network (3 degrees of freedom
each, the mass is put back as a constant); per jet ``p_T, η, Δφ, m``. That gives
9, 13 and 17 dimensions for 1, 2 and 3 jets (2·3 + 4n − 1). Column order::

    mu1_pt mu1_eta | mu2_pt mu2_eta mu2_dphi | j1_pt j1_eta j1_dphi j1_mass | j2_... | j3_...

so the first 9 columns describe μμj, the next 4 the second jet, the last 4 the
third: exactly the inputs of the chained networks of Fig. 1.

:class:`ZJetsPreprocessing` adds, per multiplicity, the invertible chain
``log(p_T − p_T,min)`` → ``atanh(Δφ/π)`` → standardisation (Eq. 4) →
whitening, and maps network-space points back to events. With
``coordinates="physics"`` it uses
:class:`~evgen.preprocessing.zjets_physics.ZJetsPhysicsFeatures` instead (the
Breit–Wigner-mapped dimuon mass, decay angles and transverse-momentum balance,
same column blocks) and adds the steps those coordinates need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.events import collider_events, n_jets
from evgen.preprocessing.base import Chain, load_state, save_state
from evgen.preprocessing.resonance import DECAY_FRAMES
from evgen.preprocessing.steps import AsinhScale, AtanhScale, Gaussianize, LogShift, Standardize, Whiten

if TYPE_CHECKING:
    from evgen.preprocessing.zjets_physics import ZJetsPhysicsFeatures

__all__ = [
    "MUON_MASS",
    "MULTIPLICITIES",
    "COORDINATES",
    "ZJetsFeatures",
    "ZJetsPreprocessing",
    "wrap_phi",
    "block_slices",
]

#: PDG muon mass in GeV, used when the training data carry no muon mass.
MUON_MASS = 0.1056583755
#: Jet multiplicities of the Z + {1, 2, 3} jets process, Eq. (1).
MULTIPLICITIES = (1, 2, 3)
#: The two feature maps: the paper's per-object coordinates and the physics coordinates.
COORDINATES = ("particles", "physics")
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


class ZJetsPreprocessing:
    """Events ↔ network space, one invertible chain per jet multiplicity (Sec. 2.1).

    The chain is ``log(p_T − p_T,min)`` on muon and jet momenta and
    ``log(m + jet_mass_shift)`` on jet masses, ``atanh(Δφ/π)`` on the relative
    azimuths, standardisation (Eq. 4) and whitening, each fitted separately per
    multiplicity.

    Parameters
    ----------
    jet_pt_min
        The jet threshold of Eq. (2), 20 GeV: ``p̃_T = log(p_T − 20 GeV)``.
    muon_pt_min
        Muon threshold for ``log(p_T − p_T,min)``; 0 by default, i.e. ``log p_T``.
        The sample has no muon cut, so there is no global threshold to extract
        (the reason the paper subtracts one for jets). ``log p_T`` is an exact
        bijection of (0, ∞) for any sample; muons from Z decays sit on a
        Jacobian peak near m_Z/2, so their ``log p_T`` is already close to
        Gaussian, while an offset just below the sample's smallest muon p_T
        would blow the few softest muons into a long negative tail and would
        fail (clamp) on another file with a softer muon.
    jet_mass_shift
        Jet masses enter as ``log(m + shift)`` (1 GeV): jet masses are positive
        and steeply falling, and the log keeps generated masses above −shift;
        the few generated masses below zero are set to zero in the events.
        ``None`` gives the paper's plain standardisation.
    whitening
        ``"cholesky"`` (default), ``"pca"`` or ``"none"``. Cholesky whitening is
        triangular, so the first 9 whitened columns still depend on μμj alone and
        each further block of 4 on its jet and the ones before: the base network
        sees the same objects for every multiplicity (Fig. 1). PCA mixes all
        columns; the chained density stays exact but the blocks lose that meaning.
    multiplicities
        Jet multiplicities to fit.
    coordinates
        ``"particles"``: the paper's ``p_T, η, Δφ(, m)`` per object (:class:`ZJetsFeatures`;
        the default here, so that run directories written before the switch load unchanged);
        ``"physics"``: the Breit–Wigner-mapped dimuon mass, rapidity, decay angles and the
        transverse-momentum balance (:class:`~evgen.preprocessing.zjets_physics.ZJetsPhysicsFeatures`).
        The physics chain adds ``atanh(2u/π)`` on the Breit–Wigner variable ``u``,
        ``atanh(cos θ*)`` on the decay angle (both clamped like Δφ) and ``asinh(B/balance_scale)``
        on the two balance components.
    balance_scale
        Scale in GeV of the ``asinh`` compression of the balance (physics coordinates).
    decay_frame
        Rest frame of the decay angles (physics coordinates), one of
        :data:`~evgen.preprocessing.resonance.DECAY_FRAMES`; files saved before the choice
        existed load as ``"boost"``.
    gaussianize
        Map every column's marginal onto a standard normal before whitening
        (:class:`~evgen.preprocessing.steps.Gaussianize`): the networks start from the
        training sample's marginals and learn how the columns depend on each other.
    """

    def __init__(
        self,
        *,
        jet_pt_min: float = 20.0,
        muon_pt_min: float = 0.0,
        jet_mass_shift: float | None = 1.0,
        whitening: str = "cholesky",
        multiplicities: Sequence[int] = MULTIPLICITIES,
        coordinates: str = "particles",
        balance_scale: float = 10.0,
        decay_frame: str = "collins-soper",
        gaussianize: bool = False,
    ) -> None:
        if whitening not in ("cholesky", "pca", "none"):
            raise ConfigError(f"whitening must be 'cholesky', 'pca' or 'none'; got {whitening!r}")
        if coordinates not in COORDINATES:
            raise ConfigError(f"coordinates must be one of {list(COORDINATES)}; got {coordinates!r}")
        if not balance_scale > 0:
            raise ConfigError(f"balance_scale must be positive (GeV); got {balance_scale!r}")
        self.coordinates = coordinates
        self.balance_scale = float(balance_scale)
        if decay_frame not in DECAY_FRAMES:
            raise ConfigError(f"decay_frame must be one of {list(DECAY_FRAMES)}; got {decay_frame!r}")
        self.decay_frame = decay_frame
        self.gaussianize = bool(gaussianize)
        self.charged = True
        if jet_mass_shift is not None and not jet_mass_shift > 0:
            raise ConfigError(f"jet_mass_shift must be positive or None; got {jet_mass_shift!r}")
        self.jet_pt_min = float(jet_pt_min)
        self.muon_pt_min = float(muon_pt_min)
        self.jet_mass_shift = None if jet_mass_shift is None else float(jet_mass_shift)
        self.whitening = whitening
        self.multiplicities = tuple(int(n) for n in multiplicities)
        self.muon_mass = MUON_MASS
        self.chains: dict[int, Chain] = {}

    # -- the pieces -----------------------------------------------------------
    def features(self, n: int) -> ZJetsFeatures | ZJetsPhysicsFeatures:
        """The feature map for ``n`` jets (the configured ``coordinates``)."""
        if self.coordinates == "physics":
            from evgen.preprocessing.zjets_physics import ZJetsPhysicsFeatures

            return ZJetsPhysicsFeatures(n, self.muon_mass, charged=self.charged, frame=self.decay_frame)
        return ZJetsFeatures(n, self.muon_mass)

    def make_chain(self, n: int) -> Chain:
        """An unfitted chain for ``n`` jets."""
        f = self.features(n)
        physics: list[Any] = []
        if self.coordinates == "physics":
            physics = [
                AtanhScale(f.columns("breit_wigner"), scale=np.pi / 2),
                AtanhScale(f.columns("cos_theta"), scale=1.0),
                AsinhScale(f.columns("balance"), scale=self.balance_scale),
            ]
        log_cols = f.columns("muon_pt") + f.columns("jet_pt")
        minima = [self.muon_pt_min] * len(f.columns("muon_pt")) + [self.jet_pt_min] * len(f.columns("jet_pt"))
        if self.jet_mass_shift is not None:
            log_cols += f.columns("jet_mass")
            minima += [-self.jet_mass_shift] * len(f.columns("jet_mass"))
        order = np.argsort(log_cols)
        steps = [
            LogShift([log_cols[i] for i in order], [minima[i] for i in order]),
            AtanhScale(f.columns("dphi")),
            *physics,
            Standardize(),
        ]
        if self.gaussianize:
            steps.append(Gaussianize())
        if self.whitening != "none":
            steps.append(Whiten(self.whitening))
        return Chain(steps)

    def _chain(self, n: int) -> Chain:
        if n not in self.chains:
            fitted = sorted(self.chains) or "none (call fit first)"
            raise InputError(f"no preprocessing fitted for {n} jets; fitted multiplicities: {fitted}")
        return self.chains[n]

    # -- fitting ----------------------------------------------------------------
    def fit(
        self, events: ak.Array, weights: np.ndarray | None = None, source: str = "events"
    ) -> ZJetsPreprocessing:
        """Fit one chain per multiplicity on ``events`` (each must have 2 muons, 1–3 jets)."""
        counts = n_jets(events)
        w = np.ones(len(events)) if weights is None else np.asarray(weights, dtype=np.float64)
        mass = ak.to_numpy(ak.flatten(events["Muon"].mass))
        self.muon_mass = float(np.median(mass)) if len(mass) else MUON_MASS
        if self.coordinates == "physics":
            from evgen.preprocessing.zjets_physics import muon_labels

            self.charged = muon_labels(events)[1]
        for n in self.multiplicities:
            sel = counts == n
            if sel.sum() < self.features(n).dim + 2:
                raise InputError(
                    f"{source}: only {int(sel.sum())} events with {n} jets; need at least "
                    f"{self.features(n).dim + 2} to fit the {n}-jet preprocessing"
                )
            x = self.features(n).to_features(events[sel], source)
            self._check_thresholds(x, n, source)
            self.chains[n] = self.make_chain(n).fit(x, w[sel])
        return self

    def _check_thresholds(self, x: np.ndarray, n: int, source: str) -> None:
        f = self.features(n)
        for kind, threshold, option in (
            ("jet_pt", self.jet_pt_min, "jet_pt_min"),
            ("muon_pt", self.muon_pt_min, "muon_pt_min"),
        ):
            cols = f.columns(kind)
            low = x[:, cols].min() if cols else np.inf
            if low < threshold:
                raise InputError(
                    f"{source}: a {kind.replace('_', ' ')} of {low:.4g} GeV lies below {option}={threshold} GeV; "
                    f"lower preprocessing.{option} (or apply the cut to the sample)"
                )

    # -- mapping ------------------------------------------------------------------
    def forward(self, x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Features of ``n``-jet events → network space, with ``log |det ∂y/∂x|``."""
        return self._chain(n).forward(x)

    def inverse(self, y: np.ndarray, n: int) -> np.ndarray:
        """Network space → features of ``n``-jet events."""
        return self._chain(n).inverse(y)

    def encode(self, events: ak.Array, source: str = "events") -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per multiplicity: ``(y, index)``, the network-space points and their event indices."""
        counts = n_jets(events)
        out = {}
        for n in self.multiplicities:
            index = np.flatnonzero(counts == n)
            if len(index):
                y, _ = self.forward(self.features(n).to_features(events[index], source), n)
                out[n] = (y, index)
        return out

    def decode_features(self, y: np.ndarray, n: int) -> np.ndarray:
        """Network space → features, with generated jet masses below zero set to zero."""
        x = self.inverse(y, n)
        mass = self.features(n).columns("jet_mass")
        x[:, mass] = np.maximum(x[:, mass], 0.0)
        return x

    # -- persistence ------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {
            "jet_pt_min": self.jet_pt_min,
            "muon_pt_min": self.muon_pt_min,
            "jet_mass_shift": self.jet_mass_shift,
            "whitening": self.whitening,
            "multiplicities": list(self.multiplicities),
            "coordinates": self.coordinates,
            "balance_scale": self.balance_scale,
            "decay_frame": self.decay_frame,
            "gaussianize": self.gaussianize,
        }

    def save(self, path: str | Path) -> None:
        """Write ``path.json`` and ``path.safetensors`` (e.g. ``RUN/preprocessing``)."""
        spec: dict[str, Any] = {
            "kind": "zjets",
            "params": self.params(),
            "muon_mass": self.muon_mass,
            "charged": self.charged,
            "chains": {},
        }
        arrays: dict[str, np.ndarray] = {}
        for n, chain in self.chains.items():
            steps, arr = chain.state()
            spec["chains"][str(n)] = steps
            arrays.update({f"n{n}.{k}": v for k, v in arr.items()})
        save_state(path, spec, arrays)

    @classmethod
    def load(cls, path: str | Path) -> ZJetsPreprocessing:
        """Read what :meth:`save` wrote."""
        spec, arrays = load_state(path)
        if spec.get("kind") != "zjets":
            raise InputError(f"{path}: not a Z+jets preprocessing file (kind {spec.get('kind')!r})")
        # files written before the decay frame was a choice used the pure boost
        pre = cls(**{"decay_frame": "boost", **spec["params"]})
        pre.muon_mass = float(spec["muon_mass"])
        pre.charged = bool(spec.get("charged", True))
        for key, steps in spec["chains"].items():
            prefix = f"n{key}."
            mine = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            pre.chains[int(key)] = Chain.from_state(steps, mine)
        return pre
