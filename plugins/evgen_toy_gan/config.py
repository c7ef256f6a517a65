"""Configuration of the toy GAN of *GANplifying event samples* (arXiv:2008.06545, Sec. 2).

Every default is the paper's setting; tests and quick studies shrink the
network and the schedule through the same dataclass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evgen.errors import ConfigError

__all__ = ["ToyGANConfig"]


@dataclass
class ToyGANConfig:
    """Architecture, optimiser and schedule of the toy GAN (Sec. 2, Fig. 3).

    Parameters
    ----------
    dim
        Phase-space dimension d (1, 2 or 5 in the paper).
    noise_dim
        Number of uniform [-1, 1] generator inputs (paper: 1000).
    gen_layers, gen_width, gen_dropout
        Generator hidden layers (7 x 256, ELU, 50 % dropout kept active when sampling).
    disc_layers, disc_width, disc_dropout
        Discriminator hidden layers (7 x 256, LeakyReLU, 50 % dropout).
    embed_widths, embed_dim
        Filters of the kernel-1 1D convolutions of the batch embedding
        :math:`\\Phi` (256, 256, then m = 32).
    leaky_slope
        LeakyReLU slope of the discriminator (0.01).
    lr, betas, lr_decay, lr_decay_every
        Adam with (0.5, 0.9); the learning rate 5e-5 is multiplied by 0.9 every
        1000 epochs.
    epochs, batch_size
        10,000 epochs of batches of 10; the training set is reshuffled every epoch.
    gp_gamma
        Strength :math:`\\gamma` of the Roth et al. gradient penalty (0.01).
    data_noise
        Half width of the uniform noise added to training points at every
        discriminator evaluation (0.1).
    std_eps
        Added to the batch variance before the square root of the aggregation
        :math:`F` (keeps gradients finite for a collapsed batch).
    log_every, checkpoint_every
        Epochs between loss read-outs (the only host synchronisation) and between
        checkpoints.
    device, compile, compile_backend, cuda_graphs, fused_adam, tf32
        Execution: ``compile`` wraps the functional training step in
        :func:`torch.compile` (with ``compile_backend``), ``cuda_graphs`` captures one whole step (D and G
        updates) in a CUDA graph, ``fused_adam`` (None: on CUDA) uses the fused Adam
        kernel, ``tf32`` allows TF32 matmuls on Ampere and newer GPUs.
    progress
        Show a tqdm progress bar.
    """

    dim: int = 1
    noise_dim: int = 1000
    gen_layers: int = 7
    gen_width: int = 256
    gen_dropout: float = 0.5
    disc_layers: int = 7
    disc_width: int = 256
    disc_dropout: float = 0.5
    embed_widths: tuple[int, ...] = (256, 256)
    embed_dim: int = 32
    leaky_slope: float = 0.01
    lr: float = 5e-5
    betas: tuple[float, float] = (0.5, 0.9)
    lr_decay: float = 0.9
    lr_decay_every: int = 1000
    epochs: int = 10_000
    batch_size: int = 10
    gp_gamma: float = 0.01
    data_noise: float = 0.1
    std_eps: float = 1e-10
    log_every: int = 100
    checkpoint_every: int = 1000
    device: str = "cpu"
    compile: bool = False
    compile_backend: str = "inductor"
    cuda_graphs: bool = False
    fused_adam: bool | None = None
    tf32: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        self.embed_widths = tuple(int(w) for w in self.embed_widths)
        self.betas = (float(self.betas[0]), float(self.betas[1]))
        positive = {
            "dim": self.dim,
            "noise_dim": self.noise_dim,
            "gen_width": self.gen_width,
            "disc_width": self.disc_width,
            "embed_dim": self.embed_dim,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr_decay_every": self.lr_decay_every,
            "log_every": self.log_every,
            "checkpoint_every": self.checkpoint_every,
        }
        for key, value in positive.items():
            if int(value) != value or value < 1:
                raise ConfigError(f"toy-gan option {key} must be a positive integer; got {value!r}")
        for key in ("gen_layers", "disc_layers"):
            if getattr(self, key) < 1:
                raise ConfigError(f"toy-gan option {key} must be at least 1; got {getattr(self, key)!r}")
        for key in ("gen_dropout", "disc_dropout"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ConfigError(f"toy-gan option {key} must lie in [0, 1); got {getattr(self, key)!r}")
        if self.lr <= 0 or self.gp_gamma < 0 or self.data_noise < 0:
            raise ConfigError(
                f"toy-gan needs lr > 0, gp_gamma >= 0, data_noise >= 0; got lr={self.lr}, "
                f"gp_gamma={self.gp_gamma}, data_noise={self.data_noise}"
            )
        if self.cuda_graphs and not str(self.device).startswith("cuda"):
            raise ConfigError(f"cuda_graphs=True needs a CUDA device; got device={self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["embed_widths"] = list(self.embed_widths)
        out["betas"] = list(self.betas)
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None = None, **overrides: Any) -> ToyGANConfig:
        """Build a config from a mapping plus keyword overrides; unknown keys are an error."""
        merged = {**dict(values or {}), **overrides}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(merged) - known)
        if unknown:
            raise ConfigError(f"unknown toy-gan options {unknown}; known options: {sorted(known)}")
        return cls(**merged)

    def replace(self, **changes: Any) -> ToyGANConfig:
        """A copy with some fields changed (validated again)."""
        return self.from_dict(self.to_dict(), **changes)
