"""The invertible steps of the Precision-Enthusiasts preprocessing (Sec. 2.1).

* :class:`LogShift` — ``log(x − x_min)`` for transverse momenta (and jet masses);
* :class:`AtanhScale` — ``atanh(Δφ / π)`` for azimuthal angles (and other bounded coordinates);
* :class:`AsinhScale` — ``asinh(x / s)`` for signed momenta with long tails;
* :class:`LogPolar` — a 2-vector as ``(log r, atanh(φ/π))`` (a density with a cusp at the origin);
* :class:`RelativeTo` — columns minus a reference column (``η_k − η_1``; angles wrapped);
* :class:`SeparationMap` — closes the ``ΔR < R`` hole the jet algorithm leaves around a jet;
* :class:`Standardize` — centre and scale every column, Eq. (4);
* :class:`Whiten` — decorrelate (Cholesky or PCA whitening);
* :class:`Gaussianize` — map every column's marginal onto a standard normal (optional).

All of them act on float64 ``(n, d)`` matrices, return ``log |det J|`` per row
and never produce inf or NaN at the edges of their domain: values on or beyond
an edge are clamped to the nearest interior point (documented per step).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.preprocessing.base import BaseStep, as_matrix, register_step

__all__ = [
    "LogShift",
    "AtanhScale",
    "AsinhScale",
    "LogPolar",
    "RelativeTo",
    "SeparationMap",
    "radial_collapse",
    "radial_expand",
    "Standardize",
    "Whiten",
    "Gaussianize",
    "weighted_moments",
    "weighted_quantiles",
]


def _columns(columns: Sequence[int], name: str) -> list[int]:
    cols = [int(c) for c in columns]
    if len(set(cols)) != len(cols):
        raise ConfigError(f"{name}: columns {cols} contain duplicates")
    if any(c < 0 for c in cols):
        raise ConfigError(f"{name}: columns must be non-negative; got {cols}")
    return cols


def _check_width(x: np.ndarray, cols: list[int], name: str) -> None:
    if cols and max(cols) >= x.shape[1]:
        raise InputError(f"{name}: column {max(cols)} requested but the input has {x.shape[1]} columns")


def weighted_moments(x: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean ``(d,)`` and covariance ``(d, d)`` of the rows of ``x``."""
    x = as_matrix(x)
    if len(x) < 2:
        raise InputError(f"need at least 2 rows to fit preprocessing; got {len(x)}")
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(x),):
        raise InputError(f"weights have shape {w.shape}, expected ({len(x)},)")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise InputError("preprocessing weights must be finite, non-negative and not all zero")
    w = w / w.sum()
    mean = w @ x
    centred = x - mean
    cov = (centred * w[:, None]).T @ centred
    return mean, cov


@register_step
class LogShift(BaseStep):
    """``y = log(x − x_min)`` on selected columns (the p̃_T of Sec. 2.1).

    ``log|det J| = −Σ log(x − x_min)`` over the selected columns. A value at or
    below its threshold (``x − x_min < floor``) is clamped to ``x_min + floor``
    so that the map stays finite; its inverse then returns ``x_min + floor``,
    a shift of at most ``floor`` (1e-4 GeV by default, far below any
    resolution). The inverse ``exp(y) + x_min`` always lies
    above the threshold, so generated jets respect the jet cut.

    Parameters
    ----------
    columns
        Column indices to transform.
    minima
        One threshold ``x_min`` per column.
    floor
        Smallest ``x − x_min`` kept (see above).
    """

    kind = "log-shift"

    def __init__(self, columns: Sequence[int], minima: Sequence[float], floor: float = 1e-4) -> None:
        self.columns = _columns(columns, self.kind)
        self.minima = [float(m) for m in minima]
        if len(self.minima) != len(self.columns):
            raise ConfigError(f"{self.kind}: {len(self.columns)} columns but {len(self.minima)} minima")
        if not floor > 0:
            raise ConfigError(f"{self.kind}: floor must be positive; got {floor}")
        self.floor = float(floor)

    def params(self) -> dict[str, Any]:
        return {"columns": self.columns, "minima": self.minima, "floor": self.floor}

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = as_matrix(x)
        _check_width(y, self.columns, self.kind)
        shifted = np.maximum(y[:, self.columns] - np.asarray(self.minima), self.floor)
        logs = np.log(shifted)
        y[:, self.columns] = logs
        return y, -logs.sum(axis=1)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        x = as_matrix(y)
        _check_width(x, self.columns, self.kind)
        x[:, self.columns] = np.exp(x[:, self.columns]) + np.asarray(self.minima)
        return x


@register_step
class AtanhScale(BaseStep):
    """``y = atanh(x / s)`` on selected columns (``s = π`` for Δφ, Sec. 2.1).

    ``log|det J| = Σ [−log s − log(1 − (x/s)²)]``. Because ``Δφ = ±π`` would map
    to ±∞, ``x / s`` is clamped to ``[−1 + eps, 1 − eps]`` (|y| ≤ 8.4 for the
    default ``eps = 1e-7``); ``Δφ = ±π`` is one physical point (back to back),
    and the clamp moves it by ``π·eps`` ≈ 3e-7 rad. The inverse is ``s·tanh(y)``.
    """

    kind = "atanh-scale"

    def __init__(self, columns: Sequence[int], scale: float = float(np.pi), eps: float = 1e-7) -> None:
        self.columns = _columns(columns, self.kind)
        if not scale > 0:
            raise ConfigError(f"{self.kind}: scale must be positive; got {scale}")
        if not 0 < eps < 1:
            raise ConfigError(f"{self.kind}: eps must lie in (0, 1); got {eps}")
        self.scale = float(scale)
        self.eps = float(eps)

    def params(self) -> dict[str, Any]:
        return {"columns": self.columns, "scale": self.scale, "eps": self.eps}

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = as_matrix(x)
        _check_width(y, self.columns, self.kind)
        u = np.clip(y[:, self.columns] / self.scale, -1 + self.eps, 1 - self.eps)
        y[:, self.columns] = np.arctanh(u)
        log_det = (-np.log(self.scale) - np.log1p(-(u * u))).sum(axis=1)
        return y, log_det

    def inverse(self, y: np.ndarray) -> np.ndarray:
        x = as_matrix(y)
        _check_width(x, self.columns, self.kind)
        x[:, self.columns] = self.scale * np.tanh(x[:, self.columns])
        return x


@register_step
class AsinhScale(BaseStep):
    """``y = asinh(x / s)`` on selected columns: a smooth, odd compression of signed momenta.

    Linear for ``|x| ≪ s`` and logarithmic beyond, so a quantity with a narrow core and
    long tails on both sides (the transverse-momentum balance of Z+jets events) becomes
    close to Gaussian. ``log|det J| = Σ [−log s − ½ log(1 + (x/s)²)]``; defined on all of ℝ,
    no clamping needed. The inverse is ``s·sinh(y)``.
    """

    kind = "asinh-scale"

    def __init__(self, columns: Sequence[int], scale: float = 10.0) -> None:
        self.columns = _columns(columns, self.kind)
        if not scale > 0:
            raise ConfigError(f"{self.kind}: scale must be positive; got {scale}")
        self.scale = float(scale)

    def params(self) -> dict[str, Any]:
        return {"columns": self.columns, "scale": self.scale}

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = as_matrix(x)
        _check_width(y, self.columns, self.kind)
        u = y[:, self.columns] / self.scale
        y[:, self.columns] = np.arcsinh(u)
        log_det = (-np.log(self.scale) - 0.5 * np.log1p(u * u)).sum(axis=1)
        return y, log_det

    def inverse(self, y: np.ndarray) -> np.ndarray:
        x = as_matrix(y)
        _check_width(x, self.columns, self.kind)
        x[:, self.columns] = self.scale * np.sinh(x[:, self.columns])
        return x


@register_step
class LogPolar(BaseStep):
    """A 2-vector ``(x, y)`` in two columns becomes ``(log r, atanh(φ/π))``.

    ``r = √(x² + y²)`` and ``φ = atan2(y, x) − reference`` wrapped into ``[−π, π)``. Why: a
    2-d density that is finite and peaked at the origin (the transverse-momentum balance of
    Z+jets events: its density falls like ``exp(−|B|/b)``, a cone) has a cusp there in
    Cartesian coordinates, which a flow of smooth splines rounds off, so the magnitude's low
    end comes out wrong (measured: −7σ in the 1-jet |Σ p_T| bin at 2–3 GeV, docs/zjets-inn.md).
    In polar coordinates the cusp is gone: the magnitude's density is
    ``∝ r`` at small ``r``, smooth in ``log r``, and the angle is uniform there.

    With ``dx dy = r dr dφ``, ``log|det J| = −2 log r − log π − log(1 − (φ/π)²)``. The
    magnitude is clamped at ``floor`` (the origin itself is one point) and ``φ/π`` to
    ``[−1 + eps, 1 − eps]`` as in :class:`AtanhScale`. Put the reference where the density
    of ``φ`` is lowest, so that its cut at ``±π`` (mapped to ``±∞``) sits in a valley.

    Parameters
    ----------
    columns
        The two columns ``(x, y)``; after the step they hold ``(log r, atanh(φ/π))``.
    reference
        Direction (radians from the ``x`` axis) that ``φ`` is measured from.
    floor, eps
        Smallest ``r`` kept; clamp of the angle (see above).
    """

    kind = "log-polar"

    def __init__(
        self, columns: Sequence[int], reference: float = 0.0, floor: float = 1e-6, eps: float = 1e-7
    ) -> None:
        self.columns = _columns(columns, self.kind)
        if len(self.columns) != 2:
            raise ConfigError(f"{self.kind}: needs exactly two columns (x, y); got {self.columns}")
        if not floor > 0:
            raise ConfigError(f"{self.kind}: floor must be positive; got {floor}")
        if not 0 < eps < 1:
            raise ConfigError(f"{self.kind}: eps must lie in (0, 1); got {eps}")
        self.reference = float(reference)
        self.floor = float(floor)
        self.eps = float(eps)

    def params(self) -> dict[str, Any]:
        return {"columns": self.columns, "reference": self.reference, "floor": self.floor, "eps": self.eps}

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = as_matrix(x)
        _check_width(y, self.columns, self.kind)
        i, j = self.columns
        r = np.maximum(np.hypot(y[:, i], y[:, j]), self.floor)
        phi = np.mod(np.arctan2(y[:, j], y[:, i]) - self.reference + np.pi, 2 * np.pi) - np.pi
        u = np.clip(phi / np.pi, -1 + self.eps, 1 - self.eps)
        y[:, i] = np.log(r)
        y[:, j] = np.arctanh(u)
        return y, -2 * np.log(r) - np.log(np.pi) - np.log1p(-(u * u))

    def inverse(self, y: np.ndarray) -> np.ndarray:
        x = as_matrix(y)
        _check_width(x, self.columns, self.kind)
        i, j = self.columns
        r = np.exp(x[:, i])
        phi = np.pi * np.tanh(x[:, j]) + self.reference
        x[:, i], x[:, j] = r * np.cos(phi), r * np.sin(phi)
        return x


@register_step
class RelativeTo(BaseStep):
    """``y_c = x_c − x_ref`` on selected columns (wrapped into ``[−π, π)`` for angles): ``log|det J| = 0``.

    For the further jets' pseudorapidities ``η_k − η_1``: the jet–jet correlations (the
    ΔR = 0.4 ring of the jet algorithm, the Δη spectrum) then sit at fixed places instead
    of along a diagonal. Whitening, being linear, cannot tell the two apart; a per-column
    marginal map after this step (:class:`Gaussianize`) can. With ``period`` (``2π`` for
    azimuths) the difference is wrapped into ``[−period/2, period/2)``: for a fixed
    reference that is a shift on the circle, so still a bijection with unit Jacobian.
    ``reference`` must come before every column in the order of the chained networks.
    """

    kind = "relative-to"

    def __init__(self, columns: Sequence[int], reference: int, period: float | None = None) -> None:
        self.columns = _columns(columns, self.kind)
        self.reference = int(reference)
        if self.reference in self.columns or self.reference < 0:
            raise ConfigError(
                f"{self.kind}: reference column {reference} must be ≥ 0 and not among {self.columns}"
            )
        if period is not None and not period > 0:
            raise ConfigError(f"{self.kind}: period must be positive or None; got {period!r}")
        self.period = None if period is None else float(period)

    def params(self) -> dict[str, Any]:
        return {"columns": self.columns, "reference": self.reference, "period": self.period}

    def _wrap(self, x: np.ndarray) -> np.ndarray:
        if self.period is None:
            return x
        half = 0.5 * self.period
        return np.mod(x + half, self.period) - half

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = as_matrix(x)
        _check_width(y, [*self.columns, self.reference], self.kind)
        y[:, self.columns] = self._wrap(y[:, self.columns] - y[:, [self.reference]])
        return y, np.zeros(len(y))

    def inverse(self, y: np.ndarray) -> np.ndarray:
        x = as_matrix(y)
        _check_width(x, [*self.columns, self.reference], self.kind)
        x[:, self.columns] = self._wrap(x[:, self.columns] + x[:, [self.reference]])
        return x


@register_step
class SeparationMap(BaseStep):
    """Close the hole ``ΔR < R`` that a jet algorithm leaves around a jet (a radial map of the plane).

    A jet's position relative to another, ``(Δη, Δφ)``, never lies within the jet radius
    ``R``: the anti-k_T algorithm merges closer pairs. A flow cannot make a hole (its
    density is positive everywhere on a connected space); the magic transformation
    (Eq. 7–10) softens the hole's edge with weights, but the smoothed density still
    vanishes inside it and the generation weights ``f̃`` (up to 6.5 just above ``R``)
    amplify whatever the network leaks to that edge. This step removes the hole instead:
    each pair of columns ``(Δη, Δφ)`` at distance ``r > R`` from the origin moves radially
    to ``r′ = √(r² − R² s(r))``, with ``s`` a smoothstep that is 1 at ``R`` and 0 at and
    beyond ``r_out = π`` (so ``|Δφ| ≤ π`` is kept). The circle ``r = R`` collapses onto the
    origin, every point of the plane is reached once, and the generated jets respect
    ``ΔR ≥ R`` by construction, without weights.

    Near the origin ``r′² ≈ r² − R²``: that map preserves area, so a density that is finite
    at the hole's edge stays finite at ``r′ = 0``. In general
    ``log|det J| = log(1 − R² s′(r) / (2r))`` (between 0 and 0.025 for ``R = 0.4``),
    0 beyond ``r_out``. A row inside the hole is an error (the sample was made with a
    smaller jet radius: lower ``radius``).

    Parameters
    ----------
    pairs
        ``[(Δη column, Δφ column), …]``: the positions relative to the reference jet.
    radius
        The jet radius ``R`` (0.4).
    outer
        ``r_out``: beyond it the map is the identity.
    """

    kind = "separation-map"

    def __init__(
        self, pairs: Sequence[Sequence[int]], radius: float = 0.4, outer: float = float(np.pi)
    ) -> None:
        self.pairs = [[int(a), int(b)] for a, b in pairs]
        _columns([c for pair in self.pairs for c in pair], self.kind)
        if not 0 < radius < outer:
            raise ConfigError(f"{self.kind}: need 0 < radius < outer; got radius {radius!r}, outer {outer!r}")
        self.radius = float(radius)
        self.outer = float(outer)

    def params(self) -> dict[str, Any]:
        return {"pairs": self.pairs, "radius": self.radius, "outer": self.outer}

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = as_matrix(x)
        _check_width(y, [c for pair in self.pairs for c in pair], self.kind)
        log_det = np.zeros(len(y))
        for a, b in self.pairs:
            r = np.hypot(y[:, a], y[:, b])
            inside = r <= self.radius
            if inside.any():
                raise InputError(
                    f"{self.kind}: {int(inside.sum())} rows have columns ({a}, {b}) closer than the jet "
                    f"radius {self.radius} (smallest {float(r.min()):.4g}); lower the radius to the "
                    "sample's jet algorithm"
                )
            r_new, ld = radial_collapse(r, self.radius, self.outer)
            scale = r_new / r
            y[:, a] *= scale
            y[:, b] *= scale
            log_det += ld
        return y, log_det

    def inverse(self, y: np.ndarray) -> np.ndarray:
        x = as_matrix(y)
        _check_width(x, [c for pair in self.pairs for c in pair], self.kind)
        for a, b in self.pairs:
            r_new = np.hypot(x[:, a], x[:, b])
            r = radial_expand(r_new, self.radius, self.outer)
            # the origin (the collapsed circle) goes to the edge of the hole along +Δη
            at_origin = r_new == 0
            scale = np.where(at_origin, 0.0, r / np.where(at_origin, 1.0, r_new))
            x[:, a] = np.where(at_origin, self.radius, x[:, a] * scale)
            x[:, b] = x[:, b] * scale
        return x


def _smoothstep(r: np.ndarray, radius: float, outer: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """``s(r) = 1 − 3t² + 2t³`` with ``t = (r − R)/(r_out − R)`` clipped to [0, 1], and ``ds/dr``."""
    width = outer - radius
    t = np.clip((r - radius) / width, 0.0, 1.0)
    return 1 - t * t * (3 - 2 * t), -6 * t * (1 - t) / width


def radial_collapse(r: np.ndarray, radius: float, outer: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """The radial map of :class:`SeparationMap`: ``r ≥ R`` → ``r′ = √(r² − R² s(r))``, with
    ``log|det J|`` of the planar map, ``log(1 − R² s′(r)/(2r))``.

    ``outer`` (a number or one per row, each above ``radius``) is where the map joins the
    identity. ``r′²`` rises monotonically in ``r`` (``s′ ≤ 0``), so the map is a bijection of
    ``[R, ∞)`` onto ``[0, ∞)`` that sends the circle ``r = R`` to the origin.
    """
    s, ds = _smoothstep(r, radius, outer)
    return np.sqrt(r * r - radius**2 * s), np.log1p(-(radius**2) * ds / (2 * r))


def radial_expand(r_new: np.ndarray, radius: float, outer: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`radial_collapse`: solve ``r² − R² s(r) = r′²`` for ``r`` (Newton's method;
    the left side rises monotonically)."""
    outer = np.broadcast_to(np.asarray(outer, dtype=np.float64), np.shape(r_new))
    r = np.sqrt(r_new * r_new + radius**2)  # the area-preserving map's inverse, close already
    inner = r_new < outer
    for _ in range(30):
        s, ds = _smoothstep(r, radius, outer)
        step = (r * r - radius**2 * s - r_new * r_new) / (2 * r - radius**2 * ds)
        r = np.clip(r - step, radius, np.maximum(outer, radius))
        if np.max(np.abs(step), initial=0.0) < 1e-15 * float(np.max(outer, initial=1.0)):
            break
    return np.where(inner, r, r_new)


@register_step
class Standardize(BaseStep):
    """Centre and scale every column, ``q̃ = (q − q̄) / σ(q)`` — Eq. (4).

    ``log|det J| = −Σ log σ``. Means and standard deviations honour event weights.
    """

    kind = "standardize"
    fitted_arrays = ("mean", "std")

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def params(self) -> dict[str, Any]:
        return {}

    def fit(self, x: np.ndarray, weights: np.ndarray | None = None) -> Standardize:
        mean, cov = weighted_moments(x, weights)
        std = np.sqrt(np.diag(cov))
        if np.any(std <= 0):
            bad = int(np.flatnonzero(std <= 0)[0])
            raise InputError(f"{self.kind}: column {bad} is constant ({mean[bad]}); cannot standardise it")
        self.mean, self.std = mean, std
        return self

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        x = as_matrix(x)
        y = (x - self.mean) / self.std
        return y, np.full(len(x), -np.log(self.std).sum())

    def inverse(self, y: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return as_matrix(y) * self.std + self.mean


@register_step
class Whiten(BaseStep):
    """Decorrelate the columns: ``y = (x − μ) A`` with ``Aᵀ Σ A = 1``.

    ``method="cholesky"`` uses ``A = (L⁻¹)ᵀ`` for ``Σ = L Lᵀ``: a triangular map
    in which output column ``i`` depends only on input columns ``≤ i``. It keeps
    the ordering "muons and first jet, then jet 2, then jet 3", so the
    multiplicity networks of Sec. 2.2 can still be chained after whitening.
    ``method="pca"`` rotates onto the principal axes and scales them to unit
    variance, ``A = V Λ^{-1/2}``. ``log|det J| = log|det A|`` for every row.
    """

    kind = "whiten"
    fitted_arrays = ("mean", "matrix", "inverse_matrix")
    methods = ("cholesky", "pca")

    def __init__(self, method: str = "cholesky") -> None:
        if method not in self.methods:
            raise ConfigError(f"{self.kind}: unknown method {method!r}; choose one of {list(self.methods)}")
        self.method = method
        self.mean: np.ndarray | None = None
        self.matrix: np.ndarray | None = None
        self.inverse_matrix: np.ndarray | None = None

    def params(self) -> dict[str, Any]:
        return {"method": self.method}

    def fit(self, x: np.ndarray, weights: np.ndarray | None = None) -> Whiten:
        mean, cov = weighted_moments(x, weights)
        if self.method == "cholesky":
            try:
                lower = np.linalg.cholesky(cov)
            except np.linalg.LinAlgError:
                raise InputError(
                    f"{self.kind}: the feature covariance is singular (columns linearly dependent "
                    f"or too few events: {len(x)} for {x.shape[1]} columns)"
                ) from None
            self.inverse_matrix = lower.T
            self.matrix = np.linalg.inv(lower).T
        else:
            eigval, eigvec = np.linalg.eigh(cov)
            if np.any(eigval <= 1e-12 * max(eigval.max(), 1e-300)):
                raise InputError(f"{self.kind}: the feature covariance is singular (eigenvalues {eigval})")
            self.matrix = eigvec / np.sqrt(eigval)
            self.inverse_matrix = (eigvec * np.sqrt(eigval)).T
        # C order, as after loading, so a saved and reloaded step computes bit for bit the same
        self.matrix = np.ascontiguousarray(self.matrix)
        self.inverse_matrix = np.ascontiguousarray(self.inverse_matrix)
        self.mean = mean
        return self

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        x = as_matrix(x)
        log_det = np.linalg.slogdet(self.matrix)[1]
        return (x - self.mean) @ self.matrix, np.full(len(x), log_det)

    def inverse(self, y: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return as_matrix(y) @ self.inverse_matrix + self.mean


def weighted_quantiles(
    x: np.ndarray, probabilities: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Quantiles of the 1-d sample ``x`` (optionally weighted) at ``probabilities``.

    The empirical CDF is interpolated linearly between the midpoints of the sorted
    events' weight steps (for unit weights, numpy's ``"hazen"`` quantile definition).
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    cumulative = (np.cumsum(ws) - 0.5 * ws) / ws.sum()
    return np.interp(probabilities, cumulative, xs)


@register_step
class Gaussianize(BaseStep):
    """Map each column's marginal onto a standard normal (a Gaussian-copula start for the flow).

    Fitting places ``bins + 1`` knots per column at the sample's quantiles of
    ``Φ(z_k)``, ``z_k`` evenly spaced in ``[−z_max, z_max]``; the map is piecewise linear
    through the knots ``(x_k, z_k)`` and continues linearly beyond them (with the mean slope
    of the outer ``bins // 16`` bins), so it is a bijection of ℝ with ``log|det J| = Σ_columns log(Δz_k/Δx_k)``
    of the bin each value falls in. Up to the binning, the transformed marginals are
    exactly standard normal, so a flow that starts near the identity starts with the
    training sample's marginals and has to learn only how the columns depend on each
    other. The outer knots sit at ``±min(z_max, −Φ⁻¹(tail_events / n_eff))`` (``n_eff`` the
    effective number of weighted rows), so each outer bin holds ``tail_events`` events: with
    1 900 events and ``z_max = 4`` the outer eight knots on each side would otherwise all be the sample's
    extreme value. Knots closer than ``1e-9`` of the column's spread (point masses, e.g. jets of
    zero mass) are pulled apart to that distance: the point mass becomes a narrow bin.
    """

    kind = "gaussianize"
    fitted_arrays = ("knots",)

    def __init__(
        self, bins: int = 128, z_max: float = 4.0, tail_events: float = 10.0, z_limit: float | None = None
    ) -> None:
        if int(bins) < 2:
            raise ConfigError(f"{self.kind}: bins must be at least 2; got {bins!r}")
        if not 0 < z_max <= 8:
            raise ConfigError(f"{self.kind}: z_max must be in (0, 8]; got {z_max!r}")
        if not tail_events >= 0:
            raise ConfigError(f"{self.kind}: tail_events must be non-negative; got {tail_events!r}")
        self.bins = int(bins)
        self.z_max = float(z_max)
        self.tail_events = float(tail_events)
        #: The knots' outer standard-normal value, fixed by fit (``z_max`` for states saved before it existed).
        self.z_limit = None if z_limit is None else float(z_limit)
        self.knots: np.ndarray | None = None  # (d, bins + 1)

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"bins": self.bins, "z_max": self.z_max, "tail_events": self.tail_events}
        if self.z_limit is not None:
            out["z_limit"] = self.z_limit
        return out

    @property
    def grid(self) -> np.ndarray:
        """The knots' standard-normal values ``z_k``."""
        z = self.z_max if self.z_limit is None else self.z_limit
        return np.linspace(-z, z, self.bins + 1)

    def fit(self, x: np.ndarray, weights: np.ndarray | None = None) -> Gaussianize:
        from scipy.special import ndtr, ndtri

        x = as_matrix(x)
        if len(x) < 2:
            raise InputError(f"{self.kind}: need at least 2 rows to fit; got {len(x)}")
        w = None if weights is None else np.asarray(weights, dtype=np.float64)
        n_eff = len(x) if w is None else float(w.sum() ** 2 / max(float(np.sum(w * w)), 1e-300))
        # each outer bin holds ``tail_events`` events: a sample's few most extreme values must not
        # become knots a 1e-9 spread apart, whose slope would map the next event beyond them to |z| ~ 1e7
        tail = min(self.tail_events / n_eff, 0.25) if self.tail_events > 0 else 0.0
        self.z_limit = self.z_max if tail <= 0 else float(min(self.z_max, -ndtri(tail)))
        probabilities = ndtr(self.grid)
        knots = np.empty((x.shape[1], self.bins + 1))
        for j in range(x.shape[1]):
            q = weighted_quantiles(x[:, j], probabilities, w)
            gap = 1e-9 * max(float(q[-1] - q[0]), 1e-300)
            knots[j] = (
                q[0] + np.maximum.accumulate(q - q[0] - gap * np.arange(len(q))) + gap * np.arange(len(q))
            )
        self.knots = knots
        return self

    def _slopes(self) -> np.ndarray:
        return np.diff(self.grid)[None, :] / np.diff(self.knots, axis=1)  # dz/dx per bin, (d, bins)

    def point_masses(self) -> list[list[tuple[int, int]]]:
        """Per column, the knot runs ``(a, b)`` of a point mass: knots ``a…b`` pulled apart from one value."""
        self._check_fitted()
        out = []
        for knots in self.knots:
            tiny = np.diff(knots) <= 2e-9 * max(float(knots[-1] - knots[0]), 1e-300)
            runs, a = [], None
            for i, t in enumerate(tiny):
                if t and a is None:
                    a = i
                if not t and a is not None:
                    runs.append((a, i))
                    a = None
            if a is not None:
                runs.append((a, len(tiny)))
            out.append(runs)
        return out

    def dequantize(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Spread every point mass uniformly over its knot run (training inputs only).

        A sample's point mass (e.g. the jets of zero mass) maps to one value ``z`` however
        narrow its bin: a flow can put unbounded density there and drive its loss to −∞
        without learning anything else (seen with a 3-jet network: loss −9.9, generated
        jet-3 masses 93σ too often at 0). Spread over ``[z_a, z_b]``, the span of the CDF's
        jump (distributed as the standard normal there, so the column stays exactly normal),
        the point mass becomes a smooth density the flow can learn; :meth:`inverse` maps the
        whole span back to within 1e-9 of the point. (The dequantisation of discrete data in
        normalising flows.)
        """
        from scipy.special import ndtr, ndtri

        y = as_matrix(x)
        _check_width(y, list(range(len(self.knots))), self.kind)
        grid = self.grid
        for j, runs in enumerate(self.point_masses()):
            knots = self.knots[j]
            for a, b in runs:
                lo, hi = knots[a], knots[b]
                at = np.abs(y[:, j] - lo) <= (hi - lo) + 1e-12 * max(abs(float(lo)), 1.0)
                u = ndtr(grid[a]) + rng.uniform(size=int(at.sum())) * (ndtr(grid[b]) - ndtr(grid[a]))
                y[at, j] = np.interp(ndtri(u), grid, knots)  # the map is linear between knots
        return y

    def _tail_slopes(self) -> tuple[np.ndarray, np.ndarray]:
        """dz/dx beyond the first and the last knot: the mean slope of the outer ``bins // 16`` bins
        (one bin, as before, for states fitted before ``z_limit`` existed), so that one sparse
        outer bin does not set the continuation."""
        m = max(1, self.bins // 16) if self.z_limit is not None else 1
        grid, knots = self.grid, self.knots
        left = (grid[m] - grid[0]) / (knots[:, m] - knots[:, 0])
        right = (grid[-1] - grid[-1 - m]) / (knots[:, -1] - knots[:, -1 - m])
        return left, right

    def _bin_slopes(self, j: int, b: np.ndarray, below: np.ndarray, above: np.ndarray) -> np.ndarray:
        left, right = self._tail_slopes()
        return np.where(below, left[j], np.where(above, right[j], self._slopes()[j, b]))

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        x = as_matrix(x)
        _check_width(x, list(range(len(self.knots))), self.kind)
        z, grid = np.empty_like(x), self.grid
        log_det = np.zeros(len(x))
        for j, knots in enumerate(self.knots):
            b = np.clip(np.searchsorted(knots, x[:, j], side="right") - 1, 0, self.bins - 1)
            below, above = x[:, j] < knots[0], x[:, j] > knots[-1]
            slope = self._bin_slopes(j, b, below, above)
            start = np.where(above, knots[-1], knots[b])
            z[:, j] = np.where(above, grid[-1], grid[b]) + (x[:, j] - start) * slope
            log_det += np.log(slope)
        return z, log_det

    def inverse(self, y: np.ndarray) -> np.ndarray:
        self._check_fitted()
        z = as_matrix(y)
        _check_width(z, list(range(len(self.knots))), self.kind)
        x, grid = np.empty_like(z), self.grid
        for j, knots in enumerate(self.knots):
            b = np.clip(np.searchsorted(grid, z[:, j], side="right") - 1, 0, self.bins - 1)
            below, above = z[:, j] < grid[0], z[:, j] > grid[-1]
            slope = self._bin_slopes(j, b, below, above)
            start = np.where(above, grid[-1], grid[b])
            x[:, j] = np.where(above, knots[-1], knots[b]) + (z[:, j] - start) / slope
        return x
