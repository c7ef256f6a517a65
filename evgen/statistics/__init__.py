"""Statistics of generated samples: quantile MSEs, amplification, coverage, uncertainty bands, fits.

Pure NumPy/SciPy on arrays and :class:`evgen.interfaces.Measurement`; no networks, no figures.
Sub-modules are imported where used, so importing this package stays light.
"""

from __future__ import annotations

__all__: list[str] = []
