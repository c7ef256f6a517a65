"""The Z+jets INN family: the multiplicity-conditioned INN of Precision Enthusiasts (Sec. 2) and its kin.

One plugin package for three generators that share the events, the preprocessing, the chained
network (:class:`~evgen_zjets_inn.model.ChainedINN`) and its training loop
(:meth:`ZJetsINN.fit <evgen_zjets_inn.generator.ZJetsINN.fit>`), each registered through its own
entry point:

* ``zjets-inn`` (this package's :mod:`~evgen_zjets_inn.plugin`): the INN;
* ``binn`` (:mod:`evgen_zjets_inn.binn`): the Bayesian INN with uncertainty bands, and ``toy-binn``;
* ``discflow`` (:mod:`evgen_zjets_inn.discflow`): the INN trained jointly with discriminators.

``binn`` and ``discflow`` subclass :class:`ZJetsINN`; why they are one package rather than
building blocks of the core is in ``docs/architecture.md``. Importing this package is light;
the generators and their networks load on use.
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
