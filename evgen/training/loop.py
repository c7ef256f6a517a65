"""The training loop shared by evgen's generators (INN, DiscFlow, BINN, ...).

:class:`Trainer` runs Adam with the configured schedule (Table 1) over the
batches an :class:`~evgen.training.data.EpochSource` hands out, and

* writes a checkpoint after every epoch (model, optimiser, scheduler, random
  states, history), atomically, loaded back with ``torch.load(weights_only=True)``;
* resumes from that checkpoint when started again, bit for bit: an interrupted
  and resumed run ends with the same parameters as an uninterrupted one;
* on Ctrl-C finishes the current batch, checkpoints the exact position (epoch
  and batch) and raises :class:`KeyboardInterrupt`; a second Ctrl-C stops at once;
* stops with :class:`~evgen.errors.TrainingDivergedError` naming the epoch and
  batch when the loss becomes NaN or infinite, leaving the last good checkpoint;
* shows a tqdm bar with the loss, events/s and the ETA.

>>> trainer = Trainer(model, lambda m, batch: m.loss(*batch), TrainConfig(epochs=10),
...                   checkpoint="run/checkpoints/model.pt")     # doctest: +SKIP
>>> history = trainer.fit(TensorSource(x, c, w))                 # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from evgen.errors import ConfigError, InputError, TrainingDivergedError
from evgen.run_dir import atomic_write
from evgen.training.config import TrainConfig, to_dict
from evgen.training.data import EpochSource, TensorSource
from evgen.training.schedules import make_optimizer, make_scheduler

__all__ = ["Trainer", "LossFn", "resolve_device", "load_checkpoint"]

#: ``loss_fn(model, batch) -> scalar tensor``; ``batch`` is the tuple of the source's tensors.
LossFn = Callable[[torch.nn.Module, tuple[torch.Tensor, ...]], torch.Tensor]
_FORMAT = 1


def resolve_device(device: str | torch.device) -> torch.device:
    """``torch.device(device)``, failing clearly when CUDA is asked for but missing."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device = {str(device)!r}: CUDA is not available on this machine; use --device cpu"
        )
    return dev


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :class:`Trainer` (safely: ``weights_only=True``)."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise InputError(
            f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc}); delete it to restart"
        ) from None
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise InputError(f"{path}: not an evgen training checkpoint")
    return state


class Trainer:
    """Train one model; see the module docstring.

    Parameters
    ----------
    model
        The network; moved to ``config.device``.
    loss_fn
        ``loss_fn(model, batch)`` returning the scalar loss of a batch (e.g. Eq. 6 or 10).
    config
        Optimiser, schedule, epochs, batch size, device.
    seed
        Seeds the data order (a dedicated ``torch.Generator``) and, on a fresh
        start, torch's global generator (dropout and the like). Initialise the
        model from a seeded generator too for fully reproducible runs.
    checkpoint
        File to checkpoint into and resume from; ``None`` disables both.
    fingerprint
        What must match for a checkpoint to be resumed (the config, data hashes,
        ...); a mismatch raises :class:`ConfigError` instead of silently mixing runs.
    validation
        Held-out tensors; their mean loss is recorded each epoch as ``val_loss``.
    progress
        Show the tqdm bar.
    desc
        Label of the bar and of error messages.
    on_batch_end, on_epoch_end
        Callbacks receiving a dict (``epoch``, ``batch``, ``loss``, ``trainer``; the
        epoch record at epoch end). Epochs and batches count from 1.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        loss_fn: LossFn,
        config: TrainConfig,
        *,
        seed: int = 0,
        checkpoint: str | Path | None = None,
        fingerprint: Mapping[str, Any] | None = None,
        validation: Sequence[torch.Tensor] | None = None,
        progress: bool = True,
        desc: str = "train",
        on_batch_end: Callable[[dict[str, Any]], None] | None = None,
        on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.loss_fn = loss_fn
        self.seed = int(seed)
        self.checkpoint = None if checkpoint is None else Path(checkpoint)
        self.fingerprint = json.loads(
            json.dumps(
                {"training": to_dict(config), "seed": self.seed, **dict(fingerprint or {})}, default=str
            )
        )
        for key in ("device", "threads"):  # resuming on another device or thread count is fine
            self.fingerprint["training"].pop(key, None)
        self.validation = None if validation is None else tuple(validation)
        self.progress = progress
        self.desc = desc
        self.on_batch_end = on_batch_end
        self.on_epoch_end = on_epoch_end
        self.history: list[dict[str, Any]] = []
        self._stop = False

    # -- checkpoints -------------------------------------------------------------
    def _save(self, path: Path, **position: Any) -> None:
        state = {
            "format": _FORMAT,
            "fingerprint": json.dumps(self.fingerprint, sort_keys=True),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
            "history": self.history,
            **position,
        }
        atomic_write(path, lambda tmp: torch.save(state, tmp))

    def _restore(self, path: Path, steps_per_epoch: int) -> dict[str, Any]:
        state = load_checkpoint(path, self.device)
        saved = json.loads(state["fingerprint"])
        if saved != self.fingerprint:
            diff = _diff(saved, self.fingerprint)
            raise ConfigError(
                f"{path}: checkpoint was written with different settings ({diff}); "
                "use a new output directory, or delete the checkpoint to start over"
            )
        if state["steps_per_epoch"] != steps_per_epoch:
            raise ConfigError(
                f"{path}: checkpoint has {state['steps_per_epoch']} batches per epoch, this run "
                f"{steps_per_epoch}: the training data changed; use a new output directory"
            )
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"].cpu())
        if state["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        self.history = list(state["history"])
        return state

    # -- signals ----------------------------------------------------------------------
    def _handle_sigint(self, signum: int, frame: Any) -> None:
        if self._stop:  # second Ctrl-C: stop now
            signal.default_int_handler(signum, frame)
        self._stop = True

    # -- the loop -------------------------------------------------------------------
    def fit(self, source: EpochSource | Sequence[torch.Tensor]) -> list[dict[str, Any]]:
        """Train (or resume, or return at once when the checkpoint is complete); returns the history.

        The history holds one record per epoch: ``epoch``, ``loss`` (mean batch
        loss), ``val_loss`` (if validation data were given), ``lr``, ``seconds``,
        ``events_per_s``.
        """
        from tqdm.auto import tqdm

        if not isinstance(source, EpochSource):
            source = TensorSource(*source)
        cfg = self.config
        n_events = len(source)
        steps = self._steps = math.ceil(n_events / cfg.batch_size)
        self.optimizer = make_optimizer(self.model.parameters(), cfg)
        self.scheduler = make_scheduler(self.optimizer, cfg, steps)
        self.generator = torch.Generator().manual_seed(self.seed)
        epoch, batch, epoch_state, running = 0, 0, None, {"loss": 0.0, "batches": 0, "seconds": 0.0}
        if self.checkpoint is not None and self.checkpoint.exists():
            state = self._restore(self.checkpoint, steps)
            epoch, batch = state["epoch"], state["batch"]
            epoch_state, running = state["epoch_generator"], state["running"]
        else:
            torch.manual_seed(self.seed)
        if epoch >= cfg.epochs:
            return self.history

        threads = torch.get_num_threads()
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, self._handle_sigint)
        self._stop = False
        bar = tqdm(
            total=cfg.epochs * n_events,
            initial=min(epoch * n_events + batch * cfg.batch_size, cfg.epochs * n_events),
            unit="ev",
            unit_scale=True,
            desc=self.desc,
            disable=not self.progress,
            dynamic_ncols=True,
            leave=True,
        )
        try:
            while epoch < cfg.epochs:
                if batch == 0:
                    epoch_state = self.generator.get_state()
                    running = {"loss": 0.0, "batches": 0, "seconds": 0.0}
                else:  # resuming mid-epoch: replay the epoch's draw
                    self.generator.set_state(epoch_state)
                data = source.epoch(epoch, self.generator)
                self.model.train()
                start = time.perf_counter()
                for b in range(batch, steps):
                    sl = slice(b * cfg.batch_size, (b + 1) * cfg.batch_size)
                    loss_value = self._step(tuple(t[sl].to(self.device) for t in data), epoch, b)
                    running["loss"] += loss_value
                    running["batches"] += 1
                    size = min(cfg.batch_size, n_events - b * cfg.batch_size)
                    bar.update(size)
                    bar.set_postfix(
                        epoch=f"{epoch + 1}/{cfg.epochs}", loss=f"{running['loss'] / running['batches']:.4g}"
                    )
                    if self.on_batch_end is not None:
                        self.on_batch_end(
                            {"epoch": epoch + 1, "batch": b + 1, "loss": loss_value, "trainer": self}
                        )
                    if self._stop:
                        running["seconds"] += time.perf_counter() - start
                        self._interrupt(epoch, b + 1, epoch_state, running, bar)
                running["seconds"] += time.perf_counter() - start
                record = self._epoch_record(epoch, running, n_events)
                self.history.append(record)
                bar.set_postfix(epoch=f"{epoch + 1}/{cfg.epochs}", loss=f"{record['loss']:.4g}")
                epoch, batch = epoch + 1, 0
                if self.checkpoint is not None:
                    self._save(
                        self.checkpoint,
                        epoch=epoch,
                        batch=0,
                        epoch_generator=None,
                        running=None,
                        steps_per_epoch=steps,
                    )
                if self.on_epoch_end is not None:
                    self.on_epoch_end({"epoch": epoch, "record": record, "trainer": self})
        finally:
            bar.close()
            torch.set_num_threads(threads)
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        return self.history

    def _step(self, batch: tuple[torch.Tensor, ...], epoch: int, b: int) -> float:
        loss = self.loss_fn(self.model, batch)
        value = float(loss.detach())
        if not math.isfinite(value):
            self._diverged(f"loss is {value}", epoch, b)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            if not torch.isfinite(norm):
                self._diverged(f"gradient norm is {float(norm)}", epoch, b)
        self.optimizer.step()
        self.scheduler.step()
        return value

    def _diverged(self, what: str, epoch: int, b: int) -> None:
        if self.checkpoint is not None and self.checkpoint.exists():
            kept = f"the last good checkpoint {self.checkpoint} (after epoch {len(self.history)}) is kept"
        else:
            kept = "no checkpoint was written yet"
        raise TrainingDivergedError(
            f"{self.desc}: training diverged, {what} at epoch {epoch + 1}, batch {b + 1}; {kept}. "
            "Try a smaller lr_max, a larger batch_size, or grad_clip"
        )

    def _interrupt(self, epoch: int, batch: int, epoch_state: torch.Tensor, running: dict, bar: Any) -> None:
        bar.close()
        if self.checkpoint is not None:
            self._save(
                self.checkpoint,
                epoch=epoch,
                batch=batch,
                epoch_generator=epoch_state,
                running=running,
                steps_per_epoch=self._steps,
            )
            msg = (
                f"{self.desc}: interrupted at epoch {epoch + 1}, batch {batch}; saved {self.checkpoint}. "
                "Run the same command again to continue from there."
            )
        else:
            msg = f"{self.desc}: interrupted at epoch {epoch + 1}, batch {batch} (no checkpoint file configured)"
        bar.write(msg)
        raise KeyboardInterrupt(msg)

    def _epoch_record(self, epoch: int, running: dict, n_events: int) -> dict[str, Any]:
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "loss": running["loss"] / max(running["batches"], 1),
            "lr": float(self.scheduler.get_last_lr()[0]),
            "seconds": running["seconds"],
            "events_per_s": n_events / running["seconds"] if running["seconds"] > 0 else math.nan,
        }
        if self.validation is not None:
            record["val_loss"] = self.evaluate(self.validation)
        return record

    @torch.no_grad()
    def evaluate(self, tensors: Sequence[torch.Tensor]) -> float:
        """Mean loss over ``tensors`` in batches (model in eval mode)."""
        self.model.eval()
        n = len(tensors[0])
        total = 0.0
        for start in range(0, n, self.config.batch_size):
            batch = tuple(t[start : start + self.config.batch_size].to(self.device) for t in tensors)
            total += float(self.loss_fn(self.model, batch)) * len(batch[0])
        self.model.train()
        return total / max(n, 1)


def _diff(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "") -> str:
    keys = sorted(set(a) | set(b))
    out = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, Mapping) and isinstance(vb, Mapping):
            inner = _diff(va, vb, f"{prefix}{k}.")
            if inner:
                out.append(inner)
        elif va != vb:
            out.append(f"{prefix}{k}: {va!r} then, {vb!r} now")
    return "; ".join(out)
