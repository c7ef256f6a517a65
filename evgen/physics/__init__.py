"""Physics of collision events: observables, the magic transform, augmentation weights.

One formula family per module; each takes :mod:`evgen.events` records or arrays and knows no
networks. Sub-modules are imported where used, so importing this package stays light.
"""

from __future__ import annotations

__all__: list[str] = []
