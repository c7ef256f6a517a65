"""Errors a user can act on.

Every error raised for bad input names what is wrong (file, branch, value) and
what was expected. The CLI turns :class:`EvgenError` into a one-line message and
a non-zero exit instead of a traceback.
"""

from __future__ import annotations

__all__ = ["EvgenError", "InputError", "ConfigError", "PluginNotFoundError", "TrainingDivergedError"]


class EvgenError(Exception):
    """Base class of every error evgen raises on purpose."""


class InputError(EvgenError, ValueError):
    """Input data is missing, unreadable or not what was expected."""


class ConfigError(EvgenError, ValueError):
    """An option or configuration value makes no sense."""


class PluginNotFoundError(EvgenError, KeyError):
    """No plugin is registered under the requested name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TrainingDivergedError(EvgenError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""
