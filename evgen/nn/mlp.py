"""Fully connected sub-networks: the :math:`\\chi` of Eq. (5) and the discriminators."""

from __future__ import annotations

__all__ = ["MLP", "LinearFactory"]

from collections.abc import Callable

import torch
from torch import nn

from evgen.errors import ConfigError

LinearFactory = Callable[[int, int], nn.Module]
"""``factory(in_features, out_features) -> nn.Module``, e.g. a Bayesian linear layer."""


class MLP(nn.Sequential):
    r"""A multi-layer perceptron: ``layers`` hidden layers of width ``hidden``.

    ``Linear(in, hidden) -> act [-> dropout] -> ... -> Linear(hidden, out)``; every
    linear layer is built by ``linear_factory`` (default :class:`torch.nn.Linear`), so
    a Bayesian network (Sec. 4.1 of arXiv:2110.13632) swaps its layers in by
    passing its own factory.

    Parameters
    ----------
    in_features, out_features:
        Input and output widths.
    hidden:
        Width of the hidden layers.
    layers:
        Number of hidden layers (Table 1: "layers per block").
    activation:
        Activation module class, default :class:`torch.nn.ReLU`.
    dropout:
        Dropout probability after each hidden activation (0 disables).
    linear_factory:
        Builds each linear layer from ``(in_features, out_features)``.
    zero_last:
        Zero the last layer's ``weight`` and ``bias`` (where the layer has them as
        parameters), so the network starts as the constant 0. Flows use this to
        start at the identity.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int = 256,
        layers: int = 3,
        *,
        activation: type[nn.Module] = nn.ReLU,
        dropout: float = 0.0,
        linear_factory: LinearFactory | None = None,
        zero_last: bool = False,
    ) -> None:
        if layers < 1 or hidden < 1:
            raise ConfigError(f"MLP needs layers >= 1 and hidden >= 1, got layers={layers}, hidden={hidden}")
        factory = nn.Linear if linear_factory is None else linear_factory
        modules: list[nn.Module] = []
        width = in_features
        for _ in range(layers):
            modules += [factory(width, hidden), activation()]
            if dropout > 0:
                modules.append(nn.Dropout(dropout))
            width = hidden
        modules.append(factory(width, out_features))
        super().__init__(*modules)
        self.in_features, self.out_features = in_features, out_features
        if zero_last:
            with torch.no_grad():
                for name in ("weight", "bias"):
                    parameter = getattr(modules[-1], name, None)
                    if isinstance(parameter, nn.Parameter):
                        parameter.zero_()
