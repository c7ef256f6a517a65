"""The maximum-likelihood fit of a density linear in its coefficients: the same optimum as a
general-purpose optimiser, the true coefficients from a sample of the family, and bad input named."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from evgen.errors import InputError
from evgen.preprocessing.linear_likelihood import fit_linear_density, mean_log_density


def _sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x on [−1, 1] with density ∝ 1 + a(h)·x + b(h)·(3x² − 1)/2, a = 0.3 + 0.4h, b = 0.5h, h ∈ [0, 1]."""
    rng = np.random.default_rng(seed)
    h = rng.uniform(0, 1, n)
    beta = np.array([[0.3, 0.4], [0.0, 0.5]])  # rows: the two harmonics; columns: basis (1, h)
    basis = np.stack([np.ones(n), h], axis=1)
    a = basis @ beta.T
    x = np.empty(n)
    todo = np.arange(n)
    while len(todo):  # accept-reject under the maximum 1 + 0.7 + 0.5 < 2.5
        xx = rng.uniform(-1, 1, len(todo))
        g = 1 + a[todo, 0] * xx + a[todo, 1] * (1.5 * xx * xx - 0.5)
        keep = rng.uniform(0, 2.5, len(todo)) < g
        x[todo[keep]] = xx[keep]
        todo = todo[~keep]
    harmonics = np.stack([x, 1.5 * x * x - 0.5], axis=1)  # both integrate to 0 over [−1, 1]
    return np.ones(n), harmonics, basis, beta


def test_newton_reaches_the_optimum_of_a_general_optimiser():
    base, f, b, _ = _sample(5_000, seed=1)
    w = np.random.default_rng(2).uniform(0.5, 1.5, len(base))
    beta = fit_linear_density(base, f, b, w)

    def negative(v):
        value = mean_log_density(base, f, b, v.reshape(2, 2), w)
        return 1e6 if not np.isfinite(value) else -value

    reference = optimize.minimize(
        negative,
        np.zeros(4),
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-14, "maxiter": 20_000},
    )
    np.testing.assert_allclose(beta.ravel(), reference.x, atol=1e-4)
    assert mean_log_density(base, f, b, beta, w) >= -reference.fun - 1e-12


def test_recovers_the_true_coefficients():
    base, f, b, truth = _sample(200_000, seed=3)
    beta = fit_linear_density(base, f, b)
    np.testing.assert_allclose(beta, truth, atol=0.03)


def test_bad_input_is_named():
    base, f, b, _ = _sample(100, seed=4)
    with pytest.raises(InputError, match="same number of rows"):
        fit_linear_density(base, f[:50], b)
    with pytest.raises(InputError, match="NaN"):
        fit_linear_density(base, np.where(f > 0.5, np.nan, f), b)
    with pytest.raises(InputError, match="positive base"):
        fit_linear_density(base - 1, f, b)
    with pytest.raises(InputError, match="weights"):
        fit_linear_density(base, f, b, -np.ones(100))
