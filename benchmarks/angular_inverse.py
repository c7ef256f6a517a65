"""Inverse speed of the angular maps: safeguarded Newton against plain bisection, side by side.

The decay-angle map (:class:`evgen.preprocessing.angular.AngularCoefficients`) and the balance-
direction map (:class:`evgen.preprocessing.recoil.BalanceHarmonics`) are inverted row by row at
generation. This times each ``inverse`` on the same rows with the solver as shipped (12
bisections, then Newton steps) and with plain bisection (64 steps), and prints both, their
ratio and the largest difference between the two inverses::

    python benchmarks/angular_inverse.py --rows 300000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from unittest import mock

import numpy as np

from evgen.preprocessing import fourier
from evgen.preprocessing.angular import AngularCoefficients
from evgen.preprocessing.recoil import BalanceHarmonics


def _rows(n: int, seed: int) -> np.ndarray:
    """cos θ, φ, y, B_par, B_perp, p_T,j1, u (Breit–Wigner), m_j1 with a strong decay-angle modulation."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(-1, 1, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    pt = 20 + rng.exponential(30.0, n)
    psi = rng.vonmises(0.0, 0.5, n)  # the balance leans away from the jet
    r = rng.gamma(2.0, 7.0, n)
    return np.stack(
        [
            c,
            phi,
            rng.normal(0, 1.5, n),
            -r * np.cos(psi),
            -r * np.sin(psi),
            pt,
            rng.uniform(-1.5, 1.5, n),
            pt * rng.uniform(0, 0.3, n),
        ],
        axis=1,
    )


def _time(
    inverse: Callable[[np.ndarray], np.ndarray], y: np.ndarray, repeats: int
) -> tuple[float, np.ndarray]:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        x = inverse(y)
        best = min(best, time.perf_counter() - start)
    return best, x


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    x = _rows(args.rows, seed=0)
    steps = {
        "decay angles (AngularCoefficients)": AngularCoefficients(
            cos_theta=0, phi=1, rapidity=2, balance=[3, 4], jet_pt=[5], jet_dphi=[-1]
        ),
        "balance direction (BalanceHarmonics)": BalanceHarmonics(
            balance=[3, 4], jet_pt=5, dimuon_bw=6, jet_mass=7
        ),
    }
    plain = fourier.bisect_increasing

    def bisection_only(f, target, lo, hi, derivative=None):  # noqa: ANN001, ANN202
        return plain(f, target, lo, hi)

    print(f"{args.rows} rows, best of {args.repeats}")
    for name, step in steps.items():
        y, _ = step.fit(x).forward(x)
        newton_s, x_newton = _time(step.inverse, y, args.repeats)
        with (
            mock.patch("evgen.preprocessing.angular.bisect_increasing", bisection_only),
            mock.patch("evgen.preprocessing.fourier.bisect_increasing", bisection_only),
        ):
            bisect_s, x_bisect = _time(step.inverse, y, args.repeats)
        print(
            f"{name}: Newton {newton_s:.2f} s, bisection {bisect_s:.2f} s, "
            f"speed-up {bisect_s / newton_s:.1f} ×, largest difference {np.abs(x_newton - x_bisect).max():.1e}"
        )


if __name__ == "__main__":
    main()
