"""Parametric fits used as benchmarks for generators (GANplifying Sec. 2)."""

from __future__ import annotations

from evgen.statistics.fits.two_gaussians import (
    PARAMETERS,
    TwoGaussianFit,
    fit_quantile_mse,
    fit_two_gaussians,
)

__all__ = ["PARAMETERS", "TwoGaussianFit", "fit_two_gaussians", "fit_quantile_mse"]
