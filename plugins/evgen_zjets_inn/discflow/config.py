"""Options of the ``discflow`` generator: the ``zjets-inn`` sections plus ``[discflow]`` and ``[discriminator]``.

``[training]`` drives the generator-only pretraining (Table 1, DiscFlow column:
one-cycle 2e-4 → 2e-3, batch 2048, Adam β = (0.5, 0.9)); ``[discflow]`` the joint
phase (Sec. 3.2); ``[discriminator]`` the per-multiplicity classifiers (Table 2);
``[reweighter]`` the final reweighting (options of the ``discriminator`` reweighter).
The magic transformation is off by default: the paper's DiscFlow learns ΔR_jj
through the discriminator instead (Sec. 3.1, 3.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evgen.physics.magic import MagicTransform
from evgen.training.config import TrainConfig, deep_merge, from_mapping, invalid, to_dict
from evgen.validation.classifier import ClassifierConfig
from evgen_zjets_inn.config import ZJetsINNConfig

__all__ = ["JointConfig", "DiscFlowConfig"]


@dataclass(frozen=True)
class JointConfig:
    """The joint generator–discriminator phase of Sec. 3.2 (config section ``[discflow]``).

    Parameters
    ----------
    epochs
        Joint epochs. Each epoch draws equal numbers of events per multiplicity
        (Sec. 2.2) and alternates its batches between a generator step and a
        discriminator step, so each network sees its own half of the data.
    alpha_max
        Final value of α₀: it rises linearly from 0 at the first joint generator step
        to ``alpha_max`` at the last (Sec. 3.2), and the loss weight is
        :math:`w_D^{\\alpha}` with :math:`\\alpha = \\alpha_0 |\\tfrac12 - D|` (Eq. 15–16).
        0 gives plain INN training with the same data, steps and optimiser: the control run.
    batch_size
        Events per step of either network.
    lr
        Constant Adam learning rate of the generator in the joint phase.
    discriminator_lr
        Constant Adam learning rate of the discriminators in the joint phase.
    discriminator_pretrain_epochs
        Epochs of the discriminators alone against the pretrained generator (with the
        ``[discriminator]`` schedule and early stopping) before the coupling starts.
    weight_clip
        Bounds of :math:`w_D` inside the generator loss. Where the generator has a region's count
        but misses its shape, :math:`E_P[w_D^\\alpha] > 1` there and the loss grows the region;
        wide bounds let single events weigh up to :math:`\\mathrm{hi}^{\\alpha_0/2}`: with [0.01, 100]
        and α₀ = 4 (weights up to 160 measured) the 1-jet tail below the 50 GeV cut grew 38 % on
        the shared sample, [0.5, 2] (``configs/discflow-cpu.toml``, binding for ~1 % of the
        events) kept it (docs/reweighting.md).
    init_from
        A ``zjets-inn`` (or ``discflow``) run directory to start from: its networks,
        preprocessing and multiplicity fractions replace the generator pretraining.
    final_reweighting
        After the joint phase, fit a fresh ``discriminator`` reweighter between the
        training events and DiscFlow events, so ``sample(..., reweight=True)`` returns
        weighted events (Fig. 8).
    final_events_factor
        Generated events for the final reweighting per training event.
    """

    epochs: int = 100
    alpha_max: float = 20.0
    batch_size: int = 2048
    lr: float = 2e-4
    discriminator_lr: float = 1e-4
    discriminator_pretrain_epochs: int = 50
    weight_clip: tuple[float, float] = (0.01, 100.0)
    init_from: str | None = None
    final_reweighting: bool = True
    final_events_factor: float = 1.0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "discriminator_pretrain_epochs"):
            value = getattr(self, name)
            if value < 1:
                raise invalid(name, value, "must be a positive integer")
        if not self.alpha_max >= 0:
            raise invalid("alpha_max", self.alpha_max, "must be ≥ 0")
        for name in ("lr", "discriminator_lr", "final_events_factor"):
            if not getattr(self, name) > 0:
                raise invalid(name, getattr(self, name), "must be positive")
        lo, hi = self.weight_clip
        if not 0 < lo < 1 < hi:
            raise invalid("weight_clip", list(self.weight_clip), "expected [lo, hi] with 0 < lo < 1 < hi")


def _training() -> TrainConfig:
    return TrainConfig(epochs=100, batch_size=2048, lr_start=2e-4, lr_max=2e-3, betas=(0.5, 0.9))


def _no_magic() -> MagicTransform:
    return MagicTransform(enabled=False)


@dataclass(frozen=True)
class DiscFlowConfig(ZJetsINNConfig):
    """All options of ``discflow``: those of ``zjets-inn`` and the joint training."""

    training: TrainConfig = field(default_factory=_training)
    magic: MagicTransform = field(default_factory=_no_magic)
    discflow: JointConfig = field(default_factory=JointConfig)
    discriminator: ClassifierConfig = field(default_factory=ClassifierConfig)
    reweighter: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> DiscFlowConfig:
        """Validated options; a partial ``[training]`` or ``[magic]`` keeps DiscFlow's defaults for the rest."""
        defaults = {"training": to_dict(_training()), "magic": _no_magic().to_dict()}
        return from_mapping(cls, deep_merge(defaults, dict(mapping or {})))

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if out.get("discflow", {}).get("init_from") is None:
            out.get("discflow", {}).pop("init_from", None)
        return out
