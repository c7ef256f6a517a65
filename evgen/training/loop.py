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
* shows a tqdm bar with the loss, events/s and the ETA;
* trains data-parallel when started by torchrun (see below).

Data-parallel training
----------------------
When a process group with more than one process is initialised
(:func:`evgen.training.distributed.setup`, done by ``evgen train`` under torchrun), every
process builds the same model and the model is wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel`, which averages gradients
over processes (NCCL on GPUs, gloo on CPUs). ``config.batch_size`` is the batch
*per process*: the global batch is ``batch_size × world_size``, and an epoch has
``len(source) / global batch`` optimiser steps, which is what the schedule counts.
Every process draws the same epoch from an identically seeded generator and
trains on its slice of each global batch (:class:`~evgen.training.data.RankBatches`),
so balanced sources stay balanced; each process scales its loss by its share of
the global batch (of its weight sum with ``weight_index``), which makes the
averaged gradient the gradient of the global batch's loss: two processes with
batch size ``B`` follow a single process with batch size ``2B`` up to rounding.
Only rank 0 writes checkpoints and shows the bar; checkpoints hold the
unwrapped model's state and the global batch size, so a run resumes on any number
of processes with the same global batch (``batch_size × processes``).

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

from evgen.errors import ConfigError, EvgenError, InputError, TrainingDivergedError
from evgen.files import atomic_write
from evgen.training.config import TrainConfig, to_dict
from evgen.training.data import EpochSource, RankBatches, TensorSource, rank_rows
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


def load_checkpoint(
    path: str | Path,
    device: str | torch.device = "cpu",
    *,
    marker: int = _FORMAT,
    kind: str = "an evgen training",
) -> dict[str, Any]:
    """Read a checkpoint written by :class:`Trainer` (safely: ``weights_only=True``).

    Other training loops (DiscFlow's joint phase) load theirs through it with their own
    ``marker`` (the ``format`` entry); ``kind`` names them in the error for a file that is not one.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise InputError(
            f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc}); delete it to restart"
        ) from None
    if not isinstance(state, dict) or state.get("format") != marker:
        raise InputError(f"{path}: not {kind} checkpoint")
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
        epoch record at epoch end). Epochs and batches count from 1. In
        data-parallel training they run on every process (``trainer.rank`` tells which).
    distributed
        ``None``: train data-parallel when a process group of more than one process
        is initialised. ``True``: the data-parallel code path even on one process
        (needs a process group; measures the wrapper's overhead). ``False``: never.
    weight_index
        Position of the per-event weight tensor in a batch when the loss is a
        weighted mean normalised per batch (Eq. 10); lets data-parallel training
        reproduce the global batch's loss exactly. Ignored on one process.
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
        distributed: bool | None = None,
        weight_index: int | None = None,
    ) -> None:
        from evgen.training.distributed import current, rank_device

        self.config = config
        self.dist = current(distributed)
        self.weight_index = weight_index
        self.device = (
            resolve_device(config.device) if self.dist is None else rank_device(config.device, self.dist)
        )
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
        if not config.keep_best:  # checkpoints written before the option existed still resume
            self.fingerprint["training"].pop("keep_best", None)
        if self.dist is not None:  # the global batch fixes the run; the number of processes does not
            self.fingerprint["training"]["batch_size"] = self.global_batch_size
        self.validation = None if validation is None else tuple(validation)
        self.progress = progress and self.rank == 0
        self.desc = desc
        self.on_batch_end = on_batch_end
        self.on_epoch_end = on_epoch_end
        self.history: list[dict[str, Any]] = []
        self._best: dict[str, Any] | None = None  # keep_best: epoch, val_loss, CPU weights
        self._stop = False
        self._ddp: torch.nn.Module | None = None

    @property
    def rank(self) -> int:
        """This process's rank (0 on a single process)."""
        return 0 if self.dist is None else self.dist.rank

    @property
    def world_size(self) -> int:
        """Number of data-parallel processes (1 on a single process)."""
        return 1 if self.dist is None else self.dist.world_size

    @property
    def global_batch_size(self) -> int:
        """Events per optimiser step over all processes: ``batch_size × world_size``."""
        return self.config.batch_size * self.world_size

    # -- checkpoints -------------------------------------------------------------
    def _save(self, path: Path, **position: Any) -> None:
        if self.dist is not None:
            self._save_distributed(path, position)
            return
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
            "best": self._best,
            **position,
        }
        atomic_write(path, lambda tmp: torch.save(state, tmp))

    def _save_distributed(self, path: Path, position: Mapping[str, Any]) -> None:
        """Rank 0 writes; every rank's random state goes in, so a resume on as many processes is exact."""
        import torch.distributed as dist

        own = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
        }
        states: list[Any] = [None] * self.world_size
        dist.all_gather_object(states, own)
        if self.rank != 0:
            return
        state = {
            "format": _FORMAT,
            "fingerprint": json.dumps(self.fingerprint, sort_keys=True),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": own["torch"],
            "cuda_rng": None,
            "rank_rng": [{k: (None if v is None else v.cpu()) for k, v in s.items()} for s in states],
            "world_size": self.world_size,
            "history": self.history,
            "best": self._best,
            **position,
        }
        atomic_write(path, lambda tmp: torch.save(state, tmp))

    def _check(self, path: Path, state: dict[str, Any], steps_per_epoch: int) -> dict[str, Any]:
        saved = json.loads(state["fingerprint"])
        if saved != self.fingerprint:
            diff = _diff(saved, self.fingerprint)
            hint = ""
            if saved.get("training", {}).get("batch_size") != self.fingerprint["training"]["batch_size"]:
                hint = (
                    f"; training.batch_size here is the global batch (per-process batch_size × processes: "
                    f"{self.config.batch_size} × {self.world_size} now); to resume on N processes, "
                    f"set batch_size to {saved.get('training', {}).get('batch_size')} / N"
                )
            raise ConfigError(
                f"{path}: checkpoint was written with different settings ({diff}){hint}; "
                "use a new output directory, or delete the checkpoint to start over"
            )
        if state["steps_per_epoch"] != steps_per_epoch:
            raise ConfigError(
                f"{path}: checkpoint has {state['steps_per_epoch']} batches per epoch, this run "
                f"{steps_per_epoch}: the training data changed; use a new output directory"
            )
        return state

    def _resume_state(self, steps_per_epoch: int) -> dict[str, Any] | None:
        """The checkpoint to resume from (checked), or ``None``; rank 0 reads it and sends it to all."""
        path = self.checkpoint
        if self.dist is None:
            if path is None or not path.exists():
                return None
            return self._check(path, load_checkpoint(path, self.device), steps_per_epoch)
        import torch.distributed as dist

        payload: list[Any] = [None]
        error: BaseException | None = None
        if self.rank == 0:
            try:
                if path is not None and path.exists():
                    payload = [("state", self._check(path, load_checkpoint(path, "cpu"), steps_per_epoch))]
                else:
                    payload = [("none", None)]
            except Exception as exc:  # every rank must fail, not wait for rank 0
                error = exc
                message = exc if isinstance(exc, EvgenError) else f"rank 0: {type(exc).__name__}: {exc}"
                payload = [("error", str(message), isinstance(exc, ConfigError))]
        dist.broadcast_object_list(payload, src=0)
        if error is not None:
            raise error
        kind, *rest = payload[0]
        if kind == "error":
            raise (ConfigError if rest[1] else InputError)(rest[0])
        return rest[0] if kind == "state" else None

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"].cpu())
        if self.dist is None:
            torch.set_rng_state(state["torch_rng"].cpu())
            if state["cuda_rng"] is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
        else:
            self._restore_rank_rng(state)
        self.history = list(state["history"])
        self._best = state.get("best")

    def _restore_rank_rng(self, state: Mapping[str, Any]) -> None:
        """Each rank's own saved random state; a rank the checkpoint did not have gets a derived seed."""
        saved = state.get("rank_rng") or [{"torch": state["torch_rng"], "cuda": None}]
        if self.rank < len(saved):
            torch.set_rng_state(saved[self.rank]["torch"].cpu())
            cuda = saved[self.rank]["cuda"]
            if cuda is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(cuda.cpu(), self.device)
        else:
            torch.manual_seed(_rank_seed(self.seed, self.rank, state["epoch"], state["batch"]))

    # -- signals ----------------------------------------------------------------------
    def _handle_sigint(self, signum: int, frame: Any) -> None:
        if self._stop:  # second Ctrl-C: stop now
            signal.default_int_handler(signum, frame)
        self._stop = True  # with several processes, all stop at the same batch (see _step_distributed)

    # -- the loop -------------------------------------------------------------------
    def fit(self, source: EpochSource | Sequence[torch.Tensor]) -> list[dict[str, Any]]:
        """Train (or resume, or return at once when the checkpoint is complete); returns the history.

        The history holds one record per epoch: ``epoch``, ``loss`` (mean batch
        loss), ``val_loss`` (if validation data were given), ``lr``, ``seconds``,
        ``events_per_s`` (over all processes; data-parallel runs add ``processes``).
        """
        if not isinstance(source, EpochSource):
            source = TensorSource(*source)
        cfg = self.config
        n_events = len(source)
        batches = None
        if self.dist is None:
            steps = self._steps = math.ceil(n_events / cfg.batch_size)
        else:
            batches = RankBatches(source, cfg.batch_size, self.rank, self.world_size, self.weight_index)
            steps = self._steps = batches.steps
        epoch, batch, epoch_state, running = self._start(steps)
        if epoch >= cfg.epochs:
            self._restore_best()
            return self.history

        threads = torch.get_num_threads()
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        previous = self._install_signal_handlers()
        self._stop = False
        if self.dist is not None:
            self._ddp = self._wrap()
        step_events = cfg.batch_size if self.dist is None else self.global_batch_size
        bar = self._progress_bar(n_events, epoch, batch, step_events)
        try:
            while epoch < cfg.epochs:
                if batch == 0:
                    epoch_state = self.generator.get_state()
                    running = {"loss": 0.0, "batches": 0, "seconds": 0.0}
                else:  # resuming mid-epoch: replay the epoch's draw
                    self.generator.set_state(epoch_state)
                if batches is None:
                    data = source.epoch(epoch, self.generator)
                else:
                    batches.set_epoch(epoch, self.generator)
                self.model.train()
                start = time.perf_counter()
                for b in range(batch, steps):
                    if batches is None:
                        sl = slice(b * cfg.batch_size, (b + 1) * cfg.batch_size)
                        loss_value = self._step(tuple(t[sl].to(self.device) for t in data), epoch, b)
                        size = min(cfg.batch_size, n_events - b * cfg.batch_size)
                    else:
                        part, share = batches.batch(b)
                        loss_value, stop = self._step_distributed(
                            tuple(t.to(self.device) for t in part), share, epoch, b
                        )
                        size = batches.global_size(b)
                    running["loss"] += loss_value
                    running["batches"] += 1
                    bar.update(size)
                    bar.set_postfix(
                        epoch=f"{epoch + 1}/{cfg.epochs}", loss=f"{running['loss'] / running['batches']:.4g}"
                    )
                    if self.on_batch_end is not None:
                        self.on_batch_end(
                            {"epoch": epoch + 1, "batch": b + 1, "loss": loss_value, "trainer": self}
                        )
                    # one process: stop at once; several: where all agreed to (see _step_distributed)
                    if self._stop if batches is None else stop:
                        running["seconds"] += time.perf_counter() - start
                        self._interrupt(epoch, b + 1, epoch_state, running, bar)
                running["seconds"] += time.perf_counter() - start
                record = self._epoch_record(epoch, running, n_events)
                self.history.append(record)
                self._remember_if_best(record)
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
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._ddp = None
        self._restore_best()
        return self.history

    def _start(self, steps: int) -> tuple[int, int, Any, dict[str, Any]]:
        """Fresh optimiser, scheduler and shuffling generator, restored from the checkpoint when one
        fits; where training goes on: epoch, batch, the epoch's generator state, the running sums."""
        cfg = self.config
        self.optimizer = make_optimizer(self.model.parameters(), cfg)
        self.scheduler = make_scheduler(self.optimizer, cfg, steps)
        self.generator = torch.Generator().manual_seed(self.seed)
        epoch, batch, epoch_state, running = 0, 0, None, {"loss": 0.0, "batches": 0, "seconds": 0.0}
        state = self._resume_state(steps)
        if state is not None:
            self._restore(state)
            epoch, batch = state["epoch"], state["batch"]
            epoch_state, running = state["epoch_generator"], state["running"]
            if epoch_state is not None:
                epoch_state = epoch_state.cpu()
        else:
            torch.manual_seed(self.seed if self.rank == 0 else _rank_seed(self.seed, self.rank))
        return epoch, batch, epoch_state, running

    def _install_signal_handlers(self) -> dict[int, Any]:
        """Ctrl-C (and, under torchrun, SIGTERM) stops at the next batch with a checkpoint; the
        handlers replaced, to put back."""
        previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            # torchrun stops its workers with SIGTERM: treat it like Ctrl-C on every process
            for sig in (signal.SIGINT,) if self.dist is None else (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._handle_sigint)
        return previous

    def _progress_bar(self, n_events: int, epoch: int, batch: int, step_events: int) -> Any:
        """The progress bar over all epochs, starting where training goes on."""
        from tqdm.auto import tqdm

        cfg = self.config
        return tqdm(
            total=cfg.epochs * n_events,
            initial=min(epoch * n_events + batch * step_events, cfg.epochs * n_events),
            unit="ev",
            unit_scale=True,
            desc=self.desc,
            disable=not self.progress,
            dynamic_ncols=True,
            leave=True,
        )

    # -- keep_best ----------------------------------------------------------------------
    def _remember_if_best(self, record: Mapping[str, Any]) -> None:
        """With ``keep_best``: a CPU copy of the weights of the lowest validation loss so far."""
        if not self.config.keep_best or "val_loss" not in record:
            return
        if self._best is None or record["val_loss"] < self._best["val_loss"]:
            weights = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
            self._best = {"epoch": record["epoch"], "val_loss": record["val_loss"], "model": weights}

    def _restore_best(self) -> None:
        """After the last epoch: load the remembered weights and mark their epoch in the history."""
        if self._best is None:
            return
        self.model.load_state_dict(self._best["model"])
        for record in self.history:
            record["kept"] = record["epoch"] == self._best["epoch"]

    def _wrap(self) -> torch.nn.Module:
        """The model inside DistributedDataParallel, through a module whose forward is the loss."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(_LossModule(self.model, self.loss_fn), device_ids=ids)

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

    def _step_distributed(
        self, batch: tuple[torch.Tensor, ...], share: float, epoch: int, b: int
    ) -> tuple[float, bool]:
        """One data-parallel step; returns the global batch's loss and whether any process was interrupted.

        One all-reduce before the backward pass sums ``share × loss`` (the global
        batch's loss) and the Ctrl-C flags, so every process sees the same loss,
        stops on the same batch and fails on the same non-finite loss.
        """
        import torch.distributed as dist

        loss = self._ddp(*batch)
        stats = torch.stack(
            [
                loss.detach().double() * share,
                torch.tensor(float(self._stop), dtype=torch.float64, device=loss.device),
            ]
        )
        dist.all_reduce(stats)
        value, stop = float(stats[0]), bool(stats[1] > 0)
        if not math.isfinite(value):
            self._diverged(f"loss is {value}", epoch, b)
        self.optimizer.zero_grad(set_to_none=True)
        (loss * (share * self.world_size)).backward()  # DDP averages: Σ_r share_r ∇L_r, the global gradient
        if self.config.grad_clip is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            if not torch.isfinite(norm):
                self._diverged(f"gradient norm is {float(norm)}", epoch, b)
        self.optimizer.step()
        self.scheduler.step()
        return value, stop

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
        if self.rank == 0:
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
        if self.dist is not None:
            record["processes"] = self.world_size
        if self.validation is not None:
            record["val_loss"] = self.evaluate(self.validation)
        return record

    @torch.no_grad()
    def evaluate(self, tensors: Sequence[torch.Tensor]) -> float:
        """Mean loss over ``tensors`` in batches (model in eval mode).

        In data-parallel training every process evaluates its share of the rows
        and the result is all-reduced: call it on all processes.
        """
        self.model.eval()
        n = len(tensors[0])
        total = 0.0
        if self.dist is None:
            for start in range(0, n, self.config.batch_size):
                batch = tuple(t[start : start + self.config.batch_size].to(self.device) for t in tensors)
                total += float(self.loss_fn(self.model, batch)) * len(batch[0])
            self.model.train()
            return total / max(n, 1)
        import torch.distributed as dist

        rows = rank_rows(torch.arange(n), self.rank, self.world_size)
        for start in range(0, len(rows), self.config.batch_size):
            index = rows[start : start + self.config.batch_size]
            batch = tuple(t[index].to(self.device) for t in tensors)
            total += float(self.loss_fn(self.model, batch)) * len(index)
        sums = torch.tensor([total, float(len(rows))], dtype=torch.float64, device=self.device)
        dist.all_reduce(sums)
        self.model.train()
        return float(sums[0] / sums[1].clamp(min=1))


class _LossModule(torch.nn.Module):
    """``forward(*batch) = loss_fn(model, batch)``: lets DistributedDataParallel wrap any loss."""

    def __init__(self, model: torch.nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, *batch: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(self.model, batch)


def _rank_seed(seed: int, *key: int) -> int:
    """A torch seed for a rank other than 0 (dropout and the like differ between ranks)."""
    import numpy as np

    return int(np.random.SeedSequence([seed, *key]).generate_state(1, np.uint64)[0] >> 1)


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
