r"""Maximum-likelihood fit of a density that is linear in its coefficients.

The decay-angle density of :mod:`evgen.preprocessing.angular` has the form

    g(x | b) = g₀(x) + Σ_i A_i(b) f_i(x),        A_i(b) = Σ_j β_ij b_j,

with harmonics ``f_i`` that integrate to zero over ``x`` (so the normalisation does not depend
on ``β``) and coefficients that are linear in a basis ``b`` of the conditioning variables.
The moment estimator ``A_i = ⟨h_i⟩`` is unbiased only where ``x`` is observed over its whole
range; where part of it is cut away (the muons' acceptance), the sample is not of this form,
and the moments are not the coefficients that describe it best. The flow that follows is
trained by likelihood, so the coefficients are better fitted by the same criterion:

    β̂ = argmax Σ_n w_n log g(x_n | b_n),

the member of the family closest in Kullback–Leibler divergence to the sample. ``log g`` is
concave in ``β`` (the log of a linear function), so Newton's method with a backtracking line
search that keeps ``g > 0`` on every row converges to the unique maximum from ``β = 0``
(``g = g₀ > 0``): gradient ``Σ w z/g``, Hessian ``−Σ w z zᵀ/g²`` with ``z = f ⊗ b``.
"""

from __future__ import annotations

import numpy as np

from evgen.errors import InputError

__all__ = ["fit_linear_density", "mean_log_density"]

#: Newton iterations at most (a handful suffice: the problem is concave and smooth).
MAX_ITERATIONS = 50
#: Stop when half the Newton decrement, the predicted gain in mean log-likelihood, is below this.
TOLERANCE = 1e-12


def _design(harmonics: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """``z_n = f(x_n) ⊗ b_n``, ``(N, m·k)``, so that ``Σ A_i f_i = z · vec(β)``."""
    return (harmonics[:, :, None] * basis[:, None, :]).reshape(len(basis), -1)


def _mean_log(base: np.ndarray, z: np.ndarray, beta: np.ndarray, w: np.ndarray) -> float:
    """``Σ w log(g₀ + z·β)`` for normalised weights; ``−∞`` where some ``g ≤ 0``."""
    g = base + z @ beta
    return -np.inf if g.min() <= 0 else float(w @ np.log(g))


def mean_log_density(
    base: np.ndarray,
    harmonics: np.ndarray,
    basis: np.ndarray,
    coefficients: np.ndarray,
    weights: np.ndarray | None = None,
) -> float:
    """``Σ w log g / Σ w`` for coefficients ``β`` ``(m, k)``; ``−∞`` where some ``g ≤ 0``."""
    w = np.ones(len(base)) if weights is None else np.asarray(weights, dtype=np.float64)
    beta = np.asarray(coefficients, dtype=np.float64).ravel()
    return _mean_log(np.asarray(base, dtype=np.float64), _design(harmonics, basis), beta, w / w.sum())


def fit_linear_density(
    base: np.ndarray,
    harmonics: np.ndarray,
    basis: np.ndarray,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """The ``(m, k)`` coefficients ``β`` that maximise ``Σ w log(g₀ + Σ_ij β_ij f_i b_j)``.

    Parameters
    ----------
    base
        ``g₀(x_n) > 0``, ``(N,)``: the density's part without coefficients.
    harmonics
        ``f_i(x_n)``, ``(N, m)``: terms that integrate to zero, so every ``β`` is normalised.
    basis
        ``b_j`` of each row's conditioning variables, ``(N, k)``.
    weights
        Event weights (non-negative); equal when omitted.
    """
    base = np.asarray(base, dtype=np.float64)
    harmonics = np.asarray(harmonics, dtype=np.float64)
    basis = np.asarray(basis, dtype=np.float64)
    n = len(base)
    if harmonics.shape[0] != n or basis.shape[0] != n or harmonics.ndim != 2 or basis.ndim != 2:
        raise InputError(
            f"fit_linear_density: base {base.shape}, harmonics {harmonics.shape} and basis "
            f"{basis.shape} need the same number of rows"
        )
    if not (np.isfinite(base).all() and np.isfinite(harmonics).all() and np.isfinite(basis).all()):
        raise InputError("fit_linear_density: NaN or inf in the inputs")
    if n == 0 or base.min() <= 0:
        raise InputError("fit_linear_density: needs rows with a positive base density g₀")
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (n,) or not np.isfinite(w).all() or w.min() < 0 or w.sum() <= 0:
        raise InputError("fit_linear_density: weights must be finite, non-negative, one per row, not all 0")
    w = w / w.sum()
    z = _design(harmonics, basis)
    beta = np.zeros(z.shape[1])

    value = _mean_log(base, z, beta, w)
    for _ in range(MAX_ITERATIONS):
        u = z / (base + z @ beta)[:, None]  # ∂ log g / ∂β per row
        gradient = w @ u
        curvature = (u * w[:, None]).T @ u  # −Hessian, positive semi-definite
        step, *_ = np.linalg.lstsq(curvature, gradient, rcond=None)
        decrement = float(gradient @ step)
        if decrement / 2 < TOLERANCE:
            break
        size = 1.0
        while size > 1e-10:
            trial = _mean_log(base, z, beta + size * step, w)
            if trial >= value + 0.25 * size * decrement:  # Armijo: a quarter of the predicted gain
                break
            size /= 2
        else:
            break
        beta, value = beta + size * step, trial
    return beta.reshape(harmonics.shape[1], basis.shape[1])
