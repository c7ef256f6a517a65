"""evgen plugin ``binn``: Bayesian INNs with uncertainty bands (Precision Enthusiasts, Sec. 4).

Generators ``binn`` (Z+jets, :class:`ZJetsBINN`) and ``toy-binn`` (toy points,
:class:`ToyBINN`); commands ``evgen binn bands``, ``evgen binn scan`` and
``evgen binn combined``. Importing this package is light; the generators and their
networks load on use.
"""

from __future__ import annotations

__all__ = ["ZJetsBINN", "ToyBINN", "BINNConfig", "ToyBINNConfig"]

_LAZY = {
    "ZJetsBINN": ("evgen_zjets_inn.binn.zjets", "ZJetsBINN"),
    "ToyBINN": ("evgen_zjets_inn.binn.toy", "ToyBINN"),
    "BINNConfig": ("evgen_zjets_inn.binn.config", "BINNConfig"),
    "ToyBINNConfig": ("evgen_zjets_inn.binn.toy_config", "ToyBINNConfig"),
}


def __getattr__(name: str):  # noqa: ANN202 - lazy re-exports
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(name)
