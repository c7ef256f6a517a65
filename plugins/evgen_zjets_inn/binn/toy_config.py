"""Options of the ``toy-binn`` generator (a Bayesian spline INN for toy points).

Sections: top-level ``seed``, ``bayesian``, ``prior_std``, ``log_sigma2_init``;
``[net]`` (the :class:`~evgen.nn.ConditionalINN`); ``[training]``
(:class:`evgen.training.TrainConfig`). Defaults are small: a camel back trains in
seconds on one CPU core.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evgen.training.config import TrainConfig, from_mapping, invalid, to_dict

__all__ = ["ToyNetConfig", "ToyBINNConfig"]


@dataclass(frozen=True)
class ToyNetConfig:
    """Shape of the toy flow: ``blocks`` spline couplings with ``bins`` bins, subnets ``layers`` x ``hidden``."""

    blocks: int = 4
    bins: int = 16
    hidden: int = 32
    layers: int = 2
    spline: str = "rational-quadratic"
    bound: float = 6.0

    def __post_init__(self) -> None:
        for name, minimum in (("blocks", 1), ("bins", 2), ("hidden", 1), ("layers", 1)):
            if getattr(self, name) < minimum:
                raise invalid(name, getattr(self, name), f"must be an integer >= {minimum}")
        if self.spline not in ("cubic", "rational-quadratic"):
            raise invalid("spline", self.spline, "expected 'cubic' or 'rational-quadratic'")
        if not self.bound > 0:
            raise invalid("bound", self.bound, "must be positive")


def _toy_training() -> TrainConfig:
    return TrainConfig(epochs=300, batch_size=256, lr_start=3e-4, lr_max=3e-3)


@dataclass(frozen=True)
class ToyBINNConfig:
    """All options of ``toy-binn``.

    Parameters
    ----------
    seed
        Seeds the initialisation, the data order and the rotations.
    bayesian
        Bayesian subnets (:class:`evgen.nn.bayesian.BayesianLinear`); ``false`` gives the
        deterministic INN (used for deep ensembles and bootstraps).
    prior_std
        Width of the Gaussian weight prior.
    prior
        ``"fixed"`` (width ``prior_std``) or ``"empirical"`` (each layer's prior width fitted
        by empirical Bayes, :class:`evgen.nn.bayesian.BayesianLinear`).
    log_sigma2_init
        Initial log-variance of every weight.
    kl_weight
        Factor on the KL term (1 is the evidence lower bound).
    bias
        ``"bayesian"`` or ``"deterministic"`` subnet biases (:class:`~evgen.nn.bayesian.BayesianLinear`).
    """

    seed: int = 0
    bayesian: bool = True
    prior_std: float = 1.0
    prior: str = "fixed"
    log_sigma2_init: float = -9.0
    kl_weight: float = 1.0
    bias: str = "bayesian"
    net: ToyNetConfig = field(default_factory=ToyNetConfig)
    training: TrainConfig = field(default_factory=_toy_training)

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise invalid("seed", self.seed, "must be a non-negative integer")
        if not self.prior_std > 0:
            raise invalid("prior_std", self.prior_std, "must be positive")
        if self.prior not in ("fixed", "empirical"):
            raise invalid("prior", self.prior, "expected 'fixed' or 'empirical'")
        if self.bias not in ("bayesian", "deterministic"):
            raise invalid("bias", self.bias, "expected 'bayesian' or 'deterministic'")
        if self.kl_weight < 0:
            raise invalid("kl_weight", self.kl_weight, "must be non-negative")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> ToyBINNConfig:
        return from_mapping(cls, dict(mapping or {}))

    def to_dict(self) -> dict[str, Any]:
        out = to_dict(self)
        if out["training"].get("grad_clip") is None:
            out["training"].pop("grad_clip", None)
        return out
