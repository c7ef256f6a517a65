"""Process groups for data-parallel training: torchrun's environment, NCCL on GPUs, gloo on CPUs.

``torchrun --nproc-per-node=N -m evgen train ...`` starts ``N`` processes and
tells each its place through environment variables (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``). :func:`setup` reads them and
joins the process group; :class:`evgen.training.Trainer` then notices the group
and trains data-parallel (see ``docs/scaling.md``).

>>> from evgen.training.distributed import process_group
>>> with process_group("cuda") as info:            # doctest: +SKIP
...     train_generator("zjets-inn", ["zjets.root"], "runs/zjets" if info.rank == 0 else tmp)

:func:`launch` starts torchrun itself (what ``evgen train --nproc N`` does).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evgen.errors import ConfigError

if TYPE_CHECKING:
    import torch

__all__ = [
    "DistInfo",
    "launched_by_torchrun",
    "backend_for",
    "setup",
    "teardown",
    "process_group",
    "current",
    "rank",
    "is_main_process",
    "rank_device",
    "torchrun_command",
    "launch",
    "free_port",
]

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
_OWNED = {"value": False}  # whether setup() created the process group (then teardown() destroys it)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the process group.

    Attributes
    ----------
    rank
        Global rank, ``0 … world_size − 1``; rank 0 writes checkpoints and logs.
    world_size
        Number of processes.
    local_rank
        Rank on this node: the GPU index a process uses.
    backend
        ``"nccl"`` or ``"gloo"``.
    """

    rank: int
    world_size: int
    local_rank: int
    backend: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str) -> int:
    text = os.environ[name]
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"environment variable {name}={text!r}: expected an integer") from None


def launched_by_torchrun() -> bool:
    """Whether torchrun (or an equivalent launcher) set ``RANK`` and ``WORLD_SIZE``."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def backend_for(device: str | torch.device) -> str:
    """``"nccl"`` for CUDA devices, ``"gloo"`` for the CPU."""
    return "nccl" if str(device).startswith("cuda") else "gloo"


def setup(
    device: str | torch.device = "cpu", *, backend: str | None = None, timeout_s: float = 1800
) -> DistInfo:
    """Join the process group described by torchrun's environment variables.

    Parameters
    ----------
    device
        The training device (``"cpu"``, ``"cuda"``): picks the backend, and on GPUs
        makes ``cuda:LOCAL_RANK`` the current device.
    backend
        Override the backend (``"gloo"`` works on GPUs too, slowly).
    timeout_s
        How long a collective waits for the other processes before failing.

    Returns the :class:`DistInfo`; an already initialised group is returned as is.
    """
    import torch
    import torch.distributed as dist

    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed; distributed training is impossible")
    if dist.is_initialized():
        return current(force=True)  # type: ignore[return-value]
    missing = [name for name in _ENV if name not in os.environ]
    if missing:
        raise ConfigError(
            f"distributed training needs the environment torchrun sets ({', '.join(missing)} unset); "
            "start with `torchrun --nproc-per-node=N -m evgen train ...` or `evgen train ... --nproc N`"
        )
    rank_, world, local = _env_int("RANK"), _env_int("WORLD_SIZE"), _env_int("LOCAL_RANK")
    backend = backend or backend_for(device)
    if str(device).startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device = {str(device)!r}: CUDA is not available on this machine; use --device cpu"
            )
        if local >= torch.cuda.device_count():
            raise ConfigError(
                f"LOCAL_RANK={local} but this node has {torch.cuda.device_count()} GPU(s): "
                "start at most one process per GPU (--nproc-per-node)"
            )
        torch.cuda.set_device(local)
    kwargs = {"device_id": torch.device("cuda", local)} if backend == "nccl" else {}
    dist.init_process_group(backend, timeout=_dt.timedelta(seconds=timeout_s), **kwargs)
    _OWNED["value"] = True
    return DistInfo(rank=rank_, world_size=world, local_rank=local, backend=backend)


def teardown() -> None:
    """Wait for every process, then leave the process group :func:`setup` created."""
    import torch.distributed as dist

    if _OWNED["value"] and dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()
            _OWNED["value"] = False


@contextlib.contextmanager
def process_group(device: str | torch.device = "cpu", **kwargs: object) -> Iterator[DistInfo]:
    """:func:`setup` on entry, :func:`teardown` on a normal exit (``with process_group("cuda") as info:``).

    After an error the group is destroyed without the final barrier, so that one
    failing process does not leave the others waiting in it.
    """
    info = setup(device, **kwargs)  # type: ignore[arg-type]
    try:
        yield info
    except BaseException:
        import torch.distributed as dist

        if _OWNED["value"] and dist.is_initialized():
            dist.destroy_process_group()
            _OWNED["value"] = False
        raise
    teardown()


def current(force: bool | None = None) -> DistInfo | None:
    """The process group training should use, or ``None`` for plain single-process training.

    Parameters
    ----------
    force
        ``None``: the initialised group if it has more than one process. ``True``:
        the initialised group even with one process (data-parallel code path on a
        single device, e.g. to measure its overhead); fails without a group.
        ``False``: ``None``.
    """
    if force is False:
        return None
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        if force:
            raise ConfigError(
                "distributed = True needs a process group: call evgen.training.distributed.setup() first"
            )
        if launched_by_torchrun() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise ConfigError(
                f"started by torchrun with WORLD_SIZE={os.environ['WORLD_SIZE']}, but no process group is "
                "initialised: call evgen.training.distributed.setup() (or use `evgen train`) before training"
            )
        return None
    world = dist.get_world_size()
    if world == 1 and not force:
        return None
    local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return DistInfo(rank=dist.get_rank(), world_size=world, local_rank=local, backend=str(dist.get_backend()))


def rank() -> int:
    """This process's global rank (0 without a process group)."""
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    """True on rank 0 (and without a process group): the process that writes files and logs."""
    return rank() == 0


def rank_device(device: str | torch.device, info: DistInfo) -> torch.device:
    """The device of this rank: ``"cuda"`` becomes ``cuda:LOCAL_RANK``; ``cuda:N`` and ``cpu`` stay."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device = {str(device)!r}: CUDA is not available on this machine; use --device cpu"
            )
        return torch.device("cuda", info.local_rank)
    return dev


def torchrun_command(argv: Sequence[str], nproc: int, *, module: str = "evgen") -> list[str]:
    """The torchrun command line running ``python -m module *argv`` in ``nproc`` local processes.

    ``--standalone`` rendezvouses on a free local port, so several runs can share a machine.
    """
    if nproc < 1:
        raise ConfigError(f"--nproc {nproc}: must be a positive number of processes")
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        module,
        *argv,
    ]


def launch(argv: Sequence[str], nproc: int, *, env: dict[str, str] | None = None) -> int:
    """Run ``evgen *argv`` under torchrun with ``nproc`` processes on this node; returns the exit code.

    Ctrl-C reaches the workers directly (they share the terminal's process group),
    which checkpoint and stop together; this process waits for them.
    """
    command = torchrun_command(argv, nproc)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.call(command, env=env)
    finally:
        signal.signal(signal.SIGINT, previous)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for ``MASTER_PORT``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
