"""evgen plugin ``discriminator``: per-multiplicity classifier reweighting (arXiv:2110.13632, Sec. 3.1).

:class:`DiscriminatorReweighter` is the registered reweighter; :func:`reweight_events`
and :func:`reweight_files` are what ``evgen reweight`` calls. Importing this package
is light: torch loads on use.
"""

from __future__ import annotations

__all__ = ["DiscriminatorReweighter", "DiscriminatorConfig", "reweight_events", "reweight_files"]


def __getattr__(name: str):  # noqa: ANN202 - lazy re-exports
    if name == "DiscriminatorReweighter":
        from evgen_discriminator.reweighter import DiscriminatorReweighter

        return DiscriminatorReweighter
    if name == "DiscriminatorConfig":
        from evgen_discriminator.config import DiscriminatorConfig

        return DiscriminatorConfig
    if name in ("reweight_events", "reweight_files"):
        from evgen_discriminator import reweight

        return getattr(reweight, name)
    raise AttributeError(f"module 'evgen_discriminator' has no attribute {name!r}")
