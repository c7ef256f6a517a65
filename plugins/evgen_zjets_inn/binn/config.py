"""Options of the ``binn`` generator: the ``zjets-inn`` options plus ``[bayes]`` and ``[augmentation]``.

Defaults are the BINN column of Table 1 of Precision Enthusiasts (arXiv:2110.13632):
20 coupling blocks with 6 layers per subnet, one-cycle learning rate from 1e-5 up
to 1e-4, batch size 3072, magic transformation on. Everything else (preprocessing,
data, the additional-jet networks) is read exactly as for ``zjets-inn``
(:class:`evgen_zjets_inn.config.ZJetsINNConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from evgen.training.config import TrainConfig, invalid
from evgen_zjets_inn.config import NetConfig, ZJetsINNConfig

__all__ = ["BayesConfig", "AugmentationConfig", "BINNConfig", "NUISANCES"]

#: Nuisance weights the config can name (Python users pass any :class:`evgen.physics.augmentation.NuisanceWeight`).
NUISANCES = ("pt_j1_tail",)


@dataclass(frozen=True)
class BayesConfig:
    """Bayesian layers (Sec. 4.1; :class:`evgen.nn.bayesian.BayesianLinear`).

    Parameters
    ----------
    prior_std
        Width of the Gaussian weight prior.
    prior
        ``"fixed"`` (width ``prior_std``) or ``"empirical"`` (each layer's width fitted by
        empirical Bayes, :class:`evgen.nn.bayesian.BayesianLinear`).
    log_sigma2_init
        Initial log-variance of every weight.
    bias
        ``"bayesian"`` or ``"deterministic"`` subnet biases.
    kl_weight
        Factor on the KL term (1: the evidence lower bound).
    draws
        Default number of weight draws for uncertainty bands.
    """

    prior_std: float = 1.0
    prior: str = "fixed"
    log_sigma2_init: float = -9.0
    bias: str = "bayesian"
    kl_weight: float = 1.0
    draws: int = 30

    def __post_init__(self) -> None:
        if not self.prior_std > 0:
            raise invalid("prior_std", self.prior_std, "must be positive")
        if self.prior not in ("fixed", "empirical"):
            raise invalid("prior", self.prior, "expected 'fixed' or 'empirical'")
        if self.bias not in ("bayesian", "deterministic"):
            raise invalid("bias", self.bias, "expected 'bayesian' or 'deterministic'")
        if self.kl_weight < 0:
            raise invalid("kl_weight", self.kl_weight, "must be non-negative")
        if self.draws < 2:
            raise invalid("draws", self.draws, "must be at least 2")


@dataclass(frozen=True)
class AugmentationConfig:
    """Conditional augmentation with a nuisance parameter (Sec. 4.2, Eq. 23).

    Parameters
    ----------
    enabled
        Train conditionally on the nuisance parameter ``a``.
    nuisance
        The weight function; ``"pt_j1_tail"`` is Eq. (23).
    a_min, a_max, step
        Training grid of ``a`` (0 … 30 in steps of one); each epoch every event gets a
        random grid value.
    offset, scale
        Eq. (23): ``w = 1 + a ((p_T,j1 − offset)/scale)²`` in GeV (15, 100).
    """

    enabled: bool = False
    nuisance: str = "pt_j1_tail"
    a_min: float = 0.0
    a_max: float = 30.0
    step: float = 1.0
    offset: float = 15.0
    scale: float = 100.0

    def __post_init__(self) -> None:
        if self.nuisance not in NUISANCES:
            raise invalid("nuisance", self.nuisance, f"expected one of {list(NUISANCES)}")
        if not self.step > 0 or self.a_max < self.a_min or self.a_min < 0:
            raise invalid("a_max", self.a_max, "need 0 <= a_min <= a_max and step > 0")
        if not self.scale > 0:
            raise invalid("scale", self.scale, "must be positive (GeV)")


def _binn_base() -> NetConfig:
    return NetConfig(blocks=20, layers=6)


def _binn_training() -> TrainConfig:
    return TrainConfig(batch_size=3072, lr_start=1e-5, lr_max=1e-4)


@dataclass(frozen=True)
class BINNConfig(ZJetsINNConfig):
    """All options of ``binn``; ``BINNConfig.from_mapping(toml_dict)`` validates them."""

    base: NetConfig = field(default_factory=_binn_base)
    training: TrainConfig = field(default_factory=_binn_training)
    bayes: BayesConfig = field(default_factory=BayesConfig)
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        for key, what in (("marginals", "marginal"), ("recoil", "recoil")):
            if getattr(self.calibration, key):
                # it would pin every weight draw's marginals to the training sample's: the spread
                # between the draws, which is what a BINN is for, would be hidden
                raise invalid(
                    f"calibration.{key}",
                    True,
                    f"not for binn: the {what} calibration would hide the spread between weight draws",
                )
