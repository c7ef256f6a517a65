"""Neural-network building blocks shared by the plugins: MLPs, splines, couplings, flows.

Importing :mod:`evgen.nn` imports torch; :mod:`evgen` itself does not.
"""

from __future__ import annotations

__all__ = [
    "BayesianLinear",
    "bayesian_factory",
    "kl_loss",
    "MLP",
    "ConditionalINN",
    "CubicKnots",
    "LinearFactory",
    "RandomRotation",
    "SplineCoupling",
    "cubic_knots",
    "cubic_spline",
    "cubic_spline_inverse",
    "random_orthogonal",
    "rational_quadratic_spline",
]

from evgen.nn.bayesian import BayesianLinear, bayesian_factory, kl_loss
from evgen.nn.couplings import SplineCoupling
from evgen.nn.flows import ConditionalINN
from evgen.nn.mlp import MLP, LinearFactory
from evgen.nn.rotations import RandomRotation, random_orthogonal
from evgen.nn.splines import (
    CubicKnots,
    cubic_knots,
    cubic_spline,
    cubic_spline_inverse,
    rational_quadratic_spline,
)
