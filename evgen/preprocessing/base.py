"""Invertible preprocessing: the step protocol and a chain of steps.

A step maps a feature matrix ``x`` of shape ``(n, d)`` to ``y`` of the same shape
and returns ``log |det ∂y/∂x|`` per row, so that densities transform as
``log p_x(x) = log p_y(y) + log_det``. Steps are fitted on training data and
saved as plain JSON (hyper-parameters) plus arrays (safetensors): no pickle.

>>> chain = Chain([LogShift([0], [20.0]), Standardize()])   # doctest: +SKIP
>>> y, log_det = chain.fit(x).forward(x)                     # doctest: +SKIP
>>> x_again = chain.inverse(y)                               # doctest: +SKIP
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np

from evgen.errors import ConfigError, InputError

__all__ = [
    "Step",
    "BaseStep",
    "Chain",
    "register_step",
    "step_kinds",
    "as_matrix",
    "save_state",
    "load_state",
]

_KINDS: dict[str, type[BaseStep]] = {}
S = TypeVar("S", bound="type[BaseStep]")


@runtime_checkable
class Step(Protocol):
    """What every preprocessing step provides."""

    kind: ClassVar[str]

    def fit(self, x: np.ndarray, weights: np.ndarray | None = None) -> Step: ...

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def inverse(self, y: np.ndarray) -> np.ndarray: ...

    def params(self) -> dict[str, Any]: ...

    def arrays(self) -> dict[str, np.ndarray]: ...


def register_step(cls: S) -> S:
    """Class decorator: make a step kind loadable by name (third-party steps too)."""
    if not getattr(cls, "kind", None):
        raise TypeError(f"{cls.__name__} must set a class attribute 'kind'")
    _KINDS[cls.kind] = cls
    return cls


def step_kinds() -> dict[str, type[BaseStep]]:
    """Every registered step kind."""
    return dict(_KINDS)


class BaseStep(abc.ABC):
    """Convenience base: float64 in and out, fitted-state bookkeeping, (de)serialisation.

    Subclasses take their hyper-parameters as keyword arguments (returned by
    :meth:`params`) and keep fitted arrays in attributes named by
    ``fitted_arrays``.
    """

    kind: ClassVar[str] = ""
    #: Names of the attributes that :meth:`fit` sets (saved with :meth:`arrays`).
    fitted_arrays: ClassVar[tuple[str, ...]] = ()

    def fit(self, x: np.ndarray, weights: np.ndarray | None = None) -> BaseStep:
        """Learn the step's parameters from ``x`` (rows weighted by ``weights``); returns self."""
        return self

    @abc.abstractmethod
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(y, log |det J|)`` with ``log_det`` of shape ``(n,)``."""

    @abc.abstractmethod
    def inverse(self, y: np.ndarray) -> np.ndarray:
        """``x`` such that ``forward(x)[0] == y``."""

    @abc.abstractmethod
    def params(self) -> dict[str, Any]:
        """JSON-serialisable hyper-parameters: ``type(self)(**params())`` rebuilds the unfitted step."""

    def arrays(self) -> dict[str, np.ndarray]:
        """The fitted state as named arrays."""
        self._check_fitted()
        return {name: np.ascontiguousarray(getattr(self, name)) for name in self.fitted_arrays}

    @classmethod
    def from_state(cls, params: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> BaseStep:
        """Rebuild a fitted step from :meth:`params` and :meth:`arrays`."""
        step = cls(**params)
        for name in cls.fitted_arrays:
            if name not in arrays:
                raise InputError(f"saved {cls.kind!r} step lacks the array {name!r}")
            setattr(step, name, np.array(arrays[name], dtype=np.float64))  # own, aligned copy
        return step

    @property
    def fitted(self) -> bool:
        return all(getattr(self, name, None) is not None for name in self.fitted_arrays)

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def as_matrix(x: np.ndarray) -> np.ndarray:
    """``x`` as a float64 ``(n, d)`` array (a copy never aliases the input)."""
    x = np.array(x, dtype=np.float64)
    if x.ndim != 2:
        raise InputError(f"preprocessing expects a (n, d) matrix; got shape {x.shape}")
    return x


class Chain:
    """Steps applied in order; log-determinants add up.

    Parameters
    ----------
    steps
        Steps, applied first to last by :meth:`forward` and last to first by :meth:`inverse`.
    """

    def __init__(self, steps: Sequence[BaseStep]) -> None:
        self.steps = list(steps)

    def fit(self, x: np.ndarray, weights: np.ndarray | None = None) -> Chain:
        """Fit each step on the output of the previous one; returns self."""
        x = as_matrix(x)
        for step in self.steps:
            step.fit(x, weights)
            x, _ = step.forward(x)
        return self

    def forward(
        self, x: np.ndarray, dequantize: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(y, log |det ∂y/∂x|)``; the log-det is the sum over steps.

        With ``dequantize`` (training inputs), steps that have a ``dequantize`` method spread
        their input's point masses first (:meth:`evgen.preprocessing.steps.Gaussianize.dequantize`).
        """
        x = as_matrix(x)
        log_det = np.zeros(len(x))
        for step in self.steps:
            if dequantize is not None and hasattr(step, "dequantize"):
                x = step.dequantize(x, dequantize)
            x, ld = step.forward(x)
            log_det += ld
        return x, log_det

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """Undo :meth:`forward`."""
        y = as_matrix(y)
        for step in reversed(self.steps):
            y = step.inverse(y)
        return y

    # -- persistence ------------------------------------------------------
    def state(self) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
        """``(spec, arrays)``: a JSON-able list of ``{kind, params}`` and arrays keyed ``"<i>.<name>"``."""
        spec = [{"kind": s.kind, "params": s.params()} for s in self.steps]
        arrays = {f"{i}.{k}": v for i, s in enumerate(self.steps) for k, v in s.arrays().items()}
        return spec, arrays

    @classmethod
    def from_state(cls, spec: Sequence[Mapping[str, Any]], arrays: Mapping[str, np.ndarray]) -> Chain:
        """Rebuild a fitted chain from :meth:`state`."""
        steps = []
        for i, item in enumerate(spec):
            kind = item.get("kind")
            if kind not in _KINDS:
                raise ConfigError(f"unknown preprocessing step kind {kind!r}; known: {sorted(_KINDS)}")
            prefix = f"{i}."
            mine = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            steps.append(_KINDS[kind].from_state(item.get("params", {}), mine))
        return cls(steps)

    def save(self, path: str | Path) -> None:
        """Write ``path.json`` (spec) and ``path.safetensors`` (arrays)."""
        save_state(path, {"steps": self.state()[0]}, self.state()[1])

    @classmethod
    def load(cls, path: str | Path) -> Chain:
        """Read a chain written by :meth:`save`."""
        spec, arrays = load_state(path)
        return cls.from_state(spec["steps"], arrays)

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        return f"Chain({self.steps!r})"


def save_state(path: str | Path, spec: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``spec`` to ``path.json`` and ``arrays`` to ``path.safetensors`` (no pickle)."""
    from safetensors.numpy import save_file

    from evgen.files import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path.with_suffix(".json"), json.dumps(spec, indent=2, sort_keys=True).encode())
    contiguous = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    atomic_write(path.with_suffix(".safetensors"), lambda tmp: save_file(contiguous, str(tmp)))


def load_state(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read what :func:`save_state` wrote."""
    from safetensors.numpy import load_file

    path = Path(path)
    for p in (path.with_suffix(".json"), path.with_suffix(".safetensors")):
        if not p.exists():
            raise InputError(f"{p}: preprocessing file not found")
    spec = json.loads(path.with_suffix(".json").read_text())
    return spec, load_file(str(path.with_suffix(".safetensors")))
