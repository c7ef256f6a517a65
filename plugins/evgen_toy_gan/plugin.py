"""Registers the ``toy-gan`` generator with evgen (entry point of group ``evgen``)."""

from __future__ import annotations

from evgen.hookspecs import hookimpl

__all__ = ["evgen_register_generators"]


@hookimpl
def evgen_register_generators() -> list[type]:
    """The toy GAN of *GANplifying event samples*."""
    from evgen_toy_gan.generator import ToyGAN

    return [ToyGAN]
