"""Toy densities with exact truth: camel back, Gaussian ring, 5D shell, unit Gaussian.

The toys of *GANplifying event samples* (arXiv:2008.06545, Eq. 1, 3, 4) and the
Gaussian of Matchev et al. (arXiv:2002.06307, Appendix A, Eq. 25). Each toy knows
its exact density, a map to coordinates in which that density factorises and the
marginal CDF of every such coordinate, so quantile metrics (:mod:`evgen.statistics.quantiles`)
can use true equal-probability cells.

Radial toys (ring, shell) have the folded-Gaussian radial density of Eq. 3/4,

.. math:: P(r) = N_{4,1}(r) + N_{-4,1}(r), \\quad r \\ge 0,

which is the density of :math:`|X|` for :math:`X \\sim N(4, 1)`, and uniform
directions. In hyperspherical coordinates of :math:`\\mathbb{R}^d`,

.. math::
    x_1 = r\\cos\\varphi_1,\\; x_2 = r\\sin\\varphi_1\\cos\\varphi_2,\\; \\ldots,\\;
    x_{d-1} = r\\sin\\varphi_1\\cdots\\sin\\varphi_{d-2}\\cos\\varphi_{d-1},\\;
    x_d = r\\sin\\varphi_1\\cdots\\sin\\varphi_{d-1},

the volume element is :math:`r^{d-1}\\prod_{k=1}^{d-2}\\sin^{d-1-k}\\varphi_k`, so for
uniform directions the angles are independent with densities
:math:`\\propto\\sin^{d-1-k}\\varphi_k` on :math:`[0, \\pi]` (:math:`k \\le d-2`) and the
last angle :math:`\\varphi_{d-1}` is uniform on :math:`(-\\pi, \\pi]`. With
:math:`t = (1-\\cos\\varphi)/2` the density :math:`\\sin^m\\varphi\\,d\\varphi` becomes
:math:`\\propto [t(1-t)]^{(m-1)/2}dt`, so its CDF is the regularised incomplete beta
function :math:`I_t\\big(\\tfrac{m+1}{2}, \\tfrac{m+1}{2}\\big)`.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from scipy import special

from evgen.errors import InputError
from evgen.interfaces import ToyDataset

__all__ = ["CamelBack", "GaussianRing", "GaussianShell", "UnitGaussian", "RadialShell", "TOYS"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _normal_logpdf(x: np.ndarray, mu: float, sigma: float = 1.0) -> np.ndarray:
    z = (x - mu) / sigma
    return -0.5 * z * z - _LOG_SQRT_2PI - math.log(sigma)


def _as_points(points: np.ndarray, dim: int, name: str) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 1 and dim == 1:
        points = points[:, None]
    if points.ndim != 2 or points.shape[1] != dim:
        raise InputError(f"toy {name!r} expects points of shape (n, {dim}); got shape {points.shape}")
    return points


def _as_coords(coords: np.ndarray, k: int, name: str) -> np.ndarray:
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim == 1 and k == 1:
        coords = coords[:, None]
    if coords.ndim != 2 or coords.shape[1] != k:
        raise InputError(
            f"toy {name!r} expects truth coordinates of shape (n, {k}); got shape {coords.shape}"
        )
    return coords


class CamelBack(ToyDataset):
    """One-dimensional camel back, Eq. 1 of arXiv:2008.06545.

    .. math:: P(x) = \\tfrac12\\,[N_{-4,1}(x) + N_{4,1}(x)]

    The truth coordinate is :math:`x` itself.
    """

    name = "camel"
    description = "1D camel back (N(-4,1) + N(4,1))/2, GANplifying Eq. 1"
    dim = 1
    #: Names of the truth coordinates, for axis labels.
    coordinate_names: ClassVar[tuple[str, ...]] = ("x",)
    mu: ClassVar[float] = 4.0

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        sign = np.where(rng.random(n) < 0.5, -1.0, 1.0)
        return (sign * self.mu + rng.standard_normal(n))[:, None]

    def log_prob(self, points: np.ndarray) -> np.ndarray:
        x = _as_points(points, 1, self.name)[:, 0]
        return np.logaddexp(_normal_logpdf(x, -self.mu), _normal_logpdf(x, self.mu)) - math.log(2.0)

    def to_truth_coordinates(self, points: np.ndarray) -> np.ndarray:
        return _as_points(points, 1, self.name).copy()

    def truth_cdf(self, coords: np.ndarray) -> np.ndarray:
        x = _as_coords(coords, 1, self.name)
        return 0.5 * (special.ndtr(x + self.mu) + special.ndtr(x - self.mu))


class UnitGaussian(ToyDataset):
    """The unit Gaussian of Matchev et al., Eq. 25: :math:`f(x) = N_{0,1}(x)`."""

    name = "gauss"
    description = "1D unit Gaussian N(0,1), Matchev et al. Eq. 25"
    dim = 1
    coordinate_names: ClassVar[tuple[str, ...]] = ("x",)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, 1))

    def log_prob(self, points: np.ndarray) -> np.ndarray:
        return _normal_logpdf(_as_points(points, 1, self.name)[:, 0], 0.0)

    def to_truth_coordinates(self, points: np.ndarray) -> np.ndarray:
        return _as_points(points, 1, self.name).copy()

    def truth_cdf(self, coords: np.ndarray) -> np.ndarray:
        return special.ndtr(_as_coords(coords, 1, self.name))


class RadialShell(ToyDataset):
    """Uniform directions in :math:`\\mathbb{R}^d` times the folded-Gaussian radius of Eq. 3/4.

    Subclasses set :attr:`dim` (>= 2) and :attr:`name`. Truth coordinates are
    :math:`(r, \\varphi_1, \\ldots, \\varphi_{d-1})` (module docstring); the Cartesian
    density carries the Jacobian :math:`1/(r^{d-1} S_{d-1})` with
    :math:`S_{d-1} = 2\\pi^{d/2}/\\Gamma(d/2)` the area of the unit sphere.
    """

    #: Mean of the radial Gaussian (Eq. 3: 4).
    mu: ClassVar[float] = 4.0

    @classmethod
    def _log_sphere_area(cls) -> float:
        d = cls.dim
        return math.log(2.0) + 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d)

    def radial_log_prob(self, r: np.ndarray) -> np.ndarray:
        """:math:`\\log P(r)` of Eq. 3/4 for :math:`r \\ge 0` (``-inf`` below)."""
        r = np.asarray(r, dtype=np.float64)
        out = np.logaddexp(_normal_logpdf(r, self.mu), _normal_logpdf(r, -self.mu))
        return np.where(r >= 0, out, -np.inf)

    def radial_cdf(self, r: np.ndarray) -> np.ndarray:
        """Folded-normal CDF :math:`\\Phi(r-\\mu) - \\Phi(-r-\\mu)` for :math:`r \\ge 0`."""
        r = np.maximum(np.asarray(r, dtype=np.float64), 0.0)
        return special.ndtr(r - self.mu) - special.ndtr(-r - self.mu)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        direction = rng.standard_normal((n, self.dim))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        r = np.abs(self.mu + rng.standard_normal(n))
        return r[:, None] * direction

    def log_prob(self, points: np.ndarray) -> np.ndarray:
        x = _as_points(points, self.dim, self.name)
        r = np.linalg.norm(x, axis=1)
        with np.errstate(divide="ignore"):
            return self.radial_log_prob(r) - (self.dim - 1) * np.log(r) - self._log_sphere_area()

    def to_truth_coordinates(self, points: np.ndarray) -> np.ndarray:
        x = _as_points(points, self.dim, self.name)
        d = self.dim
        # tail[:, k] = |(x_k, ..., x_d)|
        tail = np.sqrt(np.cumsum((x * x)[:, ::-1], axis=1)[:, ::-1])
        coords = np.empty_like(x)
        coords[:, 0] = tail[:, 0]
        for k in range(d - 2):
            coords[:, k + 1] = np.arctan2(tail[:, k + 1], x[:, k])  # arccos(x_k / tail_k), stable
        coords[:, d - 1] = np.arctan2(x[:, d - 1], x[:, d - 2])
        return coords

    def from_truth_coordinates(self, coords: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_truth_coordinates`: hyperspherical to Cartesian."""
        c = _as_coords(coords, self.dim, self.name)
        d = self.dim
        x = np.empty_like(c)
        sin_prod = c[:, 0].copy()
        for k in range(d - 1):
            x[:, k] = sin_prod * np.cos(c[:, k + 1])
            sin_prod = sin_prod * np.sin(c[:, k + 1])
        x[:, d - 1] = sin_prod
        return x

    def truth_cdf(self, coords: np.ndarray) -> np.ndarray:
        c = _as_coords(coords, self.dim, self.name)
        d = self.dim
        u = np.empty_like(c)
        u[:, 0] = self.radial_cdf(c[:, 0])
        for k in range(1, d - 1):  # density of phi_k is proportional to sin^(d-1-k)
            a = 0.5 * (d - k)
            u[:, k] = special.betainc(a, a, 0.5 * (1.0 - np.cos(c[:, k])))
        u[:, d - 1] = (c[:, d - 1] + math.pi) / (2.0 * math.pi)
        return np.clip(u, 0.0, 1.0)


class GaussianRing(RadialShell):
    """Two-dimensional Gaussian ring, Eq. 3 of arXiv:2008.06545.

    Points are Cartesian :math:`(x, y)`; truth coordinates :math:`(r, \\varphi)` with
    :math:`\\varphi \\in (-\\pi, \\pi]` uniform and :math:`r` folded-Gaussian.
    """

    name = "ring"
    description = "2D Gaussian ring, P(r) = N(4,1)(r) + N(-4,1)(r), uniform phi; GANplifying Eq. 3"
    dim = 2
    coordinate_names: ClassVar[tuple[str, ...]] = ("r", "phi")


class GaussianShell(RadialShell):
    """Five-dimensional Gaussian spherical shell, Eq. 4 of arXiv:2008.06545.

    Truth coordinates :math:`(r, \\varphi_1, \\varphi_2, \\varphi_3, \\varphi_4)` with angle
    densities :math:`\\propto \\sin^3, \\sin^2, \\sin^1` and uniform.
    """

    name = "shell5d"
    description = "5D Gaussian shell, folded-Gaussian radius, uniform directions; GANplifying Eq. 4"
    dim = 5
    coordinate_names: ClassVar[tuple[str, ...]] = ("r", "phi1", "phi2", "phi3", "phi4")


#: One instance of every toy, as registered by :mod:`evgen_datasets.plugin`.
TOYS: list[ToyDataset] = [CamelBack(), GaussianRing(), GaussianShell(), UnitGaussian()]
