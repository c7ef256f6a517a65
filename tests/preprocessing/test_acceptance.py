"""The further jets' acceptance edge at infinity (AcceptanceEdge): exact inverse, the identity
around jet 1, the full Jacobian by finite differences, every network point decoded inside the
acceptance, no two jets brought closer, the beam reflection, what it does for a smooth density
estimator at a hard edge, and the option in the Z+jets chain."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from evgen import plugins
from evgen.errors import ConfigError, InputError
from evgen.io import read_events
from evgen.preprocessing import AcceptanceEdge, ZJetsPreprocessing
from evgen.preprocessing.acceptance import zone_start
from evgen.preprocessing.base import Chain

BOUND = 5.0


def _jets(n: int, seed: int) -> np.ndarray:
    """Rows ``(η_1, Δη_2, Δη_3)`` with every jet inside ``|η| < 5``, many near the edges."""
    rng = np.random.default_rng(seed)
    eta = rng.uniform(-BOUND, BOUND, (n, 3)) * (1 - 1e-6)
    eta[: n // 4, 1] = np.sign(eta[: n // 4, 1]) * (BOUND - rng.exponential(0.05, n // 4))  # near the edge
    eta[:, 1:] = np.clip(eta[:, 1:], -BOUND * (1 - 1e-9), BOUND * (1 - 1e-9))
    return np.column_stack([eta[:, 0], eta[:, 1] - eta[:, 0], eta[:, 2] - eta[:, 0]])


def test_the_zone_starts_inside_both_limits_and_moves_continuously():
    b = np.linspace(1e-4, 10.0, 100_001)
    c = zone_start(b, width=1.0, keep=0.4)
    assert (c > 0).all() and (c < b).all()
    assert np.abs(np.diff(c)).max() <= np.diff(b).max() * (1 + 1e-9)  # no jump anywhere
    np.testing.assert_allclose(c[b >= 1.4], b[b >= 1.4] - 1.0)  # far from the edge: the width
    np.testing.assert_allclose(c[(b > 0.8) & (b < 1.4)], 0.4)  # nearer: the disc kept


def test_inverts_exactly_and_is_the_identity_around_jet_one():
    x = _jets(20_000, seed=1)
    step = AcceptanceEdge([1, 2], reference=0, bound=BOUND, width=1.0, keep=0.4)
    y, _ = step.forward(x)
    np.testing.assert_allclose(step.inverse(y), x, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(y[:, 0], x[:, 0])
    edge = np.where(x[:, 1] > 0, BOUND - x[:, 0], BOUND + x[:, 0])
    middle = np.abs(x[:, 1]) <= np.minimum(0.4, edge / 2)  # within the kept radius of jet 1: untouched
    assert middle.mean() > 0.05
    np.testing.assert_array_equal(y[middle, 1], x[middle, 1])
    near = (edge - np.abs(x[:, 1]) < 0.01) & (edge > 1.4)  # jet 2 within 0.01 of its edge: far out
    assert near.sum() > 100
    assert (np.abs(y[near, 1]) > np.abs(x[near, 1]) + 1.0).all()


def test_the_stretch_joins_the_identity_without_a_kink():
    """``s − Δη = (b − c)(t³/3 + …)`` and ``log ds/dΔη = t² + …``: slope 1 and zero curvature at
    the zone's start, so the density in the stretched coordinate has no kink for a flow to smooth."""
    eta_1, width = 0.5, 2.0
    b = BOUND - eta_1
    c = b - width
    t = np.array([1e-3, 1e-2, 3e-2])
    x = np.column_stack([np.full(3, eta_1), c + width * t])
    y, log_det = AcceptanceEdge([1], reference=0, bound=BOUND, width=width, keep=0.4).forward(x)
    np.testing.assert_allclose((y[:, 1] - x[:, 1]) / width, t**3 / 3, rtol=0.05)
    np.testing.assert_allclose(log_det, t**2, rtol=0.05)


def test_log_det_is_the_jacobian_of_all_three_columns(finite_difference_log_det):
    x = _jets(400, seed=2)
    x = x[np.abs(x[:, [0]] + x[:, 1:]).max(axis=1) < BOUND - 1e-3]  # finite differences need room
    step = AcceptanceEdge([1, 2], reference=0, bound=BOUND, width=1.5, keep=0.4)
    _, log_det = step.forward(x)
    fd = finite_difference_log_det(step, x, columns=(0, 1, 2), h=1e-7)
    np.testing.assert_allclose(log_det, fd, atol=1e-4)
    assert (log_det >= 0).all() and (log_det > 0.1).any()  # a stretch, never a squeeze


def test_every_network_point_decodes_inside_the_acceptance():
    rng = np.random.default_rng(3)
    y = np.column_stack([rng.uniform(-BOUND, BOUND, 100_000), rng.normal(0, 30, (100_000, 2))])
    y[:10, 1:] = [[1e6, -1e6]] * 10
    x = AcceptanceEdge([1, 2], reference=0, bound=BOUND).inverse(y)
    assert np.isfinite(x).all()
    assert (np.abs(x[:, [0]] + x[:, 1:]) < BOUND).all()


def test_no_two_jets_come_closer_and_the_reflection_is_kept():
    x = _jets(50_000, seed=4)
    step = AcceptanceEdge([1, 2], reference=0, bound=BOUND, width=2.0, keep=0.4)
    y, log_det = step.forward(x)
    # slope ≥ 1 on each side: jet 2 and jet 3 (and each and jet 1 at 0) only move apart
    assert (np.abs(y[:, 1] - y[:, 2]) >= np.abs(x[:, 1] - x[:, 2]) - 1e-12).all()
    assert (np.abs(y[:, 1:]) >= np.abs(x[:, 1:]) - 1e-12).all()
    mirrored, log_det_mirrored = step.forward(-x)
    np.testing.assert_allclose(mirrored, -y, atol=1e-12)
    np.testing.assert_allclose(log_det_mirrored, log_det, atol=1e-12)


def _edge_share(x: np.ndarray, eta_1: float, depth: float) -> float:
    return float(np.mean(x > BOUND - eta_1 - depth))


def test_a_smooth_density_estimate_keeps_the_edge_in_the_stretched_coordinate():
    """A kernel density estimate (Gaussian smearing of the training points, the simplest smooth
    model) of a density with a hard edge, drawn and truncated at the edge as the generator's
    redraw does: in ``Δη`` it loses the events near the edge; after the stretch it keeps them."""
    rng = np.random.default_rng(5)
    eta_1, n, h = 1.0, 200_000, 0.15
    truth = rng.uniform(0.0, BOUND - eta_1, n)  # Δη up to the edge at 4, the density flat to it
    rows = lambda d: np.column_stack([np.full(len(d), eta_1), d])  # noqa: E731
    step = AcceptanceEdge([1], reference=0, bound=BOUND, width=1.0, keep=0.4)

    raw = truth + h * rng.normal(size=n)
    raw = raw[raw < BOUND - eta_1]  # the redraw: beyond the edge thrown away
    s = step.forward(rows(truth))[0][:, 1] + h * rng.normal(size=n)
    stretched = step.inverse(rows(s))[:, 1]

    expected = 0.1 / (BOUND - eta_1)  # the last 0.1 before the edge
    raw_share = _edge_share(raw, eta_1, 0.1)
    stretched_share = _edge_share(stretched, eta_1, 0.1)
    assert raw_share < 0.75 * expected  # the smeared edge: a quarter or more missing
    assert abs(stretched_share / expected - 1) < 0.06  # sampling noise ±2.3 %


def test_state_round_trip_and_bad_input():
    x = _jets(200, seed=6)
    step = AcceptanceEdge([1, 2], reference=0, bound=BOUND, width=1.5, keep=0.4)
    again = Chain.from_state(*Chain([step]).state())
    np.testing.assert_array_equal(again.forward(x)[0], step.forward(x)[0])
    for bad in (
        dict(columns=[1], reference=1),
        dict(columns=[], reference=0),
        dict(columns=[1], reference=0, bound=0.0),
        dict(columns=[1], reference=0, width=-1.0),
        dict(columns=[1], reference=0, keep=5.0),
    ):
        with pytest.raises(ConfigError):
            AcceptanceEdge(**bad)
    with pytest.raises(InputError, match="column 5"):
        AcceptanceEdge([5], reference=0).forward(x)


def test_the_option_in_the_zjets_chain(tmp_path, physics_chain_options):
    events = read_events(plugins.get_dataset("zjets-small").path)
    options = physics_chain_options
    pre = ZJetsPreprocessing(**options, jet_eta_edge_width=1.0).fit(events)
    plain = ZJetsPreprocessing(**options).fit(events)
    for n, (y, where) in pre.encode(events).items():
        f = pre.features(n)
        x = f.to_features(events[where])
        np.testing.assert_allclose(pre.inverse(y, n), x, rtol=1e-9, atol=1e-8)
        assert ("acceptance-edge" in [s.kind for s in pre.chains[n].steps]) == (n >= 2)
        if n >= 2:  # the network's wildest draws decode to further jets inside the acceptance
            further = [f.names.index(f"j{k}_eta") for k in range(2, n + 1)]
            wild = np.random.default_rng(n).normal(0, 4, y.shape)
            # (on it only by rounding, where jet 1 itself was decoded within 1e-6 of the edge)
            assert (np.abs(pre.inverse(wild, n)[:, further]) <= BOUND).all()
            # without the step they do not: the edge is the redraw's job
            assert (np.abs(plain.inverse(wild, n)[:, further]) > BOUND + 0.1).any()
    pre.save(tmp_path / "edge")
    assert ZJetsPreprocessing.load(tmp_path / "edge").jet_eta_edge_width == 1.0
    with pytest.raises(ConfigError, match="jet_eta_edge_width"):
        ZJetsPreprocessing(**{**options, "jet_eta_bound": 0.0}, jet_eta_edge_width=1.0)
    # a further jet beyond the bound: only the leading jet's is checked without the step
    jets = events.Jet
    eta = ak.to_numpy(ak.flatten(jets.eta)).copy()
    second = int(np.flatnonzero(ak.to_numpy(ak.num(jets)) >= 2)[0])
    eta[int(ak.to_numpy(ak.num(jets))[:second].sum()) + 1] = 5.2
    outside = ak.with_field(events, ak.with_field(jets, ak.unflatten(eta, ak.num(jets)), "eta"), "Jet")
    ZJetsPreprocessing(**options).fit(outside)
    with pytest.raises(InputError, match="jet_eta_bound"):
        ZJetsPreprocessing(**options, jet_eta_edge_width=1.0).fit(outside)
