"""Z → μμ + jets events ↔ feature matrices ↔ network space (Sec. 2.1).

:class:`ZJetsPreprocessing` picks a feature map per multiplicity, the paper's
:class:`~evgen.preprocessing.zjets_particles.ZJetsFeatures` (``coordinates="particles"``)
or :class:`~evgen.preprocessing.zjets_physics.ZJetsPhysicsFeatures` (``"physics"``: the
Breit–Wigner-mapped dimuon mass, decay angles and transverse-momentum balance, same
column blocks), adds the invertible chain ``log(p_T − p_T,min)`` → ``atanh(Δφ/π)`` (and
the steps the physics coordinates need) → standardisation (Eq. 4) → whitening, and maps
network-space points back to events.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.events import n_jets
from evgen.preprocessing.acceptance import AcceptanceEdge
from evgen.preprocessing.angular import FIT_METHODS, AngularCoefficients
from evgen.preprocessing.base import Chain, load_state, save_state
from evgen.preprocessing.ordering import PtOrdering
from evgen.preprocessing.radial import RadialEqualize
from evgen.preprocessing.recoil import BalanceHarmonics
from evgen.preprocessing.resonance import DECAY_FRAMES
from evgen.preprocessing.steps import (
    AsinhScale,
    AtanhScale,
    Gaussianize,
    LogPolar,
    LogShift,
    RelativeTo,
    SeparationMap,
    Standardize,
    Whiten,
)
from evgen.preprocessing.third_jet import ThirdJetEqualize, ThirdJetSeparation, closed_pairs
from evgen.preprocessing.zjets_particles import (
    MULTIPLICITIES,
    MUON_MASS,
    ZJetsFeatures,
    block_slices,
    wrap_phi,
)
from evgen.preprocessing.zjets_physics import ZJetsPhysicsFeatures, muon_labels

__all__ = [
    "MUON_MASS",
    "MULTIPLICITIES",
    "COORDINATES",
    "BALANCE_FORMS",
    "JET_ETA_FORMS",
    "JET_SEPARATION_FORMS",
    "JET3_REFERENCES",
    "magic_pairs",
    "open_pair_mask",
    "ZJetsFeatures",
    "ZJetsPreprocessing",
    "wrap_phi",
    "block_slices",
]

#: The two feature maps: the paper's per-object coordinates and the physics coordinates.
COORDINATES = ("particles", "physics")
#: How the balance enters (physics coordinates): ``asinh`` of its components, or ``log |B|`` and its angle.
BALANCE_FORMS = ("cartesian", "polar")
#: How the further jets' pseudorapidities enter: as they are, or as ``η_k − η_1``.
JET_ETA_FORMS = ("absolute", "relative")
#: Whether the coordinates close the ``ΔR < R`` hole around a jet (:class:`SeparationMap`).
JET_SEPARATION_FORMS = ("none", "map")
#: The jet the third jet's position is measured from (``"j1j2"``: the midpoint of jets 1 and 2,
#: both holes closed by :class:`~evgen.preprocessing.third_jet.ThirdJetSeparation`).
JET3_REFERENCES = ("j1", "j2", "j1j2")


def magic_pairs(n_jets: int, jet_separation: str = "none", jet3_reference: str = "j1") -> list[int]:
    """Indices, in the order (1,2), (1,3), (2,3), of the jet pairs whose ``ΔR < R`` hole is *not*
    closed by the coordinates: the pairs the magic transformation (Eq. 7–10) still has to handle
    in every event. With ``jet3_reference = "j1j2"`` jet 3's pairs are open in some events only:
    :func:`open_pair_mask` says which."""
    pairs = [(i, j) for i in range(1, n_jets + 1) for j in range(i + 1, n_jets + 1)]
    if jet_separation != "map":
        return list(range(len(pairs)))
    mapped = {(1, 2), *{"j1": [(1, 3)], "j2": [(2, 3)], "j1j2": [(1, 3), (2, 3)]}[jet3_reference]}
    return [i for i, pair in enumerate(pairs) if pair not in mapped]


def open_pair_mask(
    pair_dr: np.ndarray,
    jet_separation: str = "none",
    jet3_reference: str = "j1",
    radius: float = 0.4,
) -> np.ndarray:
    """Per row and jet pair (``(N, pairs)`` ΔR in the order (1,2), (1,3), (2,3)), whether the
    pair's ``ΔR < R`` hole is open, i.e. left to the magic transformation (Eq. 7–10).

    As :func:`magic_pairs`, except that with ``jet3_reference = "j1j2"`` jet 3's two pairs are
    closed only where :class:`~evgen.preprocessing.third_jet.ThirdJetSeparation` closes them
    (jets 1 and 2 far enough apart), and open elsewhere.
    """
    pair_dr = np.asarray(pair_dr, dtype=np.float64)
    k = pair_dr.shape[1]
    n_jets = int(round((1 + np.sqrt(1 + 8 * k)) / 2)) if k else 1
    mask = np.zeros(pair_dr.shape, dtype=bool)
    mask[:, magic_pairs(n_jets, jet_separation, jet3_reference)] = True
    if jet_separation == "map" and jet3_reference == "j1j2" and n_jets >= 3:
        mask[:, 1:3] = ~closed_pairs(pair_dr[:, 0], radius)[:, None]
    return mask


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
    balance
        ``"cartesian"``: ``asinh(B/balance_scale)`` on the two balance components;
        ``"polar"``: ``(log |B|, atanh(φ_B/π))`` with ``φ_B`` from the direction opposite
        the leading jet (:class:`~evgen.preprocessing.steps.LogPolar`), which removes the
        cusp of the balance density at ``B = 0`` (physics coordinates only).
    jet_eta
        ``"absolute"``: every jet's ``η``; ``"relative"``: the further jets' ``η_k − η_1``
        (:class:`~evgen.preprocessing.steps.RelativeTo`, before the ``p_T`` logs), which
        matters only with ``gaussianize`` (whitening alone is linear).
    jet_separation
        ``"none"``: the coordinates leave the ``ΔR < jet_radius`` hole around the leading
        jet (the magic transformation handles it); ``"map"``: a
        :class:`~evgen.preprocessing.steps.SeparationMap` closes it for jet 2 around jet 1
        and jet 3 around its reference jet, so those pairs need no magic weights
        (:func:`magic_pairs`). Needs ``jet_eta = "relative"``.
    jet3_reference
        ``"j1"``: jet 3's ``η`` (relative) and ``Δφ`` are measured from the leading jet;
        ``"j2"``: from jet 2 (``Δφ`` wrapped), so the (2, 3) pair is the mapped one;
        ``"j1j2"``: from the midpoint of jets 1 and 2, with both holes closed
        (:class:`~evgen.preprocessing.third_jet.ThirdJetSeparation`; needs
        ``jet_separation = "map"``) wherever jets 1 and 2 are at least ``3R`` apart, and with
        ``separation_equalize`` its radial density equalised in both discs
        (:class:`~evgen.preprocessing.third_jet.ThirdJetEqualize`).
    jet_radius
        ``R`` of the jet algorithm, for ``jet_separation = "map"``.
    separation_equalize
        ``ρ`` (0: off; needs ``jet_separation = "map"``): within ``ρ`` of the reference jet, in
        the mapped plane, the mapped jets' radial density is equalised onto a smooth profile
        (:class:`~evgen.preprocessing.radial.RadialEqualize`), so the collinear peak's ring
        no longer has to be drawn by the network.
    jet_eta_bound
        ``η_max`` (0: off): the sample's jets have ``|η| < η_max`` (a hard acceptance edge), and
        the leading jet's ``η`` enters as ``atanh(η_1/η_max)`` (every jet's with
        ``jet_eta = "absolute"``; the further jets' relative ``η_k − η_1`` keep the jet radius's
        metric), so the edge lies at infinity and the flow does not smear the jump there.
    jet_eta_edge_width
        ``w`` (0: off; needs ``jet_eta_bound`` and ``jet_eta = "relative"``): the further jets'
        ``Δη_k = η_k − η_1`` within ``w`` of their own edges ``|η_1 + Δη_k| = η_max`` are
        stretched onto a half-line (:class:`~evgen.preprocessing.acceptance.AcceptanceEdge`,
        before the separation maps), so those edges lie at infinity too. With
        ``jet3_reference = "j2"`` only jet 2 (jet 3 is measured from jet 2).
    angular_coefficients
        Factor the decay-angle distribution out of ``(cos θ*, φ*)`` with its eight angular
        coefficients ``A_0…A_7`` as functions of the dimuon ``q_T`` and ``y``
        (:class:`~evgen.preprocessing.angular.AngularCoefficients`, physics coordinates only).
    angular_fit
        How those coefficients are fitted: ``"likelihood"`` (maximum likelihood of the sample,
        right under the muons' acceptance) or ``"moments"`` (runs saved before the choice).
    balance_harmonics
        Factor the balance direction's dependence on ``|B|`` and the leading jet's ``p_T`` out
        with its azimuthal harmonics (:class:`~evgen.preprocessing.recoil.BalanceHarmonics`,
        physics coordinates only).
    balance_recoil
        With ``balance_harmonics``: the harmonics also depend on the direction of the jets' vector
        sum (two or more jets; the ``recoil`` terms of
        :class:`~evgen.preprocessing.recoil.BalanceHarmonics`).
    jet_pt_order
        The further jets' ``p_T`` between the threshold and the jet before them, through a
        logit (:class:`~evgen.preprocessing.ordering.PtOrdering`), instead of
        ``log(p_T − p_min)``: the ordering edge ``p_T,k = p_T,k−1`` at infinity, so generated
        jets stay in ``p_T`` order.
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
        balance: str = "cartesian",
        jet_eta: str = "absolute",
        jet_separation: str = "none",
        jet3_reference: str = "j1",
        jet_radius: float = 0.4,
        separation_equalize: float = 0.0,
        jet_eta_bound: float = 0.0,
        jet_eta_edge_width: float = 0.0,
        angular_coefficients: bool = False,
        angular_fit: str = "likelihood",
        balance_harmonics: bool = False,
        balance_recoil: bool = False,
        jet_pt_order: bool = False,
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
        if balance not in BALANCE_FORMS:
            raise ConfigError(f"balance must be one of {list(BALANCE_FORMS)}; got {balance!r}")
        if balance == "polar" and coordinates != "physics":
            raise ConfigError(
                "balance = 'polar' needs coordinates = 'physics' (the paper's have no balance column)"
            )
        if jet_eta not in JET_ETA_FORMS:
            raise ConfigError(f"jet_eta must be one of {list(JET_ETA_FORMS)}; got {jet_eta!r}")
        if jet_separation not in JET_SEPARATION_FORMS:
            raise ConfigError(
                f"jet_separation must be one of {list(JET_SEPARATION_FORMS)}; got {jet_separation!r}"
            )
        if jet3_reference not in JET3_REFERENCES:
            raise ConfigError(
                f"jet3_reference must be one of {list(JET3_REFERENCES)}; got {jet3_reference!r}"
            )
        if jet3_reference == "j1j2" and jet_separation != "map":
            raise ConfigError("jet3_reference = 'j1j2' needs jet_separation = 'map' (it closes both holes)")
        if (jet_separation == "map" or jet3_reference != "j1") and (
            coordinates != "physics" or jet_eta != "relative"
        ):
            raise ConfigError(
                "jet_separation = 'map' and jet3_reference 'j2' or 'j1j2' need coordinates = 'physics' and "
                "jet_eta = 'relative' (jet positions relative to another jet)"
            )
        if not 0 < jet_radius < np.pi:
            raise ConfigError(f"jet_radius must lie in (0, π); got {jet_radius!r}")
        self.balance = balance
        self.jet_eta = jet_eta
        self.jet_separation = jet_separation
        self.jet3_reference = jet3_reference
        self.jet_radius = float(jet_radius)
        if not 0 <= separation_equalize <= np.pi or (separation_equalize > 0 and jet_separation != "map"):
            raise ConfigError(
                "separation_equalize must lie in [0, π] (0: off) and needs jet_separation = 'map'; "
                f"got {separation_equalize!r} with jet_separation {jet_separation!r}"
            )
        self.separation_equalize = float(separation_equalize)
        if not jet_eta_bound >= 0:
            raise ConfigError(f"jet_eta_bound must be ≥ 0 (0: off); got {jet_eta_bound!r}")
        self.jet_eta_bound = float(jet_eta_bound)
        if not jet_eta_edge_width >= 0 or (
            jet_eta_edge_width > 0 and (self.jet_eta_bound <= 0 or jet_eta != "relative")
        ):
            raise ConfigError(
                "jet_eta_edge_width must be ≥ 0 (0: off) and needs jet_eta_bound > 0 and "
                f"jet_eta = 'relative'; got {jet_eta_edge_width!r} with jet_eta_bound "
                f"{self.jet_eta_bound!r}, jet_eta {jet_eta!r}"
            )
        self.jet_eta_edge_width = float(jet_eta_edge_width)
        if angular_coefficients and coordinates != "physics":
            raise ConfigError("angular_coefficients needs coordinates = 'physics' (the decay angles)")
        self.angular_coefficients = bool(angular_coefficients)
        if angular_fit not in FIT_METHODS:
            raise ConfigError(f"angular_fit must be one of {list(FIT_METHODS)}; got {angular_fit!r}")
        self.angular_fit = angular_fit
        if balance_harmonics and coordinates != "physics":
            raise ConfigError("balance_harmonics needs coordinates = 'physics' (the balance columns)")
        self.balance_harmonics = bool(balance_harmonics)
        if balance_recoil and not balance_harmonics:
            raise ConfigError(
                "balance_recoil needs balance_harmonics = true (it adds terms to its harmonics)"
            )
        self.balance_recoil = bool(balance_recoil)
        self.jet_pt_order = bool(jet_pt_order)
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
            return ZJetsPhysicsFeatures(n, self.muon_mass, charged=self.charged, frame=self.decay_frame)
        return ZJetsFeatures(n, self.muon_mass)

    def make_chain(self, n: int) -> Chain:
        """An unfitted chain for ``n`` jets."""
        f = self.features(n)
        physics: list[Any] = []
        angular: list[Any] = []
        if self.coordinates == "physics" and self.angular_coefficients:
            angular = [AngularCoefficients.for_features(f, fit=self.angular_fit)]
        if self.coordinates == "physics" and self.balance_harmonics:
            # after the decay angles' step, which reads q_T from the balance as measured
            angular.append(BalanceHarmonics.for_features(f, recoil=self.balance_recoil))
        if self.coordinates == "physics":
            physics = [
                AtanhScale(f.columns("breit_wigner"), scale=np.pi / 2),
                AtanhScale(f.columns("cos_theta"), scale=1.0),
                # polar: the angle from the direction opposite the leading jet, so its cut at
                # ±π lies along the jet, where the balance points least often
                LogPolar(f.columns("balance"), reference=np.pi)
                if self.balance == "polar"
                else AsinhScale(f.columns("balance"), scale=self.balance_scale),
            ]
        relative = self._relative_positions(f, n)
        jet_pt = f.columns("jet_pt")
        ordering = []
        if self.jet_pt_order and len(jet_pt) >= 2:
            ordering = [PtOrdering(jet_pt, minimum=self.jet_pt_min)]
            jet_pt = jet_pt[:1]  # the further jets' p_T are mapped by the ordering step
        log_cols = f.columns("muon_pt") + jet_pt
        minima = [self.muon_pt_min] * len(f.columns("muon_pt")) + [self.jet_pt_min] * len(jet_pt)
        if self.jet_mass_shift is not None:
            log_cols += f.columns("jet_mass")
            minima += [-self.jet_mass_shift] * len(f.columns("jet_mass"))
        order = np.argsort(log_cols)
        steps = [
            *angular,
            *relative,
            *self._eta_bound(f),
            *ordering,
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

    def _bounded_eta_columns(self, f: Any) -> list[int]:
        """The ``η`` columns that ``jet_eta_bound`` maps: the leading jet's, or every jet's when absolute."""
        if self.jet_eta_bound <= 0:
            return []
        if self.jet_eta == "relative":
            return [f.names.index("j1_eta")]
        return [i for i, name in enumerate(f.names) if name.startswith("j") and name.endswith("_eta")]

    def _eta_bound(self, f: Any) -> list[Any]:
        """``atanh(η/η_max)`` on the bounded columns (after the relative steps read ``η_1``)."""
        cols = self._bounded_eta_columns(f)
        return [AtanhScale(cols, scale=self.jet_eta_bound)] if cols else []

    def _relative_positions(self, f: Any, n: int) -> list[Any]:
        """The steps that put jets 2 and 3 relative to a jet before them (and close the hole)."""
        if self.jet_eta != "relative" or n < 2:
            return []
        eta = {k: f.names.index(f"j{k}_eta") for k in range(1, n + 1)}
        dphi = {k: f.names.index(f"j{k}_dphi") for k in range(2, n + 1)}
        steps: list[Any] = []
        to_j1 = [eta[k] for k in range(2, n + 1)]
        if n >= 3 and self.jet3_reference == "j2":
            # first jet 3 from jet 2 (while column j2_eta still holds η_2), then jet 2 from jet 1
            steps += [
                RelativeTo([eta[3]], reference=eta[2]),
                RelativeTo([dphi[3]], reference=dphi[2], period=2 * np.pi),
            ]
            to_j1 = [eta[2]]
        steps.append(RelativeTo(to_j1, reference=eta[1]))
        if self.jet_eta_edge_width > 0:
            # before the separation maps: the stretch never brings two jets closer
            steps.append(
                AcceptanceEdge(
                    to_j1,
                    reference=eta[1],
                    bound=self.jet_eta_bound,
                    width=self.jet_eta_edge_width,
                    keep=self.jet_radius,
                )
            )
        if self.jet_separation == "map":
            pairs = [[eta[k], dphi[k]] for k in range(2, n + 1)]
            if n >= 3 and self.jet3_reference == "j1j2":
                # before jet 2's own map, so that both directions see jet 2 where it is
                steps.append(ThirdJetSeparation(pairs[1], pairs[0], radius=self.jet_radius))
                if self.separation_equalize > 0:
                    steps.append(ThirdJetEqualize(pairs[1], pairs[0], radius=self.jet_radius))
                pairs = pairs[:1]
            steps.append(SeparationMap(pairs, radius=self.jet_radius))
            if self.separation_equalize > 0:
                steps.append(RadialEqualize(pairs, radius=self.separation_equalize))
        return steps

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
        cols = self._bounded_eta_columns(f)
        if self.jet_eta_edge_width > 0:
            cols = [i for i, name in enumerate(f.names) if name.startswith("j") and name.endswith("_eta")]
        if cols and np.abs(x[:, cols]).max() >= self.jet_eta_bound:
            raise InputError(
                f"{source}: a jet at |η| = {np.abs(x[:, cols]).max():.4g} lies on or beyond "
                f"jet_eta_bound = {self.jet_eta_bound}; raise preprocessing.jet_eta_bound above the "
                "sample's jet acceptance (or set it to 0)"
            )
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
        pts = x[:, f.columns("jet_pt")]
        if self.jet_pt_order and n >= 2 and (pts[:, 1:] > pts[:, :-1]).any():
            row = int(np.nonzero((pts[:, 1:] > pts[:, :-1]).any(axis=1))[0][0])
            raise InputError(
                f"{source}: jets not in decreasing p_T ({n}-jet event {row}: p_T = {np.round(pts[row], 4).tolist()} GeV); "
                "jet_pt_order needs ordered jets: sort them, or set preprocessing.jet_pt_order = false"
            )

    # -- mapping ------------------------------------------------------------------
    def forward(
        self, x: np.ndarray, n: int, dequantize: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Features of ``n``-jet events → network space, with ``log |det ∂y/∂x|``
        (``dequantize``: spread point masses, for training inputs; :meth:`Chain.forward`)."""
        return self._chain(n).forward(x, dequantize)

    def inverse(self, y: np.ndarray, n: int) -> np.ndarray:
        """Network space → features of ``n``-jet events."""
        return self._chain(n).inverse(y)

    def encode(
        self, events: ak.Array, source: str = "events", dequantize: np.random.Generator | None = None
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per multiplicity: ``(y, index)``, the network-space points and their event indices
        (``dequantize``: spread point masses, for training inputs)."""
        counts = n_jets(events)
        out = {}
        for n in self.multiplicities:
            index = np.flatnonzero(counts == n)
            if len(index):
                y, _ = self.forward(self.features(n).to_features(events[index], source), n, dequantize)
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
            "balance": self.balance,
            "jet_eta": self.jet_eta,
            "jet_separation": self.jet_separation,
            "jet3_reference": self.jet3_reference,
            "jet_radius": self.jet_radius,
            "separation_equalize": self.separation_equalize,
            "jet_eta_bound": self.jet_eta_bound,
            "jet_eta_edge_width": self.jet_eta_edge_width,
            "angular_coefficients": self.angular_coefficients,
            "angular_fit": self.angular_fit,
            "balance_harmonics": self.balance_harmonics,
            "balance_recoil": self.balance_recoil,
            "jet_pt_order": self.jet_pt_order,
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
        # files written before these were choices: the pure boost, the balance's components,
        # absolute jet η (the defaults of the constructor, spelt out so that changing them
        # never changes an old run)
        old = {
            "decay_frame": "boost",
            "balance": "cartesian",
            "jet_eta": "absolute",
            "jet_separation": "none",
            "angular_fit": "moments",
        }
        pre = cls(**{**old, **spec["params"]})
        pre.muon_mass = float(spec["muon_mass"])
        pre.charged = bool(spec.get("charged", True))
        for key, steps in spec["chains"].items():
            prefix = f"n{key}."
            mine = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            pre.chains[int(key)] = Chain.from_state(steps, mine)
        return pre
