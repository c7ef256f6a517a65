"""Configuration files and typed, validated option dataclasses.

Configs are TOML or JSON files of nested sections; each section maps onto a
dataclass. :func:`from_mapping` checks every key and value against the
dataclass's type hints and raises :class:`evgen.errors.ConfigError` naming the
dotted key, the value and what was expected; unknown keys fail with the list of
known ones.

>>> cfg = from_mapping(TrainConfig, {"epochs": 10, "batch_size": 256})
>>> cfg.lr_max
0.001
>>> from_mapping(TrainConfig, {"epochs": 0}, section="training")
Traceback (most recent call last):
...
evgen.errors.ConfigError: training.epochs = 0: must be a positive integer
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from evgen.errors import ConfigError

__all__ = [
    "TrainConfig",
    "SCHEDULES",
    "invalid",
    "from_mapping",
    "to_dict",
    "load_config_file",
    "deep_merge",
    "set_dotted",
]

T = TypeVar("T")

#: Learning-rate schedules :mod:`evgen.training.schedules` knows.
SCHEDULES = ("one-cycle", "constant", "cosine")


def invalid(key: str, value: Any, expected: str) -> ConfigError:
    """The error for option ``key`` having ``value`` when ``expected`` was wanted.

    The error keeps ``key``, ``value`` and ``expected`` as attributes, so that
    :func:`from_mapping` can prefix the key with its section.
    """
    error = ConfigError(f"{key} = {value!r}: {expected}")
    error.key, error.value, error.expected = key, value, expected  # type: ignore[attr-defined]
    return error


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Options of :class:`evgen.training.Trainer` (config section ``[training]``).

    Defaults are the INN column of Table 1 of Precision Enthusiasts: Adam with
    β = (0.9, 0.99), one-cycle learning rate from 1e-4 up to 1e-3, 100 epochs,
    batch size 1024.

    Parameters
    ----------
    epochs
        Passes over the (per-epoch) training data.
    batch_size
        Events per gradient step.
    lr_start
        Starting ("starter") learning rate; the constant rate for ``schedule="constant"``
        and the initial rate of ``"cosine"``.
    lr_max
        Peak learning rate of the one-cycle schedule.
    schedule
        ``"one-cycle"`` (torch ``OneCycleLR``, cosine annealing, Adam's β₁ kept
        fixed), ``"constant"`` or ``"cosine"`` (decay from ``lr_start`` to 0).
    pct_start
        Fraction of the one-cycle steps spent increasing the rate.
    final_div_factor
        One-cycle final rate = ``lr_start / final_div_factor``.
    betas
        Adam's (β₁, β₂).
    weight_decay
        Adam weight decay (L2).
    grad_clip
        Clip the gradient norm to this value; ``None`` for no clipping.
    device
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    threads
        CPU threads for torch during training (``torch.set_num_threads``); torch's
        default when omitted. Small networks and batches train fastest with 1,
        and on a shared machine more threads than free cores slow training down
        by an order of magnitude.
    keep_best
        After the last epoch, keep the weights of the epoch with the lowest validation
        loss (needs validation data; the history marks that epoch with ``kept``). Guards
        small networks, such as the Z+jets jet networks, against overfitting late epochs.
    """

    epochs: int = 100
    batch_size: int = 1024
    lr_start: float = 1e-4
    lr_max: float = 1e-3
    schedule: str = "one-cycle"
    pct_start: float = 0.3
    final_div_factor: float = 1e4
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    grad_clip: float | None = None
    device: str = "cpu"
    threads: int | None = None
    keep_best: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise invalid("epochs", self.epochs, "must be a positive integer")
        if self.batch_size < 1:
            raise invalid("batch_size", self.batch_size, "must be a positive integer")
        if not self.lr_start > 0:
            raise invalid("lr_start", self.lr_start, "must be a positive learning rate")
        if not self.lr_max >= self.lr_start:
            raise invalid("lr_max", self.lr_max, f"must be at least lr_start = {self.lr_start}")
        if self.schedule not in SCHEDULES:
            raise invalid("schedule", self.schedule, f"expected one of {list(SCHEDULES)}")
        if not 0 < self.pct_start < 1:
            raise invalid("pct_start", self.pct_start, "must lie in (0, 1)")
        if not self.final_div_factor > 0:
            raise invalid("final_div_factor", self.final_div_factor, "must be positive")
        if not all(0 <= b < 1 for b in self.betas):
            raise invalid("betas", list(self.betas), "both Adam betas must lie in [0, 1)")
        if self.weight_decay < 0:
            raise invalid("weight_decay", self.weight_decay, "must be non-negative")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise invalid("grad_clip", self.grad_clip, "must be positive (or omitted)")
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise invalid("device", self.device, "expected 'cpu', 'cuda' or 'cuda:N'")
        if self.threads is not None and self.threads < 1:
            raise invalid("threads", self.threads, "must be a positive number of threads (or omitted)")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0] if len(errors) == 1 else invalid(key, value, f"expected {_type_name(tp)}")
    if origin is Literal:
        if value not in get_args(tp):
            raise invalid(key, value, f"expected one of {list(get_args(tp))}")
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise invalid(key, value, "expected a section (table) of options")
        return from_mapping(tp, value, section=key)
    if tp is bool:
        if not isinstance(value, bool):
            raise invalid(key, value, "expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(key, value, "expected an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid(key, value, "expected a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise invalid(key, value, "expected a string")
        return value
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise invalid(key, value, "expected a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise invalid(key, value, f"expected a list of {len(args)} values")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise invalid(key, value, "expected a list")
        (arg,) = get_args(tp) or (Any,)
        return [_coerce(v, arg, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Mapping, typing.Mapping):
        if not isinstance(value, Mapping):
            raise invalid(key, value, "expected a table")
        return dict(value)
    return value


def from_mapping(cls: type[T], mapping: Mapping[str, Any], section: str = "") -> T:
    """Build the dataclass ``cls`` from ``mapping``, validating every key and value.

    Errors name the dotted key (``section.key``), the value and what was expected.
    """
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{section or 'config'}: expected a table of options; got {mapping!r}")
    prefix = f"{section}." if section else ""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    hints = get_type_hints(cls)
    unknown = [k for k in mapping if k not in fields]
    if unknown:
        raise ConfigError(
            f"unknown option {prefix}{unknown[0]} = {mapping[unknown[0]]!r}; known options: {', '.join(fields)}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{prefix}{k}") for k, v in mapping.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        if not prefix or not hasattr(exc, "key"):
            raise
        raise invalid(f"{prefix}{exc.key}", exc.value, exc.expected) from None  # type: ignore[attr-defined]


def to_dict(obj: Any) -> Any:
    """A dataclass (possibly nested) as plain JSON/TOML-able values (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (``.toml``) or JSON (``.json``) config file into a dict."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(path.read_text())
        if suffix == ".json":
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ConfigError(f"{path}: expected a JSON object of options; got {type(data).__name__}")
            return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    raise ConfigError(f"{path}: unknown config format {suffix!r}; use .toml or .json")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``override``, merging nested tables."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def set_dotted(mapping: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Set ``mapping["a"]["b"] = value`` for ``key="a.b"``, creating tables; returns ``mapping``."""
    *parents, last = key.split(".")
    node = mapping
    for p in parents:
        child = node.get(p)
        if not isinstance(child, dict):
            child = dict(child) if isinstance(child, Mapping) else {}
            node[p] = child
        node = child
    node[last] = value
    return mapping
