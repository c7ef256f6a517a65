"""A run directory: everything a trained generator needs to generate again.

Layout (written by ``evgen train``, read by ``evgen generate``)::

    RUN/
      config.json          {"generator": name, "config": {...}} — the options it was trained with
      provenance.json      evgen version, seed, data files and their sha256, multiplicity
                           fractions, command line, time
      history.json         loss per epoch (per network)
      training_curves.png  loss and validation loss per epoch, drawn by `evgen train`
      weights/*.safetensors  model weights
      preprocessing.json + preprocessing.safetensors   fitted invertible preprocessing
      checkpoints/*.pt     training state for resuming (``torch.load(weights_only=True)``)

``Generator.load(RUN).sample(n)`` regenerates events from the directory alone;
:func:`load_generator` finds the generator class through the plugin registry.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evgen import __version__
from evgen.errors import InputError
from evgen.files import atomic_write

if TYPE_CHECKING:
    import torch

    from evgen.interfaces import Generator

__all__ = [
    "RunDir",
    "file_sha256",
    "provenance",
    "load_generator",
]


def file_sha256(path: str | os.PathLike[str], block: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def provenance(
    *,
    seed: int | None,
    data_files: Iterable[str | os.PathLike[str]] = (),
    command: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Where a run comes from: versions, seed, input files with sha256, command line, time."""
    versions = {"evgen": __version__, "python": platform.python_version()}
    for mod in ("torch", "numpy", "awkward", "uproot"):
        if mod in sys.modules:
            versions[mod] = getattr(sys.modules[mod], "__version__", "?")
    return {
        "evgen_version": __version__,
        "versions": versions,
        "seed": seed,
        "data_files": [{"path": str(Path(p).resolve()), "sha256": file_sha256(p)} for p in data_files],
        "command": list(sys.argv) if command is None else list(command),
        "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        **extra,
    }


def _json(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n"


class RunDir:
    """Paths and readers/writers of one run directory (see the module docstring)."""

    CONFIG = "config.json"
    PROVENANCE = "provenance.json"
    HISTORY = "history.json"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"{self.path}: exists and is not a directory; give a run directory")

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    def create(self) -> RunDir:
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    # -- paths ---------------------------------------------------------------
    def weights_path(self, name: str) -> Path:
        return self.path / "weights" / f"{name}.safetensors"

    def checkpoint_path(self, name: str) -> Path:
        return self.path / "checkpoints" / f"{name}.pt"

    @property
    def preprocessing_path(self) -> Path:
        """Stem of the preprocessing files (``.json`` and ``.safetensors``)."""
        return self.path / "preprocessing"

    # -- JSON documents --------------------------------------------------------
    def _read(self, name: str) -> dict[str, Any]:
        path = self.path / name
        if not path.exists():
            raise InputError(f"{self.path}: not a run directory (no {name}); train one with `evgen train`")
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON ({exc})") from None

    def write_config(self, generator: str, config: Mapping[str, Any]) -> None:
        atomic_write(
            self.path / self.CONFIG,
            _json({"generator": generator, "evgen_version": __version__, "config": dict(config)}),
        )

    def read_config(self) -> dict[str, Any]:
        """The ``config`` mapping the run was trained with."""
        return dict(self._read(self.CONFIG).get("config", {}))

    def generator_name(self) -> str:
        name = self._read(self.CONFIG).get("generator")
        if not isinstance(name, str):
            raise InputError(f"{self.path / self.CONFIG}: names no generator")
        return name

    def write_provenance(self, info: Mapping[str, Any]) -> None:
        atomic_write(self.path / self.PROVENANCE, _json(dict(info)))

    def read_provenance(self) -> dict[str, Any]:
        return self._read(self.PROVENANCE) if (self.path / self.PROVENANCE).exists() else {}

    def write_history(self, history: Mapping[str, Any]) -> None:
        atomic_write(self.path / self.HISTORY, _json(dict(history)))

    def read_history(self) -> dict[str, Any]:
        return self._read(self.HISTORY)

    # -- weights ------------------------------------------------------------------
    def save_weights(self, name: str, state_dict: Mapping[str, torch.Tensor]) -> Path:
        """Write a module's ``state_dict`` as safetensors."""
        from safetensors.torch import save_file

        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}
        path = self.weights_path(name)
        return atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))

    def load_weights(self, name: str, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        from safetensors.torch import load_file

        path = self.weights_path(name)
        if not path.exists():
            raise InputError(f"{path}: weights not found; was the run trained to the end?")
        return load_file(str(path), device=str(device))


def load_generator(run_dir: str | os.PathLike[str]) -> Generator:
    """Load the generator a run directory holds, finding its class through the plugin registry."""
    from evgen.plugins import get_generator

    run = RunDir(run_dir)
    return get_generator(run.generator_name()).load(run.path)
