"""Shared helpers of the preprocessing tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest


@pytest.fixture
def finite_difference_log_det() -> Callable[..., np.ndarray]:
    """``log |det ∂y/∂x|`` of a step's map restricted to ``columns``, by central differences."""

    def log_det(step, rows: np.ndarray, columns: Sequence[int] = (0, 1), h: float = 1e-6) -> np.ndarray:  # noqa: ANN001
        cols = list(columns)
        jac = np.empty((len(rows), len(cols), len(cols)))
        for k, j in enumerate(cols):
            up, down = rows.copy(), rows.copy()
            up[:, j] += h
            down[:, j] -= h
            jac[:, :, k] = (step.forward(up)[0][:, cols] - step.forward(down)[0][:, cols]) / (2 * h)
        return np.log(np.abs(np.linalg.det(jac)))

    return log_det
