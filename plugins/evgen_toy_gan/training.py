"""Trains E toy GANs at once from stacked parameters (Sec. 2 schedule of arXiv:2008.06545).

One training step is a discriminator update followed by a generator update
(strictly alternating), each computed by :func:`torch.func.grad` of the summed
per-model losses of :mod:`evgen_toy_gan.losses` and applied by *one* Adam over
the stacked ``[E, ...]`` parameters. Adam is elementwise, so this is exactly E
independent Adams.

The hot loop never waits for the device: losses are accumulated on the device
and read (one synchronisation) every ``log_every`` epochs, the learning rate is
set without reading tensors, the epoch shuffle is ``argsort`` of uniforms on the
device. This keeps the step usable with

* ``compile=True``: the two gradient functions go through :func:`torch.compile`
  (``fullgraph``; nested ``torch.func.grad`` is traced into one forward graph);
* ``cuda_graphs=True``: the whole step (both gradient functions and both Adam
  updates, with a tensor learning rate) is captured once in a CUDA graph and
  replayed; the warm-up steps are undone before training starts;
* ``fused_adam`` (default on CUDA) and ``tf32``.

Checkpoints hold weights, optimiser states, RNG states, history and the training
data; they are written atomically with :func:`torch.save` and read back with
``weights_only=True``. Resuming from a checkpoint continues the random stream,
so on a CPU a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from evgen.errors import InputError, TrainingDivergedError
from evgen_toy_gan.config import ToyGANConfig
from evgen_toy_gan.losses import ensemble_discriminator_loss, ensemble_generator_loss

__all__ = ["EnsembleTrainer", "learning_rate"]


def learning_rate(config: ToyGANConfig, epoch: int) -> float:
    """Learning rate of ``epoch`` (from 0): ``lr * lr_decay ** (epoch // lr_decay_every)``."""
    return config.lr * config.lr_decay ** (epoch // config.lr_decay_every)


class EnsembleTrainer:
    """Runs the training schedule for stacked parameters, in place.

    Parameters
    ----------
    config
        The GAN configuration (schedule and execution flags).
    gen, disc
        Stacked generator and discriminator parameters ``{name: [E, ...]}`` on the
        training device; updated in place.
    """

    def __init__(self, config: ToyGANConfig, gen: dict[str, Tensor], disc: dict[str, Tensor]) -> None:
        self.config = config
        self.gen = gen
        self.disc = disc
        self.device = next(iter(gen.values())).device
        self.n_models = next(iter(gen.values())).shape[0]
        cuda = self.device.type == "cuda"
        if config.tf32 and cuda:  # process-wide: TF32 for float32 matmuls (every layer here is one)
            torch.set_float32_matmul_precision("high")
        fused = config.fused_adam if config.fused_adam is not None else cuda
        options: dict[str, Any] = {"betas": config.betas}
        if fused:
            options["fused"] = True
        if config.cuda_graphs:
            options["capturable"] = True
        self._tensor_lr = config.cuda_graphs

        def lr() -> float | Tensor:
            return torch.tensor(config.lr, device=self.device) if self._tensor_lr else config.lr

        self.opt_d = torch.optim.Adam(list(disc.values()), lr=lr(), **options)
        self.opt_g = torch.optim.Adam(list(gen.values()), lr=lr(), **options)

        batch_size = config.batch_size

        def d_grads(d: dict[str, Tensor], g: dict[str, Tensor], batch: Tensor) -> tuple[Any, Tensor]:
            return torch.func.grad(ensemble_discriminator_loss, has_aux=True)(d, g, batch, config)

        def g_grads(g: dict[str, Tensor], d: dict[str, Tensor]) -> tuple[Any, Tensor]:
            return torch.func.grad(ensemble_generator_loss, has_aux=True)(
                g, d, self.n_models, batch_size, config, self.device
            )

        if config.compile:
            options = {"fullgraph": True, "dynamic": False, "backend": config.compile_backend}
            d_grads = torch.compile(d_grads, **options)
            g_grads = torch.compile(g_grads, **options)
        self._d_grads: Callable[..., tuple[Any, Tensor]] = d_grads
        self._g_grads: Callable[..., tuple[Any, Tensor]] = g_grads
        self._graph: torch.cuda.CUDAGraph | None = None
        self._static_batch: Tensor | None = None
        self._static_losses: tuple[Tensor, Tensor] | None = None
        self.epoch = 0
        self.history: list[dict[str, Any]] = []

    # -- one step -------------------------------------------------------------------------
    def _eager_step(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        grads, loss_d = self._d_grads(self.disc, self.gen, batch)
        for name, param in self.disc.items():
            param.grad = grads[name]
        self.opt_d.step()
        grads, loss_g = self._g_grads(self.gen, self.disc)
        for name, param in self.gen.items():
            param.grad = grads[name]
        self.opt_g.step()
        return loss_d, loss_g

    def _state_tensors(self) -> list[Tensor]:
        tensors = list(self.gen.values()) + list(self.disc.values())
        for opt in (self.opt_d, self.opt_g):
            for state in opt.state.values():
                tensors.extend(v for v in state.values() if isinstance(v, Tensor))
        return tensors

    def _capture(self, batch: Tensor) -> None:
        """Record one whole step in a CUDA graph; the warm-up updates are undone afterwards."""
        params = list(self.gen.values()) + list(self.disc.values())
        saved_params = [p.detach().clone() for p in params]
        had_state = bool(self.opt_d.state) or bool(self.opt_g.state)
        saved_state = [t.clone() for t in self._state_tensors()[len(params) :]] if had_state else None
        self._static_batch = batch.clone()
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(3):
                self._eager_step(self._static_batch)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._static_losses = self._eager_step(self._static_batch)
        with torch.no_grad():
            for p, s in zip(params, saved_params, strict=True):
                p.copy_(s)
            state = self._state_tensors()[len(params) :]
            if saved_state is not None:
                for t, s in zip(state, saved_state, strict=True):
                    t.copy_(s)
            else:  # fresh Adam: zero moments and step counts
                for t in state:
                    t.zero_()
        self._graph = graph

    def step(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        """One D update then one G update on ``batch`` ``[E, n, d]``; per-model losses (on device)."""
        if not self.config.cuda_graphs:
            return self._eager_step(batch)
        if self._graph is None:
            self._capture(batch)
        assert self._static_batch is not None and self._static_losses is not None
        self._static_batch.copy_(batch)
        self._graph.replay()
        return self._static_losses

    def set_learning_rate(self, value: float) -> None:
        """Set both optimisers' learning rate without a host synchronisation."""
        for opt in (self.opt_d, self.opt_g):
            for group in opt.param_groups:
                if isinstance(group["lr"], Tensor):
                    group["lr"].fill_(value)
                else:
                    group["lr"] = value

    # -- the schedule ---------------------------------------------------------------------
    def fit(
        self,
        data: Tensor,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        epochs: int | None = None,
    ) -> list[dict[str, Any]]:
        """Train on ``data`` ``[E, N, d]`` (one training set per model) up to ``epochs``.

        Parameters
        ----------
        checkpoint
            File to write every ``checkpoint_every`` epochs and at the end.
        resume
            Continue from ``checkpoint`` when it exists.
        epochs
            Stop after this many epochs in total (default: ``config.epochs``); the
            learning-rate schedule always follows ``config``.
        """
        from tqdm.auto import tqdm

        config = self.config
        total = config.epochs if epochs is None else int(epochs)
        n_models, n_points, _ = data.shape
        bs = config.batch_size
        if n_points < bs:
            raise InputError(f"each training set needs at least batch_size={bs} points; got {n_points}")
        n_batches = n_points // bs
        if checkpoint is not None and resume and Path(checkpoint).exists():
            self.load_checkpoint(checkpoint, data)
        sum_d = torch.zeros(n_models, device=self.device)
        sum_g = torch.zeros(n_models, device=self.device)
        since_log = 0
        bar = tqdm(
            total=total,
            initial=self.epoch,
            unit="epoch",
            desc=f"toy-gan x{n_models}",
            disable=not config.progress,
            dynamic_ncols=True,
        )
        try:
            while self.epoch < total:
                epoch = self.epoch
                lr = learning_rate(config, epoch)
                self.set_learning_rate(lr)
                order = torch.rand(n_models, n_points, device=self.device).argsort(dim=1)
                shuffled = torch.take_along_dim(data, order.unsqueeze(-1), dim=1)
                for k in range(n_batches):
                    loss_d, loss_g = self.step(shuffled[:, k * bs : (k + 1) * bs])
                    sum_d += loss_d
                    sum_g += loss_g
                since_log += 1
                self.epoch += 1
                bar.update(1)
                if self.epoch % config.log_every == 0 or self.epoch == total:
                    mean_d = (sum_d / (since_log * n_batches)).cpu()
                    mean_g = (sum_g / (since_log * n_batches)).cpu()
                    sum_d.zero_()
                    sum_g.zero_()
                    since_log = 0
                    self.history.append(
                        {"epoch": self.epoch, "loss_d": mean_d.tolist(), "loss_g": mean_g.tolist(), "lr": lr}
                    )
                    if not (torch.isfinite(mean_d).all() and torch.isfinite(mean_g).all()):
                        where = f"; the last good checkpoint is {checkpoint}" if checkpoint else ""
                        raise TrainingDivergedError(
                            f"toy-gan losses became NaN/inf by epoch {self.epoch}{where}"
                        )
                    bar.set_postfix(loss_d=f"{mean_d.mean():.4f}", loss_g=f"{mean_g.mean():.4f}")
                if checkpoint is not None and (
                    self.epoch % config.checkpoint_every == 0 or self.epoch == total
                ):
                    self.save_checkpoint(checkpoint, data)
        finally:
            bar.close()
        return self.history

    # -- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self, path: str | Path, data: Tensor) -> Path:
        """Write weights, optimiser and RNG states, history and data atomically to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload: dict[str, Any] = {
            "epoch": self.epoch,
            "generator": {k: v.detach().cpu() for k, v in self.gen.items()},
            "discriminator": {k: v.detach().cpu() for k, v in self.disc.items()},
            "opt_d": self.opt_d.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "rng_cpu": torch.get_rng_state(),
            "history": self.history,
            "data": data.detach().cpu(),
            "config": self.config.to_dict(),
        }
        if self.device.type == "cuda":
            payload["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(payload, tmp)
        os.replace(tmp, path)
        return path

    def load_checkpoint(self, path: str | Path, data: Tensor) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint` for the same ``data``."""
        payload = torch.load(path, map_location="cpu", weights_only=True)
        saved = payload["data"]
        if saved.shape != data.shape or not torch.equal(saved, data.detach().cpu()):
            raise InputError(
                f"checkpoint {path} was written for other training data (shape {tuple(saved.shape)}); "
                f"got shape {tuple(data.shape)}: remove it or train without resume"
            )
        with torch.no_grad():
            for mine, theirs in ((self.gen, payload["generator"]), (self.disc, payload["discriminator"])):
                for name, value in mine.items():
                    value.copy_(theirs[name])
        self.opt_d.load_state_dict(payload["opt_d"])
        self.opt_g.load_state_dict(payload["opt_g"])
        torch.set_rng_state(payload["rng_cpu"])
        if "rng_cuda" in payload and self.device.type == "cuda":
            torch.cuda.set_rng_state(payload["rng_cuda"], self.device)
        self.epoch = int(payload["epoch"])
        self.history = list(payload["history"])
        self._graph = None  # the optimiser states are new tensors: capture again
