r"""Monotone splines on :math:`[-B, B]`, identity outside: the :math:`s` of Eq. (5).

The paper (arXiv:2110.13632, Sec. 2.2) uses the cubic-spline coupling of Durkan,
Bekasov, Murray and Papamakarios, *Cubic-Spline Flows*, arXiv:1906.02145: the
subnet emits :math:`2 n_\text{bins} + 2` numbers per transformed dimension, the bin
widths and heights (horizontal and vertical knot positions) and the slopes at the
two boundary knots; interior knot slopes follow Steffen's monotone rule. This
module implements that construction as pure functions of the raw subnet outputs:

* :func:`cubic_spline` evaluates :math:`s(x)` and :math:`\log|ds/dx|`;
* :func:`cubic_spline_inverse` inverts it in closed form (trigonometric / Cardano
  roots of the cubic, no iteration) polished by two fixed Newton steps;
* :func:`cubic_knots` returns all knots :math:`(x_k, y_k, d_k)` (for plots and
  for checking against :class:`scipy.interpolate.CubicHermiteSpline`).

The evaluation never builds all knot slopes: only the softmax and cumulative sums
touch all :math:`K` bins; the bin holding each value is found with
``searchsorted`` and the few quantities it needs are gathered.

:func:`rational_quadratic_spline` wraps :class:`zuko.transforms.MonotonicRQSTransform`
(Durkan et al. 2019, *Neural Spline Flows*) with the same calling convention.

All functions act elementwise on ``x`` of shape ``(*)`` with parameters of shape
``(*, P)``, contain no data-dependent Python control flow (``torch.where`` masks
only; they trace with ``torch.compile(fullgraph=True)``) and compute in
``x.dtype`` (parameters are cast, so a bfloat16 subnet under autocast still gets
a float32 spline).
"""

from __future__ import annotations

__all__ = [
    "MIN_BIN_HEIGHT",
    "MIN_BIN_WIDTH",
    "MIN_SLOPE",
    "CubicKnots",
    "cubic_knots",
    "cubic_spline",
    "cubic_spline_inverse",
    "rational_quadratic_spline",
    "spline_parameter_count",
]

import math
from typing import NamedTuple

import torch
from torch import Tensor

MIN_BIN_WIDTH = 1e-3
"""Smallest bin width, as a fraction of the range :math:`2B`."""
MIN_BIN_HEIGHT = 1e-3
"""Smallest bin height, as a fraction of the range :math:`2B`."""
MIN_SLOPE = 1e-3
"""Cubic: smallest boundary slope as a fraction of the largest monotone one,
:math:`3 s_0`. Rational-quadratic: zuko's smallest knot slope."""

_NEWTON_STEPS = 2
_QUADRATIC_THRESHOLD = 1e-7


class CubicKnots(NamedTuple):
    r"""Knots of a monotone cubic Hermite spline, each of shape ``(*, K + 1)``.

    Attributes
    ----------
    x, y:
        Strictly increasing knot positions from :math:`-B` to :math:`B`.
    d:
        Derivatives :math:`ds/dx` at the knots (all positive).
    """

    x: Tensor
    y: Tensor
    d: Tensor


def spline_parameter_count(spline: str, bins: int) -> int:
    r"""Number of subnet outputs per transformed dimension.

    ``"cubic"``: :math:`2K + 2` (widths, heights, two boundary slopes; Sec. 2.2);
    ``"rational-quadratic"``: :math:`3K - 1` (widths, heights, interior derivatives).
    """
    if spline == "cubic":
        return 2 * bins + 2
    if spline == "rational-quadratic":
        return 3 * bins - 1
    raise ValueError(f"unknown spline {spline!r}; expected 'cubic' or 'rational-quadratic'")


class _Bins(NamedTuple):
    """Bin sizes of one axis as fractions of 2B: ``sizes`` (*, K) and right ``edges`` (*, K)."""

    sizes: Tensor
    edges: Tensor


def _bins(unnormalized: Tensor, minimum: float) -> _Bins:
    """Softmax with a floor: sizes >= minimum summing to 1, and their cumulative sums."""
    count = unnormalized.shape[-1]
    sizes = minimum + (1.0 - minimum * count) * torch.softmax(unnormalized, dim=-1)
    return _Bins(sizes, torch.cumsum(sizes, dim=-1))


def _search(bins: _Bins, values: Tensor, bound: float) -> Tensor:
    """Index k of the bin holding each value of [-B, B], shape (*, 1)."""
    unit = ((values + bound) / (2.0 * bound)).unsqueeze(-1)
    return torch.searchsorted(bins.edges, unit, right=True).clamp_max(bins.edges.shape[-1] - 1)


def _steffen(s_prev: Tensor, s_next: Tensor, w_prev: Tensor, w_next: Tensor) -> Tensor:
    """Steffen's (1990) monotone slope at the knot between two bins (positive slopes)."""
    weighted = (s_prev * w_next + s_next * w_prev) / (w_prev + w_next)
    return torch.minimum(2.0 * torch.minimum(s_prev, s_next), weighted)


def _boundary(unnormalized_slopes: Tensor, min_slope: float) -> Tensor:
    """Boundary slopes over 3 s (left, right): m + (1 - m) sigmoid(a + a*), 1/3 at a = 0."""
    unit = (1.0 / 3.0 - min_slope) / (1.0 - min_slope)
    offset = math.log(unit / (1.0 - unit))
    return min_slope + (1.0 - min_slope) * torch.sigmoid(unnormalized_slopes + offset)


def _bin(
    k: Tensor, widths: _Bins, heights: _Bins, boundary: Tensor, bound: float
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Bin k's left knot (x0, y0), size (w, h), slope s and cubic coefficients (a, b, c)."""
    count = widths.sizes.shape[-1]
    neighbours = torch.cat((k - 1, k, k + 1), dim=-1).clamp(0, count - 1)
    w_prev, w, w_next = (2.0 * bound * widths.sizes.gather(-1, neighbours)).unbind(-1)
    h_prev, h, h_next = (2.0 * bound * heights.sizes.gather(-1, neighbours)).unbind(-1)
    previous = neighbours[..., :1]
    first, last = k.squeeze(-1) == 0, k.squeeze(-1) == count - 1
    zero = torch.zeros_like(w)
    x0 = torch.where(first, zero, widths.edges.gather(-1, previous).squeeze(-1)) * (2.0 * bound) - bound
    y0 = torch.where(first, zero, heights.edges.gather(-1, previous).squeeze(-1)) * (2.0 * bound) - bound
    s_prev, s, s_next = h_prev / w_prev, h / w, h_next / w_next
    d0 = torch.where(first, 3.0 * s * boundary[..., 0], _steffen(s_prev, s, w_prev, w))
    d1 = torch.where(last, 3.0 * s * boundary[..., 1], _steffen(s, s_next, w, w_next))
    # p(t) = a t^3 + b t^2 + c t maps [0, 1] onto [0, 1] (Hermite basis in bin units)
    c = d0 / s
    a = c + d1 / s - 2.0
    return x0, w, y0, h, s, a, 1.0 - a - c, c


def _unit(t: Tensor, lo: float = 0.0, hi: float = 1.0) -> Tensor:
    """Clamp in value only: rounding at a bin edge or at the bound must not zero the gradient."""
    return t + (t.clamp(lo, hi) - t).detach()


def _polynomial(a: Tensor, b: Tensor, c: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """p(t) and p'(t) by Horner's rule."""
    value = ((a * t + b) * t + c) * t
    derivative = (3.0 * a * t + 2.0 * b) * t + c
    return value, derivative


def _prepare(
    values: Tensor,
    unnormalized_widths: Tensor,
    unnormalized_heights: Tensor,
    unnormalized_slopes: Tensor,
    bound: float,
    min_bin_width: float,
    min_bin_height: float,
    min_slope: float,
    inverse: bool,
) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
    dtype = values.dtype
    widths = _bins(unnormalized_widths.to(dtype), min_bin_width)
    heights = _bins(unnormalized_heights.to(dtype), min_bin_height)
    boundary = _boundary(unnormalized_slopes.to(dtype), min_slope)
    inside = (values >= -bound) & (values <= bound)
    clamped = values.clamp(-bound, bound)  # keeps far-away inputs out of the cubic
    k = _search(heights if inverse else widths, clamped, bound)
    return inside, clamped, _bin(k, widths, heights, boundary, bound)


def cubic_knots(
    unnormalized_widths: Tensor,
    unnormalized_heights: Tensor,
    unnormalized_slopes: Tensor,
    *,
    bound: float = 10.0,
    min_bin_width: float = MIN_BIN_WIDTH,
    min_bin_height: float = MIN_BIN_HEIGHT,
    min_slope: float = MIN_SLOPE,
) -> CubicKnots:
    r"""All knots of the monotone cubic spline of Durkan et al. (arXiv:1906.02145).

    Widths :math:`w_k` and heights :math:`h_k` (:math:`k = 0..K-1`) are a softmax
    with a floor (``min_bin_width``, ``min_bin_height`` of :math:`2B`), scaled to
    :math:`2B`; the knots are their cumulative sums from :math:`-B`. With bin
    slopes :math:`s_k = h_k / w_k`, interior knot derivatives follow Steffen
    (1990, A&A 239, 443), which keeps every bin monotone:

    .. math::
        d_k = \min\left(2 s_{k-1},\, 2 s_k,\,
              \frac{s_{k-1} w_k + s_k w_{k-1}}{w_{k-1} + w_k}\right),

    and the two boundary derivatives are the learned slopes of Sec. 2.2,
    :math:`d_0 = 3 s_0\,[m + (1-m)\,\sigma(a_0 + a^*)]`, likewise :math:`d_K` with
    :math:`s_{K-1}` and :math:`a_1` (:math:`m` = ``min_slope``; below :math:`3 s`
    keeps the end bins monotone). The offset :math:`a^*` makes :math:`a = 0` give
    :math:`d_0 = s_0`, so all-zero raw parameters give the identity.

    Parameters
    ----------
    unnormalized_widths, unnormalized_heights:
        Raw subnet outputs, shape ``(*, K)``.
    unnormalized_slopes:
        Raw boundary slopes :math:`(a_0, a_1)`, shape ``(*, 2)``.
    bound:
        Half-width :math:`B` of the spline's range.

    Returns
    -------
    CubicKnots
        Knots ``x, y, d``, each of shape ``(*, K + 1)``.
    """
    widths = _bins(unnormalized_widths, min_bin_width)
    heights = _bins(unnormalized_heights, min_bin_height)
    boundary = _boundary(unnormalized_slopes, min_slope)
    w, h = 2.0 * bound * widths.sizes, 2.0 * bound * heights.sizes
    s = h / w
    d = torch.cat(
        (
            3.0 * s[..., :1] * boundary[..., :1],
            _steffen(s[..., :-1], s[..., 1:], w[..., :-1], w[..., 1:]),
            3.0 * s[..., -1:] * boundary[..., 1:],
        ),
        dim=-1,
    )
    lo = torch.full_like(w[..., :1], -bound)
    x = torch.cat((lo, 2.0 * bound * widths.edges[..., :-1] - bound, -lo), dim=-1)
    y = torch.cat((lo, 2.0 * bound * heights.edges[..., :-1] - bound, -lo), dim=-1)
    return CubicKnots(x, y, d)


def cubic_spline(
    x: Tensor,
    unnormalized_widths: Tensor,
    unnormalized_heights: Tensor,
    unnormalized_slopes: Tensor,
    *,
    bound: float = 10.0,
    min_bin_width: float = MIN_BIN_WIDTH,
    min_bin_height: float = MIN_BIN_HEIGHT,
    min_slope: float = MIN_SLOPE,
) -> tuple[Tensor, Tensor]:
    r"""Forward cubic spline :math:`s(x)` of Eq. (5) and :math:`\log|ds/dx|`.

    The knots are those of :func:`cubic_knots`. Inside bin :math:`k`, with
    :math:`t = (x - x_k)/w_k` and :math:`\delta_{0,1} = d_{k,k+1}/s_k`, the cubic
    Hermite interpolant is

    .. math::
        s(x) = y_k + h_k\,p(t),\quad
        p(t) = (\delta_0 + \delta_1 - 2)\,t^3 + (3 - 2\delta_0 - \delta_1)\,t^2 + \delta_0 t,

    with :math:`ds/dx = s_k\,p'(t)`. Outside :math:`[-B, B]` the map is the
    identity with log-det 0. The spline is continuous at :math:`\pm B`; its slope
    there is the learned boundary slope, so it jumps to 1 outside unless that
    slope is 1 (as it is at initialisation).

    Parameters
    ----------
    x:
        Inputs, shape ``(*)``.
    unnormalized_widths, unnormalized_heights, unnormalized_slopes:
        Raw parameters, shapes ``(*, K)``, ``(*, K)``, ``(*, 2)``; see :func:`cubic_knots`.

    Returns
    -------
    tuple of Tensor
        ``s(x)`` and ``log|ds/dx|``, both of shape ``(*)``.
    """
    inside, xc, (x0, w, y0, h, s, a, b, c) = _prepare(
        x,
        unnormalized_widths,
        unnormalized_heights,
        unnormalized_slopes,
        bound,
        min_bin_width,
        min_bin_height,
        min_slope,
        inverse=False,
    )
    t = _unit((xc - x0) / w)
    p, dp = _polynomial(a, b, c, t)
    log_det = torch.log(s) + torch.log(dp.clamp_min(torch.finfo(x.dtype).tiny))
    y = _unit(y0 + h * p, -bound, bound)  # rounding must not push s(x) out of [-B, B]
    return torch.where(inside, y, x), torch.where(inside, log_det, torch.zeros_like(log_det))


def _nonzero(v: Tensor) -> Tensor:
    return torch.where(v == 0, torch.ones_like(v), v)


def _solve_unit_cubic(a: Tensor, b: Tensor, c: Tensor, r: Tensor) -> Tensor:
    r"""The root in :math:`[0, 1]` of :math:`a t^3 + b t^2 + c t = r`, in closed form.

    The cubic is made monic, :math:`t^3 + B t^2 + C t + D`, with
    :math:`Q = (B^2 - 3C)/9` and :math:`R = (2B^3 - 9BC + 27D)/54`:

    * three real roots (:math:`R^2 < Q^3`): the trigonometric formula gives the
      root of largest magnitude :math:`t_1` accurately; the other two come from the
      deflated quadratic :math:`t^2 + e t + f`, :math:`f = -D/t_1`,
      :math:`e = (f - C)/t_1`, solved in the cancellation-free form;
    * one real root: Cardano's formula, or, where the complex pair :math:`z, \bar z`
      dominates, Vieta's :math:`t = -D / |z|^2` (or :math:`\mathrm{Re}\,z`, when
      rounding split a double root in :math:`[0, 1]` into a complex pair);
    * :math:`|a|` tiny (the cubic degenerates): the stable quadratic root.

    The real root nearest to :math:`[0, 1]` is returned. All branches are evaluated
    and selected with ``torch.where`` (no data-dependent control flow), with their
    inputs sanitised so that none produces NaN.
    """
    quadratic = a.abs() < _QUADRATIC_THRESHOLD
    disc = (c * c + 4.0 * b * r).clamp_min(0.0)
    t_quadratic = 2.0 * r / _nonzero(c + disc.sqrt())

    a_ = torch.where(quadratic, torch.ones_like(a), a)
    big_b, big_c, big_d = b / a_, c / a_, -r / a_
    shift = big_b / 3.0
    q = (big_b * big_b - 3.0 * big_c) / 9.0
    rr = ((2.0 * big_b * big_b - 9.0 * big_c) * big_b + 27.0 * big_d) / 54.0
    q3 = q * q * q
    three = rr * rr < q3

    # three real roots: trigonometric formula, then deflation by the largest one
    sq = torch.where(three, q, torch.ones_like(q)).sqrt()
    cos_arg = torch.where(three, rr / (sq * sq * sq), torch.zeros_like(rr)).clamp(-1.0, 1.0)
    theta = torch.acos(cos_arg).unsqueeze(-1)
    k = torch.arange(3, dtype=a.dtype, device=a.device)
    roots = -2.0 * sq.unsqueeze(-1) * torch.cos((theta + 2.0 * math.pi * k) / 3.0) - shift.unsqueeze(-1)
    far = _nonzero(roots.gather(-1, roots.abs().argmax(dim=-1, keepdim=True)).squeeze(-1))
    f = -big_d / far
    e = (f - big_c) / far
    root = (e * e - 4.0 * f).clamp_min(0.0).sqrt()
    half = -0.5 * (e + torch.where(e < 0, -root, root))
    roots = torch.stack((far, half, f / _nonzero(half)), dim=-1)
    distance = (roots - roots.clamp(0.0, 1.0)).abs()
    t_three = roots.gather(-1, distance.argmin(dim=-1, keepdim=True)).squeeze(-1)

    # one real root: Cardano, or Vieta where the complex pair is larger
    arg = torch.where(three, torch.ones_like(rr), rr.abs() + (rr * rr - q3).clamp_min(0.0).sqrt())
    s = -torch.where(rr < 0, -1.0, 1.0) * arg.pow(1.0 / 3.0)
    t = torch.where(s == 0, torch.zeros_like(s), q / _nonzero(s))
    t_cardano = s + t - shift
    real = -0.5 * (s + t) - shift
    modulus = real * real + 0.75 * (s - t) * (s - t)
    t_vieta = -big_d / _nonzero(modulus)
    t_one = torch.where(t_cardano * t_cardano >= modulus, t_cardano, t_vieta)
    # in exact arithmetic a lone real root lies in [0, 1]; if rounding turned a double
    # root in [0, 1] into a complex pair, its real part is the answer
    miss_one, miss_real = (t_one - t_one.clamp(0.0, 1.0)).abs(), (real - real.clamp(0.0, 1.0)).abs()
    t_one = torch.where((miss_one > 1e-6) & (miss_real < miss_one), real, t_one)

    t_cubic = torch.where(three, t_three, t_one)
    return torch.where(quadratic, t_quadratic, t_cubic).nan_to_num(0.5).clamp(0.0, 1.0)


def _newton(a: Tensor, b: Tensor, c: Tensor, r: Tensor, t: Tensor) -> Tensor:
    p, dp = _polynomial(a, b, c, t)
    return _unit(t - (p - r) / dp.clamp_min(torch.finfo(t.dtype).eps))


def cubic_spline_inverse(
    y: Tensor,
    unnormalized_widths: Tensor,
    unnormalized_heights: Tensor,
    unnormalized_slopes: Tensor,
    *,
    bound: float = 10.0,
    min_bin_width: float = MIN_BIN_WIDTH,
    min_bin_height: float = MIN_BIN_HEIGHT,
    min_slope: float = MIN_SLOPE,
) -> tuple[Tensor, Tensor]:
    r"""Inverse :math:`s^{-1}(y)` of :func:`cubic_spline` and :math:`\log|ds^{-1}/dy|`.

    The bin is found with ``searchsorted`` on the :math:`y_k`; then
    :math:`p(t) = (y - y_k)/h_k` is solved for :math:`t \in [0, 1]` in closed form
    (see :func:`_solve_unit_cubic`; in float64 whatever ``y.dtype``, because the
    discriminant of a near-quadratic cubic cancels in float32) without gradient,
    and polished by Newton steps :math:`t \leftarrow t - (p(t) - r)/p'(t)`: one
    without gradient, and a last one with gradient, through which ``autograd``
    sees the exact implicit derivative of the root. Outside :math:`[-B, B]` the
    map is the identity.

    Returns
    -------
    tuple of Tensor
        ``x = s^{-1}(y)`` and ``log|dx/dy| = -log|ds/dx|``, both of shape ``(*)``.
    """
    inside, yc, (x0, w, y0, h, s, a, b, c) = _prepare(
        y,
        unnormalized_widths,
        unnormalized_heights,
        unnormalized_slopes,
        bound,
        min_bin_width,
        min_bin_height,
        min_slope,
        inverse=True,
    )
    r = _unit((yc - y0) / h)
    with torch.no_grad():
        ad, bd, cd, rd = (v.detach().to(torch.float64) for v in (a, b, c, r))
        t = _solve_unit_cubic(ad, bd, cd, rd)
        for _ in range(_NEWTON_STEPS - 1):
            t = _newton(ad, bd, cd, rd, t)
    t = _newton(a, b, c, r, t.to(y.dtype))
    _, dp = _polynomial(a, b, c, t)
    log_det = -(torch.log(s) + torch.log(dp.clamp_min(torch.finfo(y.dtype).tiny)))
    x = _unit(x0 + w * t, -bound, bound)
    return torch.where(inside, x, y), torch.where(inside, log_det, torch.zeros_like(log_det))


def rational_quadratic_spline(
    x: Tensor,
    params: Tensor,
    *,
    bound: float = 10.0,
    inverse: bool = False,
    min_slope: float = MIN_SLOPE,
) -> tuple[Tensor, Tensor]:
    r"""Monotone rational-quadratic spline (Durkan et al. 2019, arXiv:1906.04032).

    A thin wrapper of :class:`zuko.transforms.MonotonicRQSTransform`: the spline
    maps :math:`[-B, B]` onto itself with slope 1 at both ends, and is the identity
    (log-det 0) outside, so the slope is continuous at :math:`\pm B`. Raw zeros
    give the identity.

    Parameters
    ----------
    x:
        Inputs, shape ``(*)`` (outputs of the spline when ``inverse=True``).
    params:
        Raw subnet outputs, shape ``(*, 3K - 1)``: widths, heights, interior
        derivatives.

    Returns
    -------
    tuple of Tensor
        Transformed values and the log-det of that direction, shape ``(*)``.
    """
    from zuko.transforms import MonotonicRQSTransform

    params = params.to(x.dtype)
    bins = (params.shape[-1] + 1) // 3
    transform = MonotonicRQSTransform(
        params[..., :bins],
        params[..., bins : 2 * bins],
        params[..., 2 * bins :],
        bound=bound,
        slope=min_slope,
    )
    if not inverse:
        return transform.call_and_ladj(x)
    # zuko's _inverse, keeping the bin quantities to get the log-det without a second pass
    k = transform.searchsorted(transform.vertical, x) - 1
    mask, x0, x1, y0, y1, d0, d1, s = transform.bin(k)
    y_ = mask * (x - y0)
    a = (y1 - y0) * (s - d0) + y_ * (d0 + d1 - 2 * s)
    b = (y1 - y0) * d0 - y_ * (d0 + d1 - 2 * s)
    c = -s * y_
    z = 2 * c / (-b - (b**2 - 4 * a * c).sqrt())
    denominator = s + (d0 + d1 - 2 * s) * z * (1 - z)
    jacobian = s**2 * (2 * s * z * (1 - z) + d0 * (1 - z) ** 2 + d1 * z**2) / denominator**2
    return torch.where(mask, x0 + z * (x1 - x0), x), -(mask * jacobian.log())
