"""evgen plugin ``toy-gan``: the GAN of *GANplifying event samples* (arXiv:2008.06545, Sec. 2).

:class:`ToyGAN` is the registered generator; :class:`ToyGANEnsemble` trains E
independent GANs at once with stacked parameters; :func:`train_reference` is the
plain one-model loop it is checked against.
"""

from __future__ import annotations

__all__ = ["ToyGAN", "ToyGANConfig", "ToyGANEnsemble", "train_reference"]


def __getattr__(name: str):  # lazy: registering the plugin must not import torch
    if name == "ToyGAN":
        from evgen_toy_gan.generator import ToyGAN

        return ToyGAN
    if name == "ToyGANConfig":
        from evgen_toy_gan.config import ToyGANConfig

        return ToyGANConfig
    if name == "ToyGANEnsemble":
        from evgen_toy_gan.ensemble import ToyGANEnsemble

        return ToyGANEnsemble
    if name == "train_reference":
        from evgen_toy_gan.reference import train_reference

        return train_reference
    raise AttributeError(f"module 'evgen_toy_gan' has no attribute {name!r}")
