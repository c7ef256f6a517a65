"""evgen: machine-learning event generators for particle physics.

Importing :mod:`evgen` is light: it pulls in neither torch nor matplotlib.
Heavy pieces live in sub-modules (``evgen.io``, ``evgen.nn``, ``evgen.plotting``)
and are imported where they are used.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
