"""Options of the ``zjets-inn`` generator, read from a TOML/JSON config.

Sections: top-level ``seed``; ``[base]`` (the μμj network) and ``[jets]`` (the
small networks for the 2nd and 3rd jet); ``[training]``
(:class:`evgen.training.TrainConfig`); ``[magic]`` (:class:`evgen.physics.magic.MagicTransform`);
``[mass_step]`` (:class:`evgen.mass_step.MassStep`);
``[preprocessing]``; ``[reflection]`` (:class:`ReflectionConfig`); ``[calibration]``
(:class:`CalibrationConfig`); ``[data]``. Defaults are Table 1 of Precision Enthusiasts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evgen.mass_step import MassStep
from evgen.physics.magic import MagicTransform
from evgen.preprocessing.angular import FIT_METHODS as ANGULAR_FITS
from evgen.preprocessing.resonance import DECAY_FRAMES
from evgen.preprocessing.zjets import (
    BALANCE_FORMS,
    COORDINATES,
    JET3_REFERENCES,
    JET_ETA_FORMS,
    JET_SEPARATION_FORMS,
    MULTIPLICITIES,
    ZJetsPreprocessing,
    open_pair_mask,
)
from evgen.training.config import TrainConfig, from_mapping, invalid, to_dict

__all__ = [
    "NetConfig",
    "PreprocessingConfig",
    "ReflectionConfig",
    "CalibrationConfig",
    "DataConfig",
    "ZJetsINNConfig",
    "SPLINES",
    "MIRRORS",
    "stored_config",
]

SPLINES = ("cubic", "rational-quadratic")
#: Which networks train on the azimuthal mirror images (``[reflection] mirror``).
MIRRORS = ("none", "jets", "all")


@dataclass(frozen=True)
class NetConfig:
    """One conditional spline INN (Table 1: 25 blocks, 60 bins, 3 layers; cubic splines).

    Parameters
    ----------
    blocks
        Coupling blocks.
    bins
        Spline bins per block.
    hidden
        Width of the subnet layers (the paper does not quote one; 256 here).
    layers
        Hidden layers per subnet.
    spline
        ``"cubic"`` (the paper's) or ``"rational-quadratic"``.
    bound
        Splines act on ``[−bound, bound]``, identity outside (10 in the paper).
    dropout
        Dropout in the subnets.
    epochs
        Epochs of this network (the jet networks: both); unset, ``[training] epochs``. The
        jet networks are small and cheap (a quarter of the base network's time per epoch in
        the CPU recipe), so they can train longer within the same wall-clock budget.
    """

    blocks: int = 25
    bins: int = 60
    hidden: int = 256
    layers: int = 3
    spline: str = "cubic"
    bound: float = 10.0
    dropout: float = 0.0
    epochs: int | None = None

    def __post_init__(self) -> None:
        if self.epochs is not None and (
            isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1
        ):
            raise invalid("epochs", self.epochs, "must be an integer ≥ 1 (or unset: [training] epochs)")
        for name, minimum in (("blocks", 1), ("bins", 2), ("hidden", 1), ("layers", 1)):
            if getattr(self, name) < minimum:
                raise invalid(name, getattr(self, name), f"must be an integer ≥ {minimum}")
        if self.spline not in SPLINES:
            raise invalid("spline", self.spline, f"expected one of {list(SPLINES)}")
        if not self.bound > 0:
            raise invalid("bound", self.bound, "must be positive")
        if not 0 <= self.dropout < 1:
            raise invalid("dropout", self.dropout, "must lie in [0, 1)")


@dataclass(frozen=True)
class PreprocessingConfig:
    """Options of :class:`evgen.preprocessing.ZJetsPreprocessing` (Sec. 2.1).

    Parameters
    ----------
    jet_pt_min
        Jet threshold of Eq. (2): jets enter as ``log(p_T − jet_pt_min)``.
    muon_pt_min
        Muons enter as ``log(p_T − muon_pt_min)``; 0 (``log p_T``) because the sample has no muon cut.
    jet_mass
        ``"log"``: ``log(m + jet_mass_shift)``; ``"linear"``: plain standardisation (the paper's).
    jet_mass_shift
        Shift in GeV of the jet-mass log.
    whitening
        ``"cholesky"``, ``"pca"`` or ``"none"``.
    coordinates
        ``"physics"`` (default): Breit–Wigner-mapped dimuon mass, dimuon rapidity, decay
        angles and the transverse-momentum balance (:mod:`evgen.preprocessing.zjets_physics`);
        ``"particles"``: the paper's ``p_T, η, Δφ, m`` per object (reproduces Sec. 2.1).
    balance_scale
        GeV scale of the ``asinh`` compression of the balance (physics coordinates).
    decay_frame
        Rest frame of the decay angles (physics coordinates): ``"collins-soper"`` (default) or
        ``"boost"`` (pure boost along the dimuon momentum; runs written before the choice);
        :mod:`evgen.preprocessing.resonance`.
    gaussianize
        Map every column's marginal onto a standard normal before whitening
        (:class:`evgen.preprocessing.steps.Gaussianize`).
    balance
        ``"cartesian"`` (``asinh`` of the two components) or ``"polar"`` (``log |B|`` and its
        angle, :class:`evgen.preprocessing.steps.LogPolar`; physics coordinates).
    jet_eta
        ``"absolute"`` or ``"relative"`` (``η_k − η_1`` for the further jets).
    jet_separation
        ``"none"`` or ``"map"``: close the ``ΔR < jet_radius`` hole around the reference jet
        in the coordinates (:class:`evgen.preprocessing.steps.SeparationMap`); the magic
        transform then weights only the remaining pair (2, 3) or (1, 3) of 3-jet events.
    jet3_reference
        ``"j1"`` or ``"j2"``: the jet that jet 3's position is measured from; ``"j1j2"``: the
        midpoint of jets 1 and 2, with both of jet 3's holes closed where jets 1 and 2 are at
        least ``3 · jet_radius`` apart (:class:`evgen.preprocessing.third_jet.ThirdJetSeparation`;
        needs ``jet_separation = "map"``).
    jet_radius
        The jet algorithm's ``R`` for the map.
    separation_equalize
        ``ρ`` of :class:`evgen.preprocessing.radial.RadialEqualize` (0: off; needs
        ``jet_separation = "map"``): the mapped jets' radial density within ``ρ`` of the
        reference jet equalised onto a smooth profile (the collinear peak's ring removed).
    jet_eta_bound
        The sample's jet acceptance ``|η| < η_max`` (0: off): the leading jet's ``η`` enters as
        ``atanh(η_1/η_max)``, so the flow sees no hard edge there.
    jet_eta_edge_width
        ``w`` (0: off; needs ``jet_eta_bound`` and ``jet_eta = "relative"``): the further jets'
        ``Δη`` within ``w`` of their own edges ``|η_1 + Δη| = η_max`` stretched onto a half-line
        (:class:`evgen.preprocessing.acceptance.AcceptanceEdge`), so those edges lie at infinity too.
    angular_coefficients
        Factor the decay angles' distribution out with its angular coefficients ``A_0…A_7(q_T, y)``
        (:class:`evgen.preprocessing.angular.AngularCoefficients`; physics coordinates).
    angular_fit
        How those coefficients are fitted: ``"likelihood"`` (maximum likelihood of the training
        sample: right under the muons' acceptance, where the moments are biased) or
        ``"moments"`` (the moments' least squares, as runs before this option).
    balance_harmonics
        Factor the balance direction's dependence on ``|B|`` and ``p_T,j1`` out with its
        azimuthal harmonics (:class:`evgen.preprocessing.recoil.BalanceHarmonics`; physics
        coordinates).
    balance_recoil
        With ``balance_harmonics``: the harmonics also depend on the direction of the jets'
        vector sum, with two or more jets (the ``recoil`` terms of
        :class:`evgen.preprocessing.recoil.BalanceHarmonics`).
    jet_pt_order
        The further jets' ``p_T`` between the threshold and the jet before them, through a
        logit (:class:`evgen.preprocessing.ordering.PtOrdering`): generated jets stay ordered.
    """

    jet_pt_min: float = 20.0
    muon_pt_min: float = 0.0
    jet_mass: str = "log"
    jet_mass_shift: float = 1.0
    whitening: str = "cholesky"
    coordinates: str = "physics"
    balance_scale: float = 10.0
    decay_frame: str = "collins-soper"
    gaussianize: bool = False
    balance: str = "cartesian"
    jet_eta: str = "absolute"
    jet_separation: str = "none"
    jet3_reference: str = "j1"
    jet_radius: float = 0.4
    separation_equalize: float = 0.0
    jet_eta_bound: float = 0.0
    jet_eta_edge_width: float = 0.0
    angular_coefficients: bool = False
    angular_fit: str = "likelihood"
    balance_harmonics: bool = False
    balance_recoil: bool = False
    jet_pt_order: bool = False

    def __post_init__(self) -> None:
        if self.coordinates not in COORDINATES:
            raise invalid("coordinates", self.coordinates, f"expected one of {list(COORDINATES)}")
        if self.decay_frame not in DECAY_FRAMES:
            raise invalid("decay_frame", self.decay_frame, f"expected one of {list(DECAY_FRAMES)}")
        if not self.balance_scale > 0:
            raise invalid("balance_scale", self.balance_scale, "must be positive (GeV)")
        if self.balance not in BALANCE_FORMS:
            raise invalid("balance", self.balance, f"expected one of {list(BALANCE_FORMS)}")
        if self.balance == "polar" and self.coordinates != "physics":
            raise invalid("balance", self.balance, "needs coordinates = 'physics'")
        if self.jet_eta not in JET_ETA_FORMS:
            raise invalid("jet_eta", self.jet_eta, f"expected one of {list(JET_ETA_FORMS)}")
        if self.jet_separation not in JET_SEPARATION_FORMS:
            raise invalid(
                "jet_separation", self.jet_separation, f"expected one of {list(JET_SEPARATION_FORMS)}"
            )
        if self.jet3_reference not in JET3_REFERENCES:
            raise invalid("jet3_reference", self.jet3_reference, f"expected one of {list(JET3_REFERENCES)}")
        if self.jet3_reference == "j1j2" and self.jet_separation != "map":
            raise invalid("jet3_reference", self.jet3_reference, "needs jet_separation = 'map'")
        if self.jet3_reference == "j1j2" and not self.jet_radius < math.pi / 2:
            raise invalid("jet_radius", self.jet_radius, "must lie in (0, π/2) with jet3_reference = 'j1j2'")
        if (self.jet_separation == "map" or self.jet3_reference != "j1") and (
            self.coordinates != "physics" or self.jet_eta != "relative"
        ):
            what = "jet_separation" if self.jet_separation == "map" else "jet3_reference"
            raise invalid(what, getattr(self, what), "needs coordinates = 'physics' and jet_eta = 'relative'")
        if not 0 < self.jet_radius < math.pi:
            raise invalid("jet_radius", self.jet_radius, "must lie in (0, π)")
        if not 0 <= self.separation_equalize <= math.pi:
            raise invalid("separation_equalize", self.separation_equalize, "must lie in [0, π] (0: off)")
        if self.separation_equalize > 0 and self.jet_separation != "map":
            raise invalid("separation_equalize", self.separation_equalize, "needs jet_separation = 'map'")
        if not (isinstance(self.jet_eta_bound, (int, float)) and self.jet_eta_bound >= 0):
            raise invalid("jet_eta_bound", self.jet_eta_bound, "must be ≥ 0 (0: off), e.g. the sample's 5.0")
        if not (isinstance(self.jet_eta_edge_width, (int, float)) and self.jet_eta_edge_width >= 0):
            raise invalid("jet_eta_edge_width", self.jet_eta_edge_width, "must be ≥ 0 (0: off), e.g. 4.0")
        if self.jet_eta_edge_width > 0 and (self.jet_eta_bound <= 0 or self.jet_eta != "relative"):
            raise invalid(
                "jet_eta_edge_width",
                self.jet_eta_edge_width,
                "needs jet_eta_bound > 0 and jet_eta = 'relative'",
            )
        if self.angular_coefficients and self.coordinates != "physics":
            raise invalid("angular_coefficients", self.angular_coefficients, "needs coordinates = 'physics'")
        if self.angular_fit not in ANGULAR_FITS:
            raise invalid("angular_fit", self.angular_fit, f"expected one of {list(ANGULAR_FITS)}")
        if self.balance_harmonics and self.coordinates != "physics":
            raise invalid("balance_harmonics", self.balance_harmonics, "needs coordinates = 'physics'")
        if self.balance_recoil and not self.balance_harmonics:
            raise invalid("balance_recoil", self.balance_recoil, "needs balance_harmonics = true")
        if self.jet_mass not in ("log", "linear"):
            raise invalid("jet_mass", self.jet_mass, "expected 'log' or 'linear'")
        if not self.jet_mass_shift > 0:
            raise invalid("jet_mass_shift", self.jet_mass_shift, "must be positive (GeV)")
        if self.whitening not in ("cholesky", "pca", "none"):
            raise invalid("whitening", self.whitening, "expected 'cholesky', 'pca' or 'none'")
        if self.muon_pt_min < 0:
            raise invalid("muon_pt_min", self.muon_pt_min, "must be ≥ 0 GeV")

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~evgen.preprocessing.ZJetsPreprocessing`."""
        return {
            "jet_pt_min": self.jet_pt_min,
            "muon_pt_min": self.muon_pt_min,
            "jet_mass_shift": self.jet_mass_shift if self.jet_mass == "log" else None,
            "whitening": self.whitening,
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

    def open_pair_mask(self, pair_dr: Any) -> Any:
        """Per event and jet pair of a ``(N, pairs)`` ΔR matrix: is its hole left to the magic
        transform (:func:`evgen.preprocessing.zjets.open_pair_mask`)?"""
        return open_pair_mask(pair_dr, self.jet_separation, self.jet3_reference, self.jet_radius)


@dataclass(frozen=True)
class ReflectionConfig:
    """The beam reflection ``(η, φ) → (−η, −φ)`` of every particle (:mod:`evgen.physics.reflection`).

    An exact symmetry of proton–proton collisions (a rotation by π about an axis
    perpendicular to the beams).

    Parameters
    ----------
    training
        Join every training (and validation) event by its reflection: twice the events
        per epoch (halve the epochs for the same time).
    generation
        Reflect each generated event with probability ½, so the generated density is
        the symmetrised ``½ [p(x) + p(Rx)]`` (``log_prob`` returns that density too).
    mirror
        The azimuthal mirror ``φ → −φ`` as well (:func:`evgen.physics.reflection.mirror`, a
        symmetry of the sample to its precision, not an exact one of the electroweak theory):
        ``"jets"`` joins the jet networks' training rows by their mirror images (with
        ``training``), ``"all"`` every network's; either mirrors each generated event with
        probability ½ (with ``generation``). ``"none"``: off.
    """

    training: bool = False
    generation: bool = False
    mirror: str = "none"

    def __post_init__(self) -> None:
        if self.mirror not in MIRRORS:
            raise invalid("mirror", self.mirror, f"must be one of {list(MIRRORS)}")


@dataclass(frozen=True)
class CalibrationConfig:
    """The marginal calibration fitted after training (:mod:`evgen.preprocessing.calibration`).

    Each network's samples are compared with its training rows column by column, just before
    the whitening, and a quantile map moves the samples' marginals onto the training data's;
    the dependence between the columns stays the network's. It is a step of the fitted
    preprocessing, so ``log_prob`` includes its Jacobian.

    Parameters
    ----------
    marginals
        Fit the calibration at the end of training.
    multiplicities
        The jet multiplicities whose networks are calibrated.
    samples
        Network samples per multiplicity to fit the model's quantiles.
    bins
        Quantile knots per column (:class:`~evgen.preprocessing.steps.Gaussianize`).
    recoil
        Also calibrate the Z's ``p_T`` relative to the jets, ``t = |B⃗ − H⃗|/|H⃗|``, a quantity no
        column holds (:class:`evgen.preprocessing.recoil_calibration.RecoilCalibration`; physics
        coordinates): the Sudakov suppression of ``t → 0`` the network smooths away.
    recoil_bins
        Quantile levels of that map.
    recoil_jet_bins
        Quantile bins of the jets' ``|Σ p⃗_T|`` it is fitted in (the map depends on it smoothly).
    conditional
        ``[[column, given], …]`` feature names (e.g. ``["j2_pt", "j1_pt"]``): each column's
        distribution given the other quantile-mapped onto the training data's, just before the
        whitening (:class:`evgen.preprocessing.calibration.ConditionalCalibration`), in every
        calibrated multiplicity that has both columns.
    conditional_bins, conditional_given_bins
        Its quantile levels, and the quantile bins of the given column.
    """

    marginals: bool = False
    multiplicities: tuple[int, ...] = (1, 2, 3)
    samples: int = 500_000
    bins: int = 128
    recoil: bool = False
    recoil_bins: int = 32
    recoil_jet_bins: int = 4
    conditional: tuple[tuple[str, str], ...] = ()
    conditional_bins: int = 32
    conditional_given_bins: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "multiplicities", tuple(self.multiplicities))
        if not self.multiplicities or not set(self.multiplicities) <= {1, 2, 3}:
            raise invalid(
                "multiplicities", list(self.multiplicities), "must be a non-empty subset of [1, 2, 3]"
            )
        if self.samples < 1000:
            raise invalid("samples", self.samples, "must be at least 1000 network samples")
        if self.bins < 2:
            raise invalid("bins", self.bins, "must be at least 2")
        if self.recoil_bins < 2:
            raise invalid("recoil_bins", self.recoil_bins, "must be at least 2")
        if self.recoil_jet_bins < 1:
            raise invalid("recoil_jet_bins", self.recoil_jet_bins, "must be at least 1")
        pairs = self.conditional
        if not all(
            isinstance(pair, (list, tuple))
            and len(pair) == 2
            and all(isinstance(c, str) for c in pair)
            and pair[0] != pair[1]
            for pair in pairs
        ):
            raise invalid(
                "conditional",
                pairs,
                'must be [[column, given], …] of two distinct feature names, e.g. [["j2_pt", "j1_pt"]]',
            )
        object.__setattr__(self, "conditional", tuple(tuple(pair) for pair in pairs))
        if self.conditional_bins < 2:
            raise invalid("conditional_bins", self.conditional_bins, "must be at least 2")
        if self.conditional_given_bins < 1:
            raise invalid("conditional_given_bins", self.conditional_given_bins, "must be at least 1")


@dataclass(frozen=True)
class DataConfig:
    """How training files are read and split.

    Parameters
    ----------
    tree
        TTree name.
    layout
        Branch mapping for :func:`evgen.io.read_events` (``[data.layout.Muon]``,
        ``[data.layout.Jet]``, ``weight``); NanoAOD names when omitted.
    max_events
        Read at most this many events (all when omitted).
    drop_invalid
        Drop events without exactly 2 muons and 1–3 jets (and report how many)
        instead of failing.
    validation_fraction
        Share of events held out to monitor the validation loss.
    per_group
        Events drawn per jet multiplicity and epoch for the balanced training of
        Sec. 2.2 (default: the size of the smallest multiplicity).
    """

    tree: str = "Events"
    layout: dict[str, Any] | None = None
    max_events: int | None = None
    drop_invalid: bool = False
    validation_fraction: float = 0.1
    per_group: int | None = None

    def __post_init__(self) -> None:
        if self.max_events is not None and self.max_events < 1:
            raise invalid("max_events", self.max_events, "must be a positive number of events")
        if not 0 <= self.validation_fraction < 0.9:
            raise invalid("validation_fraction", self.validation_fraction, "must lie in [0, 0.9)")
        if self.per_group is not None and self.per_group < 1:
            raise invalid("per_group", self.per_group, "must be positive")
        if self.layout is not None:
            from evgen.io import Layout

            Layout.from_mapping(self.layout)  # raises ConfigError naming the bad entry


def _jets_default() -> NetConfig:
    return NetConfig(blocks=10, hidden=128)


@dataclass(frozen=True)
class ZJetsINNConfig:
    """All options of ``zjets-inn``; ``ZJetsINNConfig.from_mapping(toml_dict)`` validates them."""

    seed: int = 0
    base: NetConfig = field(default_factory=NetConfig)
    jets: NetConfig = field(default_factory=_jets_default)
    training: TrainConfig = field(default_factory=TrainConfig)
    magic: MagicTransform = field(default_factory=MagicTransform)
    mass_step: MassStep = field(default_factory=MassStep)
    preprocessing: PreprocessingConfig = field(default_factory=PreprocessingConfig)
    reflection: ReflectionConfig = field(default_factory=ReflectionConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise invalid("seed", self.seed, "must be a non-negative integer")
        if self.calibration.recoil and self.preprocessing.coordinates != "physics":
            raise invalid("calibration.recoil", True, "needs preprocessing.coordinates = 'physics'")
        if self.calibration.conditional:
            pre = ZJetsPreprocessing(**self.preprocessing.kwargs())
            names = {name for n in MULTIPLICITIES for name in pre.features(n).names}
            unknown = sorted({c for pair in self.calibration.conditional for c in pair} - names)
            if unknown:
                raise invalid(
                    "calibration.conditional",
                    [list(pair) for pair in self.calibration.conditional],
                    f"no feature named {unknown[0]!r} in these coordinates; the features are {sorted(names)}",
                )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> ZJetsINNConfig:
        return from_mapping(cls, dict(mapping or {}))

    def to_dict(self) -> dict[str, Any]:
        out = to_dict(self)
        if out["data"]["layout"] is None:
            del out["data"]["layout"]
        return {
            k: ({kk: vv for kk, vv in v.items() if vv is not None} if isinstance(v, dict) else v)
            for k, v in out.items()
        }


def stored_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config read from a run directory, completed with the defaults it was trained under.

    Runs written before ``[preprocessing] coordinates`` existed used the paper's ``particles``,
    those written before ``decay_frame`` existed the pure ``boost``.
    """
    pre = dict(config.get("preprocessing", {}))
    pre.setdefault("coordinates", "particles")
    pre.setdefault("decay_frame", "boost")
    pre.setdefault("gaussianize", False)
    pre.setdefault("balance", "cartesian")
    pre.setdefault("jet_eta", "absolute")
    pre.setdefault("jet_separation", "none")
    return {**config, "preprocessing": pre}
