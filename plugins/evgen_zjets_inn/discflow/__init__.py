"""evgen plugin ``discflow``: the INN trained jointly with per-multiplicity discriminators (arXiv:2110.13632, Sec. 3.2).

:class:`DiscFlow` is the registered generator (the ``zjets-inn`` networks, Fig. 1,
with the discriminator-weighted loss of Eq. 15–16). Importing this package is light.
"""

from __future__ import annotations

__all__ = ["DiscFlow", "DiscFlowConfig", "JointConfig"]


def __getattr__(name: str):  # noqa: ANN202 - lazy re-exports
    if name == "DiscFlow":
        from evgen_zjets_inn.discflow.generator import DiscFlow

        return DiscFlow
    if name in ("DiscFlowConfig", "JointConfig"):
        from evgen_zjets_inn.discflow import config

        return getattr(config, name)
    raise AttributeError(f"module 'evgen_zjets_inn.discflow' has no attribute {name!r}")
