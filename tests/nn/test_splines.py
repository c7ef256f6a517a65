"""The monotone splines of Eq. (5): reference values, exact inverses, log-dets, extremes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.interpolate import CubicHermiteSpline

from evgen.nn.splines import (
    _newton,
    _solve_unit_cubic,
    cubic_knots,
    cubic_spline,
    cubic_spline_inverse,
    rational_quadratic_spline,
)

BOUND = 10.0
SPLINES = ("cubic", "rational-quadratic")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _params(n: int, bins: int, scale: float, dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    w, h = (scale * torch.randn(n, bins, generator=g, dtype=dtype) for _ in range(2))
    return w, h, scale * torch.randn(n, 2, generator=g, dtype=dtype)


def _forward(spline: str, x: torch.Tensor, params: tuple[torch.Tensor, ...], inverse: bool = False):
    w, h, s = params
    if spline == "cubic":
        return (cubic_spline_inverse if inverse else cubic_spline)(x, w, h, s, bound=BOUND)
    # same raw widths and heights; the K - 1 interior derivatives from the same numbers
    derivatives = 0.5 * (w[..., 1:] + h[..., :-1])
    return rational_quadratic_spline(x, torch.cat((w, h, derivatives), -1), bound=BOUND, inverse=inverse)


def _test_points(n: int, dtype: torch.dtype, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = 26 * torch.rand(n, generator=g, dtype=dtype) - 13  # inside and outside [-10, 10]
    x[:6] = torch.tensor([-BOUND, BOUND, 0.0, -13.0, 1e6, -1e6], dtype=dtype)
    return x


def _steffen_reference(xk: np.ndarray, yk: np.ndarray, d0: float, dk: float) -> np.ndarray:
    """Steffen (1990) Eq. 11 in its original form: (sign s_i-1 + sign s_i) min(|s|, |s'|, |p|/2)."""
    h = np.diff(xk)
    s = np.diff(yk) / h
    p = (s[:-1] * h[1:] + s[1:] * h[:-1]) / (h[:-1] + h[1:])
    inner = (np.sign(s[:-1]) + np.sign(s[1:])) * np.minimum.reduce(
        [np.abs(s[:-1]), np.abs(s[1:]), 0.5 * np.abs(p)]
    )
    return np.concatenate(([d0], inner, [dk]))


@pytest.mark.parametrize("bins", [8, 60])
def test_cubic_spline_is_the_steffen_hermite_spline(bins):
    """Forward values and slopes equal scipy's CubicHermiteSpline on the same knots (float64)."""
    params = _params(3, bins, 1.5, torch.float64)
    knots = cubic_knots(*params, bound=BOUND)
    x = torch.linspace(-BOUND, BOUND, 2001, dtype=torch.float64)
    for row in range(3):
        xk, yk, dk = (k[row].numpy() for k in knots)
        assert xk[0] == -BOUND and xk[-1] == BOUND and yk[0] == -BOUND and yk[-1] == BOUND
        assert np.all(np.diff(xk) > 0) and np.all(np.diff(yk) > 0)
        np.testing.assert_allclose(dk, _steffen_reference(xk, yk, dk[0], dk[-1]), rtol=1e-12)
        s = np.diff(yk) / np.diff(xk)
        assert 0 < dk[0] < 3 * s[0] and 0 < dk[-1] < 3 * s[-1]  # monotone end bins
        reference = CubicHermiteSpline(xk, yk, dk)
        expand = [p[row : row + 1].expand(len(x), -1) for p in params]
        y, log_det = cubic_spline(x, *expand, bound=BOUND)
        np.testing.assert_allclose(y.numpy(), reference(x.numpy()), atol=1e-6, rtol=0)
        np.testing.assert_allclose(log_det.numpy(), np.log(reference(x.numpy(), 1)), atol=1e-6, rtol=0)
        assert np.all(reference(x.numpy(), 1) > 0)


@pytest.mark.parametrize("spline", SPLINES)
def test_zero_parameters_give_the_identity(spline):
    x = _test_points(500, torch.float64)
    zeros = tuple(torch.zeros(500, k, dtype=torch.float64) for k in (16, 16, 2))
    y, log_det = _forward(spline, x, zeros)
    torch.testing.assert_close(y, x, rtol=0, atol=1e-12)
    torch.testing.assert_close(log_det, torch.zeros_like(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("spline", SPLINES)
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_inverse_inverts(spline, dtype, tolerance):
    x = _test_points(5_000, dtype)
    params = _params(5_000, 60, 0.5 if dtype == torch.float32 else 1.0, dtype)
    y, log_det = _forward(spline, x, params)
    x_back, log_det_back = _forward(spline, y, params, inverse=True)
    outside = x.abs() > BOUND
    assert torch.equal(y[outside], x[outside]) and torch.all(log_det[outside] == 0)
    torch.testing.assert_close(x_back, x, rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(log_det_back, -log_det, rtol=0, atol=100 * tolerance)


@pytest.mark.parametrize("spline", SPLINES)
def test_inverse_is_accurate_in_output_space_for_sharp_splines(spline):
    """Steep and flat bins make x or y ill-conditioned; the error stays at float32 rounding.

    Rounding x to float32 moves s(x) by ~ eps |x| ds/dx, so the round trip is
    checked against 1e-5 (1 + ds/dx) in output space.
    """
    y = _test_points(5_000, torch.float32)
    params = _params(5_000, 60, 4.0, torch.float32)
    x, _ = _forward(spline, y, params, inverse=True)
    y_back, log_det = _forward(spline, x, params)
    assert torch.isfinite(x).all()
    assert ((y_back - y).abs() / (1e-5 * (1 + log_det.exp()))).max() < 1


@pytest.mark.parametrize("spline", SPLINES)
@pytest.mark.parametrize("inverse", [False, True])
def test_log_det_is_the_autograd_derivative(spline, inverse):
    x = _test_points(400, torch.float64)
    x[6:12] = torch.tensor([-BOUND, BOUND, -BOUND, BOUND, 9.999999, -9.999999], dtype=torch.float64)
    params = _params(400, 8, 1.0, torch.float64)
    x.requires_grad_(True)
    y, log_det = _forward(spline, x, params, inverse=inverse)
    (derivative,) = torch.autograd.grad(y.sum(), x)  # elementwise map: the Jacobian is diagonal
    torch.testing.assert_close(log_det, derivative.log(), rtol=0, atol=1e-8)
    head = tuple(p[:12] for p in params)
    jacobian = torch.autograd.functional.jacobian(
        lambda v: _forward(spline, v, head, inverse)[0], x[:12].detach()
    )
    torch.testing.assert_close(log_det[:12].detach(), torch.diagonal(jacobian).log(), rtol=0, atol=1e-8)


def test_cubic_is_continuous_at_the_bound():
    params = _params(10, 8, 2.0, torch.float64)
    eps = 1e-14
    for edge in (-BOUND, BOUND):
        inside = torch.full((10,), edge * (1 - eps), dtype=torch.float64)
        outside = torch.full((10,), edge * (1 + eps), dtype=torch.float64)
        y_in, _ = cubic_spline(inside, *params, bound=BOUND)
        y_out, _ = cubic_spline(outside, *params, bound=BOUND)
        torch.testing.assert_close(y_in, y_out, rtol=0, atol=1e-10)


def test_rational_quadratic_has_unit_slope_at_the_bound():
    params = _params(10, 8, 2.0, torch.float64)
    x = torch.tensor([-BOUND, BOUND] * 5, dtype=torch.float64)
    _, log_det = _forward("rational-quadratic", x, params)
    torch.testing.assert_close(log_det, torch.zeros_like(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("spline", SPLINES)
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_extreme_inputs_and_parameters_stay_finite(spline, scale):
    x = torch.tensor([-1e6, 1e6, -1e30, 1e30, -BOUND, BOUND, 0.0, -9.99, 9.99] * 20, dtype=torch.float32)
    params = tuple(p.requires_grad_(True) for p in _params(len(x), 60, scale, torch.float32))
    x.requires_grad_(True)
    y, log_det = _forward(spline, x, params)
    x_back, log_det_back = _forward(spline, y, params, inverse=True)
    for value in (y, log_det, x_back, log_det_back):
        assert torch.isfinite(value).all()
    assert torch.equal(y[x.abs() > BOUND], x[x.abs() > BOUND])
    total = y.sum() + log_det.sum() + x_back.sum() + log_det_back.sum()
    gradients = torch.autograd.grad(total, (x, *params), allow_unused=True)
    assert all(torch.isfinite(g).all() for g in gradients if g is not None)


def test_closed_form_cubic_root_on_hard_cases():
    """Near-quadratic cubics, near-double roots at the bin edges, r at 0 and 1."""
    g = torch.Generator().manual_seed(3)
    n = 40_000
    d0, d1 = (
        3 * torch.rand(n, generator=g, dtype=torch.float64),
        2 * torch.rand(n, generator=g, dtype=torch.float64),
    )
    d0[: n // 4] *= 1e-3
    d1[n // 4 : n // 2] *= 1e-3
    near = slice(n // 2, 3 * n // 4)  # a = d0 + d1 - 2 within 1e-8 .. 1 of zero
    tiny = torch.sign(torch.randn(n // 4, generator=g)) * 10 ** (-8 * torch.rand(n // 4, generator=g))
    d1[near] = (2 - d0[near] + tiny.double()).clamp(1e-4, 2)
    r = torch.rand(n, generator=g, dtype=torch.float64)
    r[::7], r[1::7] = 0.0, 1.0
    c = d0
    a = d0 + d1 - 2
    b = 1 - a - c
    t = _solve_unit_cubic(a, b, c, r)
    # bisection reference: p is increasing on [0, 1]
    lo, hi = torch.zeros_like(r), torch.ones_like(r)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = ((a * mid + b) * mid + c) * mid < r
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    assert (t - 0.5 * (lo + hi)).abs().max() < 1e-4  # the closed form alone
    for _ in range(2):  # the fixed polishing steps of cubic_spline_inverse
        t = _newton(a, b, c, r, t)
    residual = ((a * t + b) * t + c) * t - r
    assert residual.abs().max() < 1e-14
