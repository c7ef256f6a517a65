"""evgen plugin ``zjets-inn``: the multiplicity-conditioned INN of Precision Enthusiasts (Sec. 2).

Importing this package is light; the generator and its networks load on use.
"""

from __future__ import annotations

__all__ = ["ZJetsINN", "ZJetsINNConfig"]


def __getattr__(name: str):  # noqa: ANN202 - lazy re-exports
    if name == "ZJetsINN":
        from evgen_zjets_inn.generator import ZJetsINN

        return ZJetsINN
    if name == "ZJetsINNConfig":
        from evgen_zjets_inn.config import ZJetsINNConfig

        return ZJetsINNConfig
    raise AttributeError(name)
