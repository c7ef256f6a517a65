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


@pytest.fixture
def physics_chain_options() -> dict:
    """The CPU recipe's coordinate options of :class:`~evgen.preprocessing.ZJetsPreprocessing`
    (physics coordinates, jets relative to jet 1 with both holes closed and equalised, the
    leading jet's acceptance edge at infinity)."""
    return dict(
        coordinates="physics",
        gaussianize=True,
        balance="polar",
        jet_eta="relative",
        jet_separation="map",
        separation_equalize=np.pi,
        jet3_reference="j1j2",
        jet_eta_bound=5.0,
    )
