"""RadialEqualize: a bijection of the plane, its Jacobian, and the ring it removes."""

from __future__ import annotations

import numpy as np
import pytest

from evgen.errors import ConfigError, InputError
from evgen.preprocessing import Chain, RadialEqualize, SeparationMap, ZJetsPreprocessing


def _ring(n: int, seed: int = 0) -> np.ndarray:
    """A collinear-peak-like plane: a ring at r ≈ 0.6 on a broad background, as a flow sees
    the mapped second jet (a dip at the origin, a sharp rim)."""
    rng = np.random.default_rng(seed)
    ring = rng.normal(0.6, 0.08, n // 2)
    wide = np.abs(rng.normal(0.0, 2.0, n - n // 2))
    r = np.concatenate([ring, wide])
    angle = rng.uniform(-np.pi, np.pi, n)
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    return x[np.abs(x[:, 1]) < np.pi]


def _numerical_log_det(step, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    jac = np.empty((len(x), x.shape[1], x.shape[1]))
    for j in range(x.shape[1]):
        d = np.zeros(x.shape[1])
        d[j] = h
        jac[:, :, j] = (step.forward(x + d)[0] - step.forward(x - d)[0]) / (2 * h)
    return np.linalg.slogdet(jac)[1]


def test_radial_equalize_inverts_keeps_angles_and_has_the_jacobian_of_its_formula():
    x = _ring(40_000)
    step = RadialEqualize([[0, 1]], radius=1.5, knots=32).fit(x)
    y, log_det = step.forward(x)
    np.testing.assert_allclose(step.inverse(y), x, rtol=1e-12, atol=1e-12)
    # away from the knots (where F' jumps) the finite-difference Jacobian is the formula's
    probe = _ring(400, seed=3)
    s = probe[:, 0] ** 2 + probe[:, 1] ** 2
    near_knot = np.min(np.abs(s[:, None] - step.area_knots[0][None, :]), axis=1) < 1e-4
    probe = probe[~near_knot]
    np.testing.assert_allclose(step.forward(probe)[1], _numerical_log_det(step, probe), rtol=1e-5, atol=1e-6)
    r, r_new = np.hypot(*x.T), np.hypot(*y.T)
    outside = r >= 1.5
    np.testing.assert_array_equal(y[outside], x[outside])  # the identity beyond ρ
    np.testing.assert_array_equal(log_det[outside], 0.0)
    assert r_new[~outside].max() < 1.5  # the disk onto itself, monotone in r
    order = np.argsort(r[~outside])
    assert np.all(np.diff(r_new[~outside][order]) >= 0)
    np.testing.assert_allclose(np.arctan2(y[:, 1], y[:, 0]), np.arctan2(x[:, 1], x[:, 0]), atol=1e-12)
    np.testing.assert_array_equal(step.inverse(np.zeros((1, 2))), [[0.0, 0.0]])
    # the whole disk is reached: any point maps back inside it
    anywhere = np.random.default_rng(1).uniform(-1.5, 1.5, (5_000, 2))
    np.testing.assert_allclose(step.forward(step.inverse(anywhere))[0], anywhere, atol=1e-12)


def test_radial_equalize_turns_the_ring_into_the_linear_profile_on_independent_points():
    step = RadialEqualize([[0, 1]], radius=1.5).fit(_ring(200_000, seed=1))
    y, _ = step.forward(_ring(200_000, seed=2))  # points the fit never saw
    r2 = (y[:, 0] ** 2 + y[:, 1] ** 2)[np.hypot(*y.T) < 1.5] / 1.5**2
    counts, edges = np.histogram(r2, bins=10, range=(0, 1))  # equal areas of the disk
    centres = 0.5 * (edges[1:] + edges[:-1])
    alpha = float(step.alpha[0])
    expected = len(r2) * 0.1 * (alpha + 2 * (1 - alpha) * (1 - centres))
    np.testing.assert_allclose(counts, expected, rtol=0.06)
    # before the map, the same bins hold the ring: a dip at the origin, a rim 3 × higher
    x = _ring(200_000, seed=2)
    before, _ = np.histogram(np.sum(x**2, axis=1) / 1.5**2, bins=10, range=(0, 1))
    assert before.max() > 3 * before[0]
    assert np.all(np.diff(counts) < 0) == (alpha < 1)  # after it, a monotone profile


def test_radial_equalize_persists_and_refuses_nonsense():
    x = _ring(5_000)
    chain = Chain([SeparationMap([[0, 1]], radius=0.05), RadialEqualize([[0, 1]], radius=1.0, knots=8)])
    chain.fit(x[np.hypot(*x.T) > 0.05])
    spec, arrays = chain.state()
    again = Chain.from_state(spec, arrays)
    probe = x[np.hypot(*x.T) > 0.05][:100]
    np.testing.assert_array_equal(again.forward(probe)[0], chain.forward(probe)[0])
    with pytest.raises(ConfigError, match="radius must lie in"):
        RadialEqualize([[0, 1]], radius=4.0)
    with pytest.raises(ConfigError, match="distinct"):
        RadialEqualize([[0, 0]])
    with pytest.raises(
        InputError, match=r"only 3 \(effective\) rows of columns \(0, 1\) lie within the radius"
    ):
        RadialEqualize([[0, 1]], knots=8).fit(np.array([[0.1, 0.0], [0.2, 0.0], [0.3, 0.0], [2.0, 0.0]]))
    # a small sample gets fewer knots (one per 20 rows in the disk), and the saved state says how many
    small = RadialEqualize([[0, 1]], radius=1.0).fit(x[:400])
    assert small.knots == int(np.sum(np.hypot(*x[:400].T) < 1.0)) // 20 < 64
    assert small.area_knots.shape == (1, small.knots + 1) and small.params()["knots"] == small.knots
    with pytest.raises(RuntimeError, match="not fitted"):
        RadialEqualize([[0, 1]]).forward(x)


def test_zjets_preprocessing_equalises_the_mapped_pairs_and_round_trips():
    from evgen import plugins
    from evgen.io import read_events

    events = read_events(plugins.get_dataset("zjets-small").path)
    options = {
        "coordinates": "physics",
        "gaussianize": True,
        "balance": "polar",
        "jet_eta": "relative",
        "jet_separation": "map",
    }
    pre = ZJetsPreprocessing(**options, separation_equalize=1.5).fit(events)
    assert [s.kind for s in pre.chains[2].steps].count("radial-equalize") == 1
    assert "radial-equalize" not in [s.kind for s in pre.chains[1].steps]
    for n, (y, where) in pre.encode(events).items():
        x = pre.features(n).to_features(events[where])
        np.testing.assert_allclose(pre.inverse(y, n), x, rtol=1e-9, atol=1e-8)
        z = np.random.default_rng(n).normal(size=(20_000, y.shape[1])) * 1.5  # any network output
        if n > 1:
            assert pre.features(n).jet_pair_delta_r(pre.inverse(z, n))[:, : n - 1].min() >= 0.4
    with pytest.raises(ConfigError, match="needs jet_separation = 'map'"):
        ZJetsPreprocessing(**{**options, "jet_separation": "none"}, separation_equalize=1.5)
    with pytest.raises(ConfigError, match=r"must lie in \[0, π\]"):
        ZJetsPreprocessing(**options, separation_equalize=-1.0)
