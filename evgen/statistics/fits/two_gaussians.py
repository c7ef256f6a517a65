"""The 5-parameter two-Gaussian maximum-likelihood fit: the "fit" benchmark of GANplifying.

Section 2 of arXiv:2008.06545 fits the camel back (Eq. 1) with its true functional
form: two means, two widths and the relative height,

.. math:: f(x) = a\\,N_{\\mu_1,\\sigma_1}(x) + (1-a)\\,N_{\\mu_2,\\sigma_2}(x),

by an unbinned maximum-likelihood fit with iminuit. Knowing the functional form is
more than any network encodes, so this fit bounds what a generator trained on the
same points can reach. Its quantile MSE is computed exactly from its CDF
(:func:`fit_quantile_mse`), with no sampling noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from evgen.errors import ConfigError, InputError

if TYPE_CHECKING:
    from evgen.interfaces import ToyDataset

__all__ = ["PARAMETERS", "TwoGaussianFit", "fit_two_gaussians", "fit_quantile_mse", "two_means_split"]

#: Parameter names, in the order of :attr:`TwoGaussianFit.values`.
PARAMETERS = ("mu1", "sigma1", "mu2", "sigma2", "frac")

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _logpdf(x: np.ndarray, mu1: float, s1: float, mu2: float, s2: float, a: float) -> np.ndarray:
    z1 = (x - mu1) / s1
    z2 = (x - mu2) / s2
    with np.errstate(divide="ignore"):
        l1 = math.log(a) if a > 0 else -math.inf
        l2 = math.log1p(-a) if a < 1 else -math.inf
    return np.logaddexp(l1 - 0.5 * z1 * z1 - math.log(s1), l2 - 0.5 * z2 * z2 - math.log(s2)) - _LOG_SQRT_2PI


@dataclass(frozen=True)
class TwoGaussianFit:
    """Result of :func:`fit_two_gaussians`: :math:`a N_{\\mu_1,\\sigma_1} + (1-a) N_{\\mu_2,\\sigma_2}`.

    Components are ordered so that ``mu1 <= mu2``; ``frac`` is the weight :math:`a`
    of the first (left) component.
    """

    mu1: float
    sigma1: float
    mu2: float
    sigma2: float
    frac: float
    #: One-sigma (Hesse) errors by parameter name; NaN when unknown.
    errors: Mapping[str, float] = field(default_factory=lambda: dict.fromkeys(PARAMETERS, math.nan))
    #: 5x5 covariance in the order of :data:`PARAMETERS`, or None.
    covariance: np.ndarray | None = None
    #: Minimum of the negative log-likelihood :math:`-\\sum_i w_i \\log f(x_i)`.
    nll: float = math.nan
    #: Whether MIGRAD converged to a valid minimum.
    valid: bool = True

    @property
    def values(self) -> tuple[float, float, float, float, float]:
        """``(mu1, sigma1, mu2, sigma2, frac)``."""
        return (self.mu1, self.sigma1, self.mu2, self.sigma2, self.frac)

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """Log density at ``x``."""
        return _logpdf(np.asarray(x, dtype=np.float64), *self.values)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density at ``x``."""
        return np.exp(self.logpdf(x))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """Cumulative distribution at ``x`` (``-inf`` and ``inf`` allowed)."""
        x = np.asarray(x, dtype=np.float64)
        return self.frac * special.ndtr((x - self.mu1) / self.sigma1) + (1.0 - self.frac) * special.ndtr(
            (x - self.mu2) / self.sigma2
        )

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` points of shape ``(n, 1)``."""
        first = rng.random(n) < self.frac
        mu = np.where(first, self.mu1, self.mu2)
        sigma = np.where(first, self.sigma1, self.sigma2)
        return (mu + sigma * rng.standard_normal(n))[:, None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (values, errors, covariance, nll, valid)."""
        return {
            "values": dict(zip(PARAMETERS, map(float, self.values), strict=True)),
            "errors": {k: float(v) for k, v in self.errors.items()},
            "covariance": None if self.covariance is None else np.asarray(self.covariance).tolist(),
            "nll": float(self.nll),
            "valid": bool(self.valid),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TwoGaussianFit:
        """Inverse of :meth:`to_dict`."""
        try:
            values = [float(data["values"][k]) for k in PARAMETERS]
        except (KeyError, TypeError) as exc:
            raise InputError(f"a two-Gaussian fit needs values for {list(PARAMETERS)}; got {data!r}") from exc
        cov = data.get("covariance")
        return cls(
            *values,
            errors={k: float(v) for k, v in data.get("errors", {}).items()}
            or dict.fromkeys(PARAMETERS, math.nan),
            covariance=None if cov is None else np.asarray(cov, dtype=np.float64),
            nll=float(data.get("nll", math.nan)),
            valid=bool(data.get("valid", True)),
        )


def two_means_split(x: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Exact 1D two-means (k-means with k=2) split point of ``x``.

    Minimises the (weighted) within-cluster sum of squares over all splits of the
    sorted data with cumulative sums; returns the midpoint between the clusters.
    """
    order = np.argsort(x)
    xs = np.asarray(x, dtype=np.float64)[order]
    w = np.ones_like(xs) if weights is None else np.asarray(weights, dtype=np.float64)[order]
    if len(xs) < 2:
        raise InputError(f"need at least two points to split; got {len(xs)}")
    cw, cx, cxx = np.cumsum(w), np.cumsum(w * xs), np.cumsum(w * xs * xs)
    wl, xl, xxl = cw[:-1], cx[:-1], cxx[:-1]
    wr, xr, xxr = cw[-1] - wl, cx[-1] - xl, cxx[-1] - xxl
    with np.errstate(divide="ignore", invalid="ignore"):
        sse = (xxl - xl * xl / wl) + (xxr - xr * xr / wr)
    sse = np.where((wl > 0) & (wr > 0), sse, np.inf)
    i = int(np.argmin(sse))
    return 0.5 * (xs[i] + xs[i + 1])


def _start_from_split(x: np.ndarray, w: np.ndarray, cut: float, floor: float) -> tuple[float, ...] | None:
    left = x < cut
    wl, wr = w[left].sum(), w[~left].sum()
    if wl <= 0 or wr <= 0:
        return None

    def moments(mask: np.ndarray, wsum: float) -> tuple[float, float]:
        mu = float(np.sum(w[mask] * x[mask]) / wsum)
        var = float(np.sum(w[mask] * (x[mask] - mu) ** 2) / wsum)
        return mu, max(math.sqrt(max(var, 0.0)), floor)

    mu1, s1 = moments(left, wl)
    mu2, s2 = moments(~left, wr)
    return (mu1, s1, mu2, s2, float(wl / (wl + wr)))


def fit_two_gaussians(
    x: np.ndarray,
    start: Sequence[float] | Mapping[str, float] | None = None,
    weights: np.ndarray | None = None,
) -> TwoGaussianFit:
    """Unbinned maximum-likelihood fit of two Gaussians (5 parameters) with iminuit.

    Parameters
    ----------
    x
        Data, shape ``(n,)`` or ``(n, 1)``.
    start
        Starting values ``(mu1, sigma1, mu2, sigma2, frac)`` (or a mapping by name).
        By default several starts are tried: the exact 1D two-means split, a split at
        the median and a split at 0; the best valid minimum wins.
    weights
        Per-point weights (default ones). The NLL is :math:`-\\sum_i w_i\\log f(x_i)`;
        with non-unit weights the Hesse errors are not calibrated.

    Returns
    -------
    TwoGaussianFit
        Components ordered by mean, with Hesse errors and covariance.
    """
    from iminuit import Minuit

    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise InputError(f"a two-Gaussian fit needs 1D data of shape (n,) or (n, 1); got shape {x.shape}")
    if len(x) < 5:
        raise InputError(f"a 5-parameter fit needs at least 5 points; got {len(x)}")
    if not np.all(np.isfinite(x)):
        raise InputError("the data to fit contain NaN or inf")
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != x.shape:
        raise InputError(f"weights have shape {w.shape}, expected {x.shape}")
    spread = float(np.std(x))
    if spread == 0:
        raise InputError("all data points are equal: two Gaussians cannot be fitted")
    floor = 1e-3 * spread

    if start is not None:
        if isinstance(start, Mapping):
            start = [start[k] for k in PARAMETERS]
        if len(start) != 5:
            raise ConfigError(f"start must give the 5 values {PARAMETERS}; got {start!r}")
        starts = [tuple(float(s) for s in start)]
    else:
        cuts = [two_means_split(x, w), float(np.median(x)), 0.0]
        starts = [s for c in cuts if (s := _start_from_split(x, w, c, 0.1 * spread)) is not None]

    def nll(mu1: float, sigma1: float, mu2: float, sigma2: float, frac: float) -> float:
        return float(-np.sum(w * _logpdf(x, mu1, sigma1, mu2, sigma2, frac)))

    best = None
    for values in starts:
        m = Minuit(nll, *values, name=PARAMETERS)
        m.errordef = Minuit.LIKELIHOOD
        m.limits["sigma1"] = (floor, None)
        m.limits["sigma2"] = (floor, None)
        m.limits["frac"] = (0.0, 1.0)
        m.migrad()
        if not m.valid:
            m.migrad()
        if best is None or (m.valid, -m.fval) > (best.valid, -best.fval):
            best = m
    assert best is not None
    best.hesse()
    result = TwoGaussianFit(
        *map(float, best.values),
        errors=dict(zip(PARAMETERS, map(float, best.errors), strict=True)),
        covariance=None if best.covariance is None else np.array(best.covariance),
        nll=float(best.fval),
        valid=bool(best.valid),
    )
    return _ordered(result)


def _ordered(fit: TwoGaussianFit) -> TwoGaussianFit:
    if fit.mu1 <= fit.mu2:
        return fit
    perm = [2, 3, 0, 1, 4]
    cov = None
    if fit.covariance is not None:
        cov = fit.covariance[np.ix_(perm, perm)].copy()
        cov[4, :4] *= -1.0  # frac -> 1 - frac flips its correlations
        cov[:4, 4] *= -1.0
    errors = {PARAMETERS[i]: fit.errors[PARAMETERS[j]] for i, j in enumerate(perm)}
    return replace(
        fit,
        mu1=fit.mu2,
        sigma1=fit.sigma2,
        mu2=fit.mu1,
        sigma2=fit.sigma1,
        frac=1.0 - fit.frac,
        errors=errors,
        covariance=cov,
    )


def fit_quantile_mse(fit: TwoGaussianFit, toy: ToyDataset, n_quantiles: int) -> float:
    """Exact quantile MSE (Eq. 2) of a fitted density against a 1D toy's truth.

    The fraction in each of the ``n_quantiles`` true quantile intervals is the fit's
    probability mass there, :math:`F(e_{j+1}) - F(e_j)`, so no sampling noise enters.
    The toy's truth coordinate must be the point itself (camel back, unit Gaussian).
    """
    from evgen.statistics.quantiles import quantile_mse, truth_quantile_edges

    if toy.dim != 1:
        raise ConfigError(f"fit_quantile_mse needs a 1D toy; {toy.name!r} has dimension {toy.dim}")
    edges = truth_quantile_edges(toy, n_quantiles)
    return quantile_mse(np.diff(fit.cdf(edges)))
