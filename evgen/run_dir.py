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
import inspect
import json
import os
import platform
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evgen import __version__
from evgen.errors import ConfigError, InputError

if TYPE_CHECKING:
    import torch

    from evgen.interfaces import Generator

__all__ = [
    "RunDir",
    "atomic_write",
    "file_sha256",
    "provenance",
    "load_generator",
    "generate_from_run",
]


def atomic_write(path: str | os.PathLike[str], data: bytes | str | Callable[[Path], object]) -> Path:
    """Write ``path`` so that it appears complete or not at all.

    ``data`` is the content, or a callable that writes a given temporary path.
    The temporary file sits in the same directory and is renamed over ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if callable(data):
            data(tmp)
        else:
            tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


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


def _chunk_seeds(seed: int, n_chunks: int) -> list[int]:
    import numpy as np

    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n_chunks)]


def generate_from_run(
    run_dir: str | os.PathLike[str],
    n: int,
    output: str | os.PathLike[str],
    *,
    chunk_size: int = 100_000,
    seed: int | None = None,
    magic: bool = True,
    progress: bool = True,
    shards: int = 1,
    shard_index: int | None = None,
    jobs: int = 1,
    on_chunk: Callable[[int], object] | None = None,
    generator: Generator | None = None,
    format: str = "ttree",
    device: str = "cpu",
    overlap: bool | None = None,
) -> Path:
    """Generate ``n`` events from a run directory and stream them to a ROOT file.

    Events are produced and written ``chunk_size`` at a time, so memory stays
    bounded for any ``n``; the file appears only when complete. Chunk ``i`` is
    sampled with a seed spawned from ``seed``, so a seed fixes the output for a
    given chunk size. The run's provenance and the generation options go into the
    file's metadata (``evgen.io.read_metadata``).

    Parameters
    ----------
    magic
        Apply the inverse magic weights (Eq. 9) when the run was trained with the
        magic transformation; ``False`` gives the smoothed density the network learned.
    shards, shard_index
        Split the production of ``n`` events into ``shards`` files
        (:mod:`evgen.shards`). With ``shard_index``, write only that shard to
        ``output`` (``seed`` is then required, so that independently run shards
        belong to one production); without it, write all shards into the
        directory ``output`` and return its ``fileset.json``.
    jobs
        Processes for all shards at once (``shards > 1`` without ``shard_index``).
    on_chunk
        Called with the number of events after every written chunk (progress reporting).
    generator
        The run's generator when already loaded (saves loading it again).
    format
        ``"ttree"`` (default) or ``"rntuple"``: the same fields and metadata either way.
    device
        Where the networks sample: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA
        when present). Decoding and writing stay on the CPU. A seed fixes the events for a
        given device (GPU kernels draw other random numbers than the CPU's).
    overlap
        Sample the next chunk while the current one is written (:mod:`evgen.generation`);
        the file is the same either way. By default on for a GPU; off on the CPU, where
        sampling and writing would compete for the same cores (measured: 13 % slower on
        a busy 2-core machine, ``docs/scaling.md``).
    """
    from evgen.devices import resolve_device_name
    from evgen.io.writer import check_format

    format = check_format(format)
    device = resolve_device_name(device)
    if shards < 1:
        raise ConfigError(f"--shards {shards}: must be a positive number of shards")
    if shard_index is None and shards > 1:
        from evgen.shards import generate_shards

        return generate_shards(
            run_dir,
            n,
            output,
            shards=shards,
            jobs=jobs,
            chunk_size=chunk_size,
            seed=seed,
            magic=magic,
            progress=progress,
            format=format,
            device=device,
        )
    if jobs != 1:
        raise ConfigError("--jobs runs several shards at once: use it with --shards K (and no --shard-index)")
    if n <= 0:
        raise ConfigError(f"-n must be a positive number of events; got {n}")
    if chunk_size <= 0:
        raise ConfigError(f"--chunk-size must be positive; got {chunk_size}")
    shard = None
    if shard_index is not None:
        from evgen.shards import Shard

        if seed is None:
            raise ConfigError(
                "--shard-index needs --seed: every shard of a production must be generated with the same seed"
            )
        shard = Shard(shard_index, shards, n, seed)
    run = RunDir(run_dir)
    if generator is None:
        generator = load_generator(run.path)
    generator = generator.to(device)
    kwargs: dict[str, Any] = {}
    if not magic:
        if "magic" not in inspect.signature(generator.sample).parameters:
            raise ConfigError(f"generator {generator.name!r} has no magic transformation to switch off")
        kwargs["magic"] = False
    if seed is None:
        import numpy as np

        seed = int(np.random.SeedSequence().generate_state(1)[0])
    generation: dict[str, Any] = {
        "n": n,
        "seed": seed,
        "chunk_size": chunk_size,
        "magic": magic,
        "device": device,
        "format": format,
    }
    writer_options: dict[str, Any] = {"format": format}
    if shard is None:
        seeds = _chunk_seeds(seed, -(-n // chunk_size))
    else:
        seeds = shard.chunk_seeds(chunk_size)
        generation.update(n=shard.n, shard=shard.metadata())
        writer_options.update(first_event=shard.first_event, luminosity_block=shard.luminosity_block)
    metadata = {
        "generator": run.generator_name(),
        "run_dir": str(run.path.resolve()),
        "config": run.read_config(),
        "provenance": run.read_provenance(),
        "generation": generation,
    }
    from evgen.generation import write_generated

    write_generated(
        generator,
        generation["n"],
        output,
        seeds,
        chunk_size,
        sample_options=kwargs,
        metadata=metadata,
        writer_options=writer_options,
        progress=progress,
        on_chunk=on_chunk,
        overlap=device != "cpu" if overlap is None else overlap,
    )
    return Path(output)
