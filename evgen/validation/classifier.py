r"""Binary classifiers of reference vs generated events: inputs, training, weights.

Shared by the discriminator reweighter, DiscFlow and the two-sample consistency
test (Precision Enthusiasts, arXiv:2110.13632, Sec. 3 and 4.3). A classifier is
an MLP (Table 2: 8 dense layers of 256) with the input standardisation stored
as buffers, trained with the weighted cross entropy of Eq. (13),

.. math::
    \mathcal{L}_D = -\sum_{i \in \text{gen}} w_i \log\big(1 - D(x_i)\big)
                    -\sum_{i \in \text{ref}} w_i \log D(y_i),

where both samples' event weights enter and each class is normalised to the
same total weight, so that :math:`D/(1-D)` estimates the ratio of the
*normalised* densities :math:`p_\text{ref}/p_\text{gen}` (Eq. 12). Adam
(β = 0.5, 0.9), a reduce-on-plateau learning rate and early stopping on a
held-out validation split; the best validation epoch is kept.

Label 1 is the reference (truth) and label 0 the generated sample, as in the
paper: :math:`D \to 1` for truth events.

>>> clf = train_classifier(x_truth, x_generated, config=ClassifierConfig(epochs=20))  # doctest: +SKIP
>>> w = discriminator_weights(clf.logit(x_generated))                                # doctest: +SKIP
"""

from __future__ import annotations

__all__ = [
    "ClassifierConfig",
    "ClassifierNet",
    "Classifier",
    "train_classifier",
    "weighted_bce",
    "class_balanced_weights",
    "discriminator_weights",
    "classifier_features",
    "ACTIVATIONS",
]

import copy
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import torch
from torch import Tensor, nn

from evgen.errors import ConfigError, InputError
from evgen.events import is_toy, toy_points
from evgen.nn.mlp import MLP
from evgen.training.config import from_mapping, invalid, to_dict

#: Activation functions a :class:`ClassifierConfig` may name.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
}


@dataclass(frozen=True)
class ClassifierConfig:
    """Network and training options of a classifier (config section ``[classifier]``).

    Defaults are Table 2 of Precision Enthusiasts: 8 dense layers of 256, Adam
    with β = (0.5, 0.9), reduce-on-plateau, batch size 2048, 200 epochs, except
    the starting learning rate: Table 2 quotes 1e-2, with which the 8×256 network
    stayed at the constant loss log 2 for 15 epochs on the shipped 30k-event
    sample (few steps per epoch), so the default is 1e-3; set ``lr = 1e-2`` for
    the paper's value on large samples.

    Parameters
    ----------
    layers, hidden
        Hidden layers and their width.
    activation
        One of :data:`ACTIVATIONS`.
    dropout
        Dropout after each hidden activation.
    epochs
        Maximum number of epochs (early stopping may end sooner).
    batch_size
        Events per gradient step.
    lr
        Starting learning rate.
    betas
        Adam's (β₁, β₂).
    weight_decay
        Adam weight decay.
    plateau_factor, plateau_patience, min_lr
        ``ReduceLROnPlateau``: multiply the rate by ``plateau_factor`` after
        ``plateau_patience`` epochs without a better validation loss, down to ``min_lr``.
    early_stopping
        Stop after this many epochs without a better validation loss and keep the
        best epoch's parameters; ``None`` trains all ``epochs`` (and still keeps the best).
    validation_fraction
        Share of each class held out for the plateau and early-stopping decisions;
        0 uses the training loss instead.
    device
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    """

    layers: int = 8
    hidden: int = 256
    activation: str = "leaky_relu"
    dropout: float = 0.0
    epochs: int = 200
    batch_size: int = 2048
    lr: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.9)
    weight_decay: float = 0.0
    plateau_factor: float = 0.5
    plateau_patience: int = 5
    min_lr: float = 1e-6
    early_stopping: int | None = 20
    validation_fraction: float = 0.2
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("layers", "hidden", "epochs", "batch_size", "plateau_patience"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise invalid(name, value, "must be a positive integer")
        if self.activation not in ACTIVATIONS:
            raise invalid("activation", self.activation, f"expected one of {sorted(ACTIVATIONS)}")
        if not 0 <= self.dropout < 1:
            raise invalid("dropout", self.dropout, "must lie in [0, 1)")
        if not self.lr > 0:
            raise invalid("lr", self.lr, "must be a positive learning rate")
        if not all(0 <= b < 1 for b in self.betas):
            raise invalid("betas", list(self.betas), "both Adam betas must lie in [0, 1)")
        if self.weight_decay < 0:
            raise invalid("weight_decay", self.weight_decay, "must be non-negative")
        if not 0 < self.plateau_factor < 1:
            raise invalid("plateau_factor", self.plateau_factor, "must lie in (0, 1)")
        if not 0 <= self.min_lr <= self.lr:
            raise invalid("min_lr", self.min_lr, f"must lie in [0, lr = {self.lr}]")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise invalid(
                "early_stopping", self.early_stopping, "must be a positive number of epochs (or omitted)"
            )
        if not 0 <= self.validation_fraction < 0.9:
            raise invalid("validation_fraction", self.validation_fraction, "must lie in [0, 0.9)")
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise invalid("device", self.device, "expected 'cpu', 'cuda' or 'cuda:N'")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None, section: str = "classifier") -> ClassifierConfig:
        """Validated config from a mapping (e.g. a TOML table); errors name ``section.key``."""
        return from_mapping(cls, dict(mapping or {}), section=section)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


class ClassifierNet(nn.Module):
    """Standardisation (buffers ``mean``, ``scale``) followed by an MLP returning one logit per row."""

    def __init__(self, n_features: int, config: ClassifierConfig) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))
        self.mlp = MLP(
            n_features,
            1,
            hidden=config.hidden,
            layers=config.layers,
            activation=ACTIVATIONS[config.activation],
            dropout=config.dropout,
        )

    def forward(self, x: Tensor) -> Tensor:
        """Logit :math:`\\log(D/(1-D))` of each row of ``x``, shape ``(B,)``."""
        return self.mlp((x - self.mean) / self.scale).squeeze(-1)


@dataclass
class Classifier:
    """A trained classifier: network, input names, config and training history.

    :meth:`predict` gives :math:`D(x)` (probability of the reference class),
    :meth:`logit` gives :math:`\\log D/(1-D)`, whose exponential is the weight of Eq. (12).
    """

    net: ClassifierNet
    config: ClassifierConfig
    feature_names: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n_features(self) -> int:
        return int(self.net.mean.shape[0])

    def _check(self, x: np.ndarray | Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise InputError(
                f"classifier inputs have shape {tuple(x.shape)}; expected (N, {self.n_features})"
            )

    @torch.no_grad()
    def logit_tensor(self, x: Tensor) -> Tensor:
        """Logits of a tensor on the network's device (no gradient), batched."""
        self._check(x)
        was_training = self.net.training
        self.net.eval()
        out = torch.cat([self.net(x[i : i + 65536]) for i in range(0, len(x), 65536)] or [x.new_zeros(0)])
        self.net.train(was_training)
        return out

    def logit(self, x: np.ndarray) -> np.ndarray:
        """Logits :math:`\\log D/(1-D)` of the rows of ``x`` (float64)."""
        x = np.asarray(x)
        self._check(x)
        device = self.net.mean.device
        t = torch.as_tensor(x, dtype=torch.float32, device=device)
        return self.logit_tensor(t).double().cpu().numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        """:math:`D(x)`: the probability that each row is a reference event (float64)."""
        return 1.0 / (1.0 + np.exp(-self.logit(x)))

    # -- persistence ---------------------------------------------------------------
    def save(self, stem: str | os.PathLike[str]) -> list[Path]:
        """Write ``stem.safetensors`` (weights and standardisation) and ``stem.json``."""
        from safetensors.torch import save_file

        from evgen.files import atomic_write

        stem = Path(stem)
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in self.net.state_dict().items()}
        weights = atomic_write(stem.with_suffix(".safetensors"), lambda tmp: save_file(tensors, str(tmp)))
        meta = {
            "config": self.config.to_dict(),
            "feature_names": list(self.feature_names),
            "n_features": self.n_features,
            "history": self.history,
        }
        spec = atomic_write(stem.with_suffix(".json"), json.dumps(meta, indent=2, allow_nan=True) + "\n")
        return [weights, spec]

    @classmethod
    def load(cls, stem: str | os.PathLike[str], device: str | None = None) -> Classifier:
        """Read what :meth:`save` wrote (safetensors: no code is unpickled)."""
        from safetensors.torch import load_file

        stem = Path(stem)
        spec_path, weights_path = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
        for path in (spec_path, weights_path):
            if not path.exists():
                raise InputError(f"{path}: classifier file not found")
        try:
            meta = json.loads(spec_path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"{spec_path}: not valid JSON ({exc})") from None
        config = ClassifierConfig.from_mapping(meta["config"])
        if device is not None:
            config = ClassifierConfig.from_mapping({**config.to_dict(), "device": device})
        net = ClassifierNet(int(meta["n_features"]), config)
        net.load_state_dict(load_file(str(weights_path)))
        net.to(_device(config.device)).eval()
        return cls(net, config, list(meta.get("feature_names", [])), list(meta.get("history", [])))


def weighted_bce(logits: Tensor, labels: Tensor, weights: Tensor | None = None) -> Tensor:
    r"""Weighted binary cross entropy of Eq. (13) as a weighted batch mean.

    .. math::
        \mathcal{L} = \frac{\sum_i w_i\,\big[-y_i \log D_i - (1 - y_i)\log(1 - D_i)\big]}{\sum_i w_i},
        \qquad D_i = \sigma(\text{logit}_i),

    computed from the logits for numerical stability; ``y = 1`` marks reference events.
    """
    per_event = nn.functional.binary_cross_entropy_with_logits(
        logits, labels.to(logits.dtype), reduction="none"
    )
    if weights is None:
        return per_event.mean()
    weights = weights.to(per_event.dtype)
    return (weights * per_event).sum() / weights.sum().clamp_min(1e-30)


def class_balanced_weights(w_ref: np.ndarray, w_gen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale both classes' weights to the same total, ``(n_ref + n_gen)/2`` each (mean weight 1).

    With equal class totals the optimal classifier is
    :math:`D = p_\\text{ref}/(p_\\text{ref} + p_\\text{gen})` of the normalised densities,
    so :math:`D/(1-D)` is their ratio (Eq. 12) whatever the sample sizes.
    """
    w_ref, w_gen = _checked_weights(w_ref, "reference"), _checked_weights(w_gen, "generated")
    half = 0.5 * (len(w_ref) + len(w_gen))
    return w_ref * (half / w_ref.sum()), w_gen * (half / w_gen.sum())


def discriminator_weights(logits: np.ndarray, clip: tuple[float, float] | None = (0.01, 100.0)) -> np.ndarray:
    r"""Event weights :math:`w_D = D/(1-D)` of Eq. (12), from the classifier's logits.

    :math:`D/(1-D) = e^{\text{logit}}` exactly, so no rounding of :math:`D` near 0 or
    1 enters. ``clip = (lo, hi)`` bounds the weights to ``[lo, hi]`` (the default
    ``[0.01, 100]`` is the same as clipping :math:`D` to ``[1/101, 100/101]``);
    ``None`` leaves them unbounded.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if clip is None:
        with np.errstate(over="ignore"):
            return np.exp(logits)
    lo, hi = clip
    if not 0 <= lo < hi:
        raise ConfigError(f"weight clip {list(clip)}: expected 0 ≤ lo < hi")
    with np.errstate(over="ignore", divide="ignore"):
        return np.exp(np.clip(logits, np.log(lo) if lo > 0 else -np.inf, np.log(hi)))


# validation observables beyond Eq. (14)'s inputs (the dimuon system's p_T and rapidity follow
# from the muons' columns): left out, so classifiers and saved reweighters keep their inputs
_NOT_CLASSIFIER_INPUTS = frozenset({"pt_mumu", "y_mumu"})


def classifier_features(events: ak.Array, multiplicity: int | None = None) -> tuple[np.ndarray, list[str]]:
    r"""Classifier inputs of Eq. (14) for events of one jet multiplicity; toy points as they are.

    For collider events with exactly ``multiplicity`` jets: :math:`\log p_T, \eta, \phi`
    of both muons, :math:`\log p_T, \eta, \phi, m` of every jet, :math:`M_{\mu\mu}` and
    :math:`\Delta R` of every jet pair, from :func:`evgen.physics.observables.multiplicity_observables`.
    Transverse momenta enter as logarithms (their spectra fall steeply); the classifier
    standardises all inputs. For toy events (a field ``x``) the points themselves.

    Returns the ``(N, d)`` float64 matrix and the column names.
    """
    if is_toy(events):
        x = toy_points(events)
        return x, [f"x{i}" for i in range(x.shape[1])]
    from evgen.physics.observables import multiplicity_observables

    if multiplicity is None:
        raise InputError("collider events need a jet multiplicity to build classifier inputs")
    obs = multiplicity_observables(events, multiplicity)
    names, columns = [], []
    for name, values in obs.items():
        if name in _NOT_CLASSIFIER_INPUTS:
            continue
        kind = name.partition("_")[0]
        if kind == "pt":
            names.append(f"log_{name}")
            columns.append(np.log(np.maximum(values, 1e-6)))
        elif kind in ("eta", "phi", "mass", "dR") or name == "m_mumu":
            names.append(name)
            columns.append(values)
    matrix = np.stack(columns, axis=1) if columns else np.zeros((len(events), 0))
    if not np.all(np.isfinite(matrix)):
        row = int(np.flatnonzero(~np.all(np.isfinite(matrix), axis=1))[0])
        raise InputError(f"classifier inputs of event {row} ({multiplicity} jets) are not finite")
    return matrix, names


# -- training ------------------------------------------------------------------------


def _device(device: str) -> torch.device:
    from evgen.training.loop import resolve_device

    return resolve_device(device)


def _checked_weights(w: np.ndarray, name: str) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InputError(f"{name} weights must be a finite, non-negative 1-d array")
    if not w.sum() > 0:
        raise InputError(f"{name} weights sum to {w.sum()}; need a positive total weight")
    return w


def _split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    n_val = int(round(fraction * n))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _weighted_standardisation(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.average(x, axis=0, weights=w)
    std = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w))
    return mean, np.where(std > 1e-12, std, 1.0)


def _checked_inputs(
    x_ref: np.ndarray, x_gen: np.ndarray, w_ref: np.ndarray | None, w_gen: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both samples as finite ``(N, d)`` float64 matrices with the same ``d``, and their weights
    balanced between the classes (:func:`class_balanced_weights`; 1 when not given)."""
    x_ref, x_gen = np.asarray(x_ref, dtype=np.float64), np.asarray(x_gen, dtype=np.float64)
    for x, name in ((x_ref, "reference"), (x_gen, "generated")):
        if x.ndim != 2 or len(x) == 0:
            raise InputError(
                f"{name} classifier inputs have shape {x.shape}; expected a non-empty (N, d) matrix"
            )
        if not np.all(np.isfinite(x)):
            raise InputError(f"{name} classifier inputs contain NaN or inf")
    if x_ref.shape[1] != x_gen.shape[1]:
        raise InputError(
            f"reference has {x_ref.shape[1]} features, generated {x_gen.shape[1]}; they must agree"
        )
    w_ref = np.ones(len(x_ref)) if w_ref is None else w_ref
    w_gen = np.ones(len(x_gen)) if w_gen is None else w_gen
    if len(w_ref) != len(x_ref) or len(w_gen) != len(x_gen):
        raise InputError("one weight per event is needed for each sample")
    w_ref, w_gen = class_balanced_weights(w_ref, w_gen)
    return x_ref, x_gen, w_ref, w_gen


def _training_tensors(
    x_ref: np.ndarray,
    x_gen: np.ndarray,
    w_ref: np.ndarray,
    w_gen: np.ndarray,
    validation_fraction: float,
    seed: int,
    device: Any,
) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...] | None, np.ndarray, np.ndarray]:
    """Training and validation tensors ``(x, y, w)`` (label 1 for the reference) from a seeded split
    of each sample, and the weighted standardisation of the training inputs."""
    rng = np.random.default_rng(seed)
    (tr_r, va_r), (tr_g, va_g) = (
        _split(len(x_ref), validation_fraction, rng),
        _split(len(x_gen), validation_fraction, rng),
    )
    if len(tr_r) == 0 or len(tr_g) == 0:
        raise InputError(
            f"too few events to train a classifier: {len(x_ref)} reference, {len(x_gen)} generated"
        )

    def stack(ir: np.ndarray, ig: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.concatenate([x_ref[ir], x_gen[ig]])
        y = np.concatenate([np.ones(len(ir)), np.zeros(len(ig))])
        w = np.concatenate([w_ref[ir], w_gen[ig]])
        return x, y, w

    x_tr, y_tr, w_tr = stack(tr_r, tr_g)
    mean, scale = _weighted_standardisation(x_tr, w_tr)
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device)  # noqa: E731
    train = tuple(as_t(a) for a in (x_tr, y_tr, w_tr))
    has_val = len(va_r) > 0 and len(va_g) > 0
    val = tuple(as_t(a) for a in stack(va_r, va_g)) if has_val else None
    return train, val, mean, scale


def _train_epoch(
    net: ClassifierNet,
    optimizer: Any,
    train: tuple[Tensor, ...],
    generator: torch.Generator,
    batch_size: int,
    device: Any,
    bar: Any,
    desc: str,
    epoch: int,
) -> tuple[float, float]:
    """One epoch over the training tensors in a seeded random order; the summed weighted loss and weight."""
    n = len(train[0])
    net.train()
    order = torch.randperm(n, generator=generator).to(device)
    total, total_w = 0.0, 0.0
    for b in range(0, n, batch_size):
        idx = order[b : b + batch_size]
        x, y, w = (t[idx] for t in train)
        loss = weighted_bce(net(x), y, w)
        if not torch.isfinite(loss):
            raise InputError(f"{desc}: the classifier loss became {float(loss)} at epoch {epoch + 1}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        bw = float(w.sum())
        total += float(loss.detach()) * bw
        total_w += bw
        bar.update(len(idx))
    return total, total_w


def train_classifier(
    x_ref: np.ndarray,
    x_gen: np.ndarray,
    w_ref: np.ndarray | None = None,
    w_gen: np.ndarray | None = None,
    *,
    config: ClassifierConfig | Mapping[str, Any] | None = None,
    seed: int = 0,
    progress: bool = False,
    desc: str = "classifier",
    feature_names: Sequence[str] | None = None,
) -> Classifier:
    """Train :math:`D` to tell reference rows (label 1) from generated rows (label 0).

    Parameters
    ----------
    x_ref, x_gen
        Feature matrices ``(N_ref, d)`` and ``(N_gen, d)``.
    w_ref, w_gen
        Event weights (ones when omitted); each class is normalised to the same total
        (:func:`class_balanced_weights`) before the weighted loss of Eq. (13).
    config
        :class:`ClassifierConfig` or a mapping of its options.
    seed
        Seeds the validation split, the initial parameters and the batch order:
        the same seed, data and thread count give the same classifier.
    progress
        Show a tqdm bar (events/s, ETA, losses, learning rate).
    desc
        Label of the bar.
    feature_names
        Column names kept with the classifier.

    Returns
    -------
    Classifier
        The network at its best validation epoch, with the per-epoch ``history``
        (``epoch, loss, val_loss, lr, seconds``).
    """
    import time

    from tqdm.auto import tqdm

    cfg = config if isinstance(config, ClassifierConfig) else ClassifierConfig.from_mapping(config)
    x_ref, x_gen, w_ref, w_gen = _checked_inputs(x_ref, x_gen, w_ref, w_gen)

    device = _device(cfg.device)
    train, val, mean, scale = _training_tensors(
        x_ref, x_gen, w_ref, w_gen, cfg.validation_fraction, seed, device
    )

    torch.manual_seed(seed)
    net = ClassifierNet(x_ref.shape[1], cfg)
    with torch.no_grad():
        net.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        net.scale.copy_(torch.as_tensor(scale, dtype=torch.float32))
    net.to(device)
    optimizer = torch.optim.Adam(
        net.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience, min_lr=cfg.min_lr
    )
    generator = torch.Generator().manual_seed(seed)
    n = len(train[0])
    history: list[dict[str, Any]] = []
    best, best_state, since_best = math.inf, copy.deepcopy(net.state_dict()), 0
    bar = tqdm(
        total=cfg.epochs * n, unit="ev", unit_scale=True, desc=desc, disable=not progress, dynamic_ncols=True
    )
    try:
        for epoch in range(cfg.epochs):
            start = time.perf_counter()
            total, total_w = _train_epoch(
                net, optimizer, train, generator, cfg.batch_size, device, bar, desc, epoch
            )
            record: dict[str, Any] = {"epoch": epoch + 1, "loss": total / max(total_w, 1e-30)}
            if val is not None:
                record["val_loss"] = _evaluate(net, val, cfg.batch_size)
            monitor = record.get("val_loss", record["loss"])
            record["lr"] = float(optimizer.param_groups[0]["lr"])
            record["seconds"] = time.perf_counter() - start
            history.append(record)
            scheduler.step(monitor)
            if monitor < best - 1e-7:
                best, best_state, since_best = monitor, copy.deepcopy(net.state_dict()), 0
            else:
                since_best += 1
            bar.set_postfix(
                epoch=f"{epoch + 1}/{cfg.epochs}",
                loss=f"{record['loss']:.4f}",
                val=f"{record.get('val_loss', math.nan):.4f}",
                lr=f"{record['lr']:.1e}",
            )
            if cfg.early_stopping is not None and since_best >= cfg.early_stopping:
                break
    finally:
        bar.close()
    net.load_state_dict(best_state)
    net.eval()
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(x_ref.shape[1])]
    return Classifier(net, cfg, names, history)


@torch.no_grad()
def _evaluate(net: ClassifierNet, data: tuple[Tensor, Tensor, Tensor], batch_size: int) -> float:
    net.eval()
    x, y, w = data
    total = 0.0
    for b in range(0, len(x), max(batch_size, 8192)):
        sl = slice(b, b + max(batch_size, 8192))
        total += float(weighted_bce(net(x[sl]), y[sl], w[sl])) * float(w[sl].sum())
    net.train()
    return total / max(float(w.sum()), 1e-30)
