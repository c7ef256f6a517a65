"""Train any registered generator from files into a run directory (what ``evgen train`` calls).

>>> from evgen.training.api import train_generator
>>> train_generator("zjets-inn", ["zjets.root"], "runs/zjets",
...                 config="configs/zjets-inn-small.toml", overrides={"training.epochs": 5})  # doctest: +SKIP

Rerunning the same call after an interruption resumes from the run directory's
checkpoints (for generators whose ``fit`` accepts ``run_dir``). A call that fails
before its first checkpoint leaves no directory behind.
"""

from __future__ import annotations

import inspect
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evgen.errors import ConfigError
from evgen.generation.run_dir import RunDir, provenance
from evgen.interfaces import Generator
from evgen.training.config import load_config_file, set_dotted, to_dict

__all__ = ["train_generator"]


def train_generator(
    name: str,
    data: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    config: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: bool = True,
    command: list[str] | None = None,
    bootstrap: int | None = None,
    plots: bool = True,
) -> Generator:
    """Read ``data``, train the generator registered as ``name``, and fill the run directory ``output``.

    Parameters
    ----------
    name
        Registry name (``evgen plugins --kind generator``).
    data
        Training files (ROOT).
    output
        Run directory; created if needed. A directory holding another generator's run is refused.
    config
        A TOML/JSON config file or a mapping of options.
    overrides
        Dotted option names → values applied over ``config``, e.g. ``{"training.epochs": 5, "seed": 3}``.
    progress
        Show progress bars.
    command
        The command line recorded in the provenance (``sys.argv`` by default).
    bootstrap
        Train on a bootstrap resample of the events (drawn with replacement, fixed by this
        seed; :func:`evgen.generation.ensemble.bootstrap_indices`): one member of a bootstrap ensemble.
        A generator whose ``fit`` takes ``bootstrap`` resamples its own training split (keeping
        its validation events distinct); the others get the resampled events.
    plots
        Draw the loss and validation loss per epoch into ``training_curves.png``.

    A failure before the first checkpoint (bad input, Ctrl-C in the first epoch) removes
    the run directory when this call created it; an existing directory is never removed.
    """
    from evgen.plugins import get_generator

    cls = get_generator(name)
    if isinstance(config, (str, os.PathLike)):
        mapping = load_config_file(config)
    else:
        mapping = dict(config or {})
    for key, value in (overrides or {}).items():
        if value is not None:
            set_dotted(mapping, key, value)
    generator = cls(mapping)
    paths = [Path(p) for p in data]
    if not paths:
        raise ConfigError("--data: give at least one training file")
    run = RunDir(output)
    if (run.path / RunDir.CONFIG).exists() and run.generator_name() != name:
        raise ConfigError(
            f"{run.path}: holds a {run.generator_name()!r} run; choose another output directory"
        )
    created = not run.path.exists()
    run.create()
    try:
        options = getattr(generator, "config", mapping)
        resolved = options.to_dict() if hasattr(options, "to_dict") else to_dict(options)
        seed = resolved.get("seed") if isinstance(resolved, Mapping) else None
        run.write_config(name, resolved)
        info = provenance(seed=seed, data_files=paths, command=command, generator=name, status="training")
        if bootstrap is not None:
            info["bootstrap_seed"] = int(bootstrap)
        run.write_provenance(info)

        if hasattr(generator, "read_training_data"):
            events = generator.read_training_data(paths)
        else:
            from evgen.io import read_events

            events = read_events(paths)
        params = inspect.signature(generator.fit).parameters
        kwargs: dict[str, Any] = {}
        if bootstrap is not None and "bootstrap" in params:
            kwargs["bootstrap"] = int(bootstrap)  # the generator resamples its own training split
        elif bootstrap is not None:
            from evgen.generation.ensemble import bootstrap_indices

            events = events[bootstrap_indices(len(events), bootstrap)]
        if "run_dir" in params:
            kwargs["run_dir"] = run.path
        if "progress" in params:
            kwargs["progress"] = progress
        history = generator.fit(events, **kwargs)
        generator.save(run.path)
        run.write_history(dict(history or {}) if isinstance(history, Mapping) else {"history": history})
        extra = generator.provenance_extra() if hasattr(generator, "provenance_extra") else {}
        info.update(status="complete", n_events=len(events), **extra)
        run.write_provenance(info)
    except BaseException:
        # nothing half-done: a directory this call created goes again unless training reached
        # a checkpoint (then rerunning the command resumes from it)
        if created and not _has_checkpoint(run.path):
            shutil.rmtree(run.path, ignore_errors=True)
        raise
    if plots:
        _draw_training_curves(run)
    return generator


def _has_checkpoint(path: Path) -> bool:
    """Whether the run directory holds a checkpoint or trained weights worth keeping."""
    return any(p.is_file() for sub in ("checkpoints", "weights") for p in (path / sub).glob("*"))


def _draw_training_curves(run: RunDir) -> None:
    """``training_curves.png`` in the run directory: loss and validation loss per epoch."""
    from evgen.training.curves import loss_curves

    curves = loss_curves(run.read_history())
    if not curves:
        return
    from evgen.plotting import pyplot, training_curves_figure

    plt = pyplot()
    fig = training_curves_figure(curves)
    path = run.path / "training_curves.png"
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=90, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
