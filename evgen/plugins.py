"""Plugin discovery and a typed registry over pluggy.

Plugins are found through the ``evgen`` entry-point group, evgen's own included.
``EVGEN_PLUGINS`` (comma-separated entry-point names) restricts which load;
``EVGEN_TRACE_PLUGINS=1`` prints each plugin as it loads. Unknown names fail
with the list of known ones.

>>> from evgen import plugins
>>> sorted(plugins.generators())            # doctest: +SKIP
['toy-gan', 'zjets-inn']
>>> plugins.get_generator("toy-gan")        # doctest: +SKIP
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, TypeVar

import pluggy

from evgen import hookspecs
from evgen.errors import PluginNotFoundError
from evgen.interfaces import Dataset, Generator, Metric, Reweighter

__all__ = [
    "ENTRY_POINT_GROUP",
    "ONLY_ENV",
    "TRACE_ENV",
    "PluginInfo",
    "plugin_manager",
    "reload",
    "generators",
    "reweighters",
    "metrics",
    "datasets",
    "get_generator",
    "get_reweighter",
    "get_metric",
    "get_dataset",
    "list_plugins",
]

ENTRY_POINT_GROUP = "evgen"
ONLY_ENV = "EVGEN_PLUGINS"
TRACE_ENV = "EVGEN_TRACE_PLUGINS"

T = TypeVar("T")


@dataclass(frozen=True)
class PluginInfo:
    """One registered component, as ``evgen plugins`` shows it."""

    name: str
    kind: str
    description: str
    plugin: str


def _allowed() -> set[str] | None:
    value = os.environ.get(ONLY_ENV)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


@functools.cache
def plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, loaded from the ``evgen`` entry points."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    allowed = _allowed()
    trace = os.environ.get(TRACE_ENV, "") not in ("", "0")
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and ep.name not in allowed:
            if trace:
                print(f"evgen: skipping plugin {ep.name} (not in {ONLY_ENV})", file=sys.stderr)
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        module = ep.load()
        pm.register(module, name=ep.name)
        if trace:
            print(f"evgen: loaded plugin {ep.name} from {ep.value}", file=sys.stderr)
    pm.check_pending()
    return pm


def reload() -> pluggy.PluginManager:
    """Forget the loaded plugins and discover them again (after installing one, say)."""
    plugin_manager.cache_clear()
    for cache in (_generators, _reweighters, _metrics, _datasets):
        cache.cache_clear()
    return plugin_manager()


def _collect(hook_name: str) -> dict[str, tuple[Any, str]]:
    pm = plugin_manager()
    hook = getattr(pm.hook, hook_name)
    found: dict[str, tuple[Any, str]] = {}
    for impl in reversed(hook.get_hookimpls()):
        for item in impl.function() or ():
            name = item.name
            if name in found:
                raise RuntimeError(f"two plugins register {name!r}: {found[name][1]} and {impl.plugin_name}")
            found[name] = (item, impl.plugin_name)
    return found


@functools.cache
def _generators() -> dict[str, tuple[type[Generator], str]]:
    return _collect("evgen_register_generators")


@functools.cache
def _reweighters() -> dict[str, tuple[type[Reweighter], str]]:
    return _collect("evgen_register_reweighters")


@functools.cache
def _metrics() -> dict[str, tuple[type[Metric], str]]:
    return _collect("evgen_register_metrics")


@functools.cache
def _datasets() -> dict[str, tuple[Dataset, str]]:
    return _collect("evgen_register_datasets")


def generators() -> dict[str, type[Generator]]:
    """Every registered generator class by name."""
    return {k: v[0] for k, v in sorted(_generators().items())}


def reweighters() -> dict[str, type[Reweighter]]:
    """Every registered reweighter class by name."""
    return {k: v[0] for k, v in sorted(_reweighters().items())}


def metrics() -> dict[str, type[Metric]]:
    """Every registered metric class by name."""
    return {k: v[0] for k, v in sorted(_metrics().items())}


def datasets() -> dict[str, Dataset]:
    """Every registered data set by name."""
    return {k: v[0] for k, v in sorted(_datasets().items())}


def _get(kind: str, table: dict[str, T], name: str) -> T:
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table)) or "none"
        hint = f" (plugin loading is restricted by {ONLY_ENV})" if _allowed() is not None else ""
        raise PluginNotFoundError(f"no {kind} named {name!r}; known {kind}s: {known}{hint}") from None


def get_generator(name: str) -> type[Generator]:
    """The generator class registered as ``name``."""
    return _get("generator", generators(), name)


def get_reweighter(name: str) -> type[Reweighter]:
    """The reweighter class registered as ``name``."""
    return _get("reweighter", reweighters(), name)


def get_metric(name: str) -> type[Metric]:
    """The metric class registered as ``name``."""
    return _get("metric", metrics(), name)


def get_dataset(name: str) -> Dataset:
    """The data set registered as ``name``."""
    return _get("data set", datasets(), name)


def list_plugins() -> list[PluginInfo]:
    """Every registered component with its kind, description and providing plugin."""
    rows: list[PluginInfo] = []
    for kind, table in (
        ("generator", _generators()),
        ("reweighter", _reweighters()),
        ("metric", _metrics()),
        ("dataset", _datasets()),
    ):
        for name, (item, plugin) in sorted(table.items()):
            rows.append(PluginInfo(name, kind, getattr(item, "description", ""), plugin))
    return rows
