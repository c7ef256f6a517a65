"""The toys' samples, densities and truth CDFs agree with each other and with closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from evgen_datasets.toys import TOYS, CamelBack, GaussianRing, GaussianShell, RadialShell, UnitGaussian
from scipy import integrate, stats

from evgen.errors import InputError

TOY_IDS = [t.name for t in TOYS]


def test_toys_registry_names() -> None:
    assert sorted(TOY_IDS) == ["camel", "gauss", "ring", "shell5d"]
    assert {t.name: t.dim for t in TOYS} == {"camel": 1, "gauss": 1, "ring": 2, "shell5d": 5}


@pytest.mark.parametrize("toy", TOYS, ids=TOY_IDS)
def test_truth_cdf_of_samples_is_uniform(toy) -> None:
    points = toy.sample(4000, np.random.default_rng(1))
    assert points.shape == (4000, toy.dim)
    u = toy.truth_cdf(toy.to_truth_coordinates(points))
    assert np.all((u >= 0) & (u <= 1))
    for k in range(u.shape[1]):
        assert stats.kstest(u[:, k], "uniform").pvalue > 1e-3, f"axis {k}"


@pytest.mark.parametrize("toy", [t for t in TOYS if t.dim > 1], ids=[t.name for t in TOYS if t.dim > 1])
def test_truth_coordinates_are_independent(toy) -> None:
    """Pairs of CDF values fill a 4x4 grid uniformly (chi-square), so cells can be products."""
    u = toy.truth_cdf(toy.to_truth_coordinates(toy.sample(8000, np.random.default_rng(2))))
    for a in range(u.shape[1]):
        for b in range(a + 1, u.shape[1]):
            counts, *_ = np.histogram2d(u[:, a], u[:, b], bins=4, range=[[0, 1], [0, 1]])
            assert stats.chisquare(counts.ravel()).pvalue > 1e-4, (a, b)


@pytest.mark.parametrize("toy", [CamelBack(), UnitGaussian()], ids=["camel", "gauss"])
def test_1d_log_prob_normalised_and_derivative_of_cdf(toy) -> None:
    total, _ = integrate.quad(lambda x: math.exp(toy.log_prob(np.array([[x]]))[0]), -np.inf, np.inf)
    assert total == pytest.approx(1.0, abs=1e-7)
    x = np.linspace(-7, 7, 57)
    h = 1e-5
    numeric = (toy.truth_cdf(x + h) - toy.truth_cdf(x - h))[:, 0] / (2 * h)
    np.testing.assert_allclose(numeric, np.exp(toy.log_prob(x)), rtol=1e-5, atol=1e-10)


def test_ring_log_prob_normalised_on_a_grid() -> None:
    toy = GaussianRing()
    edges = np.linspace(-10, 10, 1001)
    centres = 0.5 * (edges[1:] + edges[:-1])
    xx, yy = np.meshgrid(centres, centres)
    density = np.exp(toy.log_prob(np.column_stack([xx.ravel(), yy.ravel()])))
    assert density.sum() * (edges[1] - edges[0]) ** 2 == pytest.approx(1.0, abs=2e-3)


def test_shell_log_prob_normalised_by_importance_sampling() -> None:
    toy = GaussianShell()
    rng = np.random.default_rng(3)
    q = rng.normal(0.0, 3.5, size=(200_000, 5))
    log_q = stats.norm(0.0, 3.5).logpdf(q).sum(axis=1)
    ratio = np.exp(toy.log_prob(q) - log_q)
    estimate, error = ratio.mean(), ratio.std() / math.sqrt(len(ratio))
    assert abs(estimate - 1.0) < 4 * error + 1e-3


@pytest.mark.parametrize("toy", [GaussianRing(), GaussianShell()], ids=["ring", "shell5d"])
def test_radial_jacobian(toy: RadialShell) -> None:
    """exp(log_prob) * |S^(d-1)| r^(d-1) is the radial density dF(r)/dr, in any direction."""
    rng = np.random.default_rng(4)
    r = np.linspace(0.5, 8.0, 31)
    direction = rng.standard_normal((len(r), toy.dim))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    area = 2 * math.pi ** (toy.dim / 2) / math.gamma(toy.dim / 2)
    radial = np.exp(toy.log_prob(r[:, None] * direction)) * area * r ** (toy.dim - 1)
    h = 1e-5
    numeric = (toy.radial_cdf(r + h) - toy.radial_cdf(r - h)) / (2 * h)
    np.testing.assert_allclose(radial, numeric, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(radial, stats.foldnorm(4.0).pdf(r), rtol=1e-10)


def test_shell_angle_cdfs_match_closed_forms() -> None:
    toy = GaussianShell()
    phi = np.linspace(0.0, math.pi, 41)
    coords = np.column_stack([np.full_like(phi, 4.0), phi, phi, phi, phi - math.pi])
    u = toy.truth_cdf(coords)
    c, s = np.cos(phi), np.sin(phi)
    np.testing.assert_allclose(u[:, 1], (2 - 3 * c + c**3) / 4, atol=1e-12)  # sin^3
    np.testing.assert_allclose(u[:, 2], (phi - s * c) / math.pi, atol=1e-12)  # sin^2
    np.testing.assert_allclose(u[:, 3], (1 - c) / 2, atol=1e-12)  # sin^1
    np.testing.assert_allclose(u[:, 4], phi / (2 * math.pi), atol=1e-12)  # uniform on (-pi, pi]


@pytest.mark.parametrize("toy", [GaussianRing(), GaussianShell()], ids=["ring", "shell5d"])
def test_truth_coordinates_invert(toy: RadialShell) -> None:
    x = toy.sample(1000, np.random.default_rng(5))
    coords = toy.to_truth_coordinates(x)
    np.testing.assert_allclose(toy.from_truth_coordinates(coords), x, atol=1e-12)
    np.testing.assert_allclose(coords[:, 0], np.linalg.norm(x, axis=1))
    assert np.all((coords[:, 1:-1] >= 0) & (coords[:, 1:-1] <= math.pi))
    assert np.all(np.abs(coords[:, -1]) <= math.pi)


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(InputError, match=r"shape \(n, 2\)"):
        GaussianRing().log_prob(np.zeros((3, 5)))
    with pytest.raises(InputError, match="shell5d"):
        GaussianShell().to_truth_coordinates(np.zeros(4))


def test_load_gives_toy_events() -> None:
    from evgen.events import toy_points

    events = CamelBack().load(50, seed=7)
    assert toy_points(events).shape == (50, 1)
    np.testing.assert_array_equal(toy_points(CamelBack().load(50, seed=7)), toy_points(events))
