"""ThirdJetSeparation: both of jet 3's ΔR < R holes closed, exactly invertible, with its Jacobian."""

from __future__ import annotations

import numpy as np
import pytest

from evgen.errors import ConfigError, InputError
from evgen.physics.magic import delta_r
from evgen.preprocessing.third_jet import ThirdJetEqualize, ThirdJetSeparation, closed_pairs

R = 0.4
# columns: jet 2 (Δη, Δφ) relative to jet 1, then jet 3 (Δη, Δφ) relative to jet 1
STEP = ThirdJetSeparation(jet3=[2, 3], jet2=[0, 1], radius=R)


def _three_jets(n: int, seed: int = 0) -> np.ndarray:
    """Jet 2 and jet 3 relative to jet 1, no two of the three closer than R (the anti-k_T rule)."""
    rng = np.random.default_rng(seed)
    x = np.stack(
        [
            rng.normal(0, 1.5, n),
            rng.uniform(-np.pi, np.pi, n),
            rng.normal(0, 2, n),
            rng.uniform(-np.pi, np.pi, n),
        ],
        axis=1,
    )
    keep = (
        (np.hypot(x[:, 0], x[:, 1]) > R)
        & (np.hypot(x[:, 2], x[:, 3]) > R)
        & (delta_r(x[:, 2], x[:, 3], x[:, 0], x[:, 1]) > R)
    )
    return x[keep]


def _wrapped(d: np.ndarray) -> np.ndarray:
    return np.mod(d + np.pi, 2 * np.pi) - np.pi


def _numerical_log_det(x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """log |det| of jet 3's 2 × 2 block by central differences (the step reads jet 2, changes only jet 3)."""
    jac = np.empty((len(x), 2, 2))
    for k, col in enumerate(STEP.jet3):
        up, down = x.copy(), x.copy()
        up[:, col] += h
        down[:, col] -= h
        diff = STEP.forward(up)[0][:, STEP.jet3] - STEP.forward(down)[0][:, STEP.jet3]
        diff[:, 1] = _wrapped(diff[:, 1])
        jac[:, :, k] = diff / (2 * h)
    return np.log(np.abs(np.linalg.det(jac)))


def test_it_inverts_exactly_and_its_log_det_is_the_jacobian():
    x = _three_jets(60_000)
    y, log_det = STEP.forward(x)
    back = STEP.inverse(y)
    np.testing.assert_allclose(back[:, [0, 1, 2]], x[:, [0, 1, 2]], atol=1e-12)
    np.testing.assert_allclose(_wrapped(back[:, 3] - x[:, 3]), 0.0, atol=1e-12)
    np.testing.assert_array_equal(y[:, :2], x[:, :2])  # jet 2 is read, not changed
    # away from the supports' rims (where the smoothstep's second derivative jumps)
    sample = x[:400]
    np.testing.assert_allclose(log_det[:400], _numerical_log_det(sample), atol=2e-5)
    assert log_det.min() >= 0.0 and np.count_nonzero(log_det) > 0.1 * len(x)


def test_far_apart_jets_leave_no_network_point_inside_either_hole():
    rng = np.random.default_rng(3)
    x = _three_jets(40_000, seed=1)
    z = x.copy()  # jet 2 as in the data, jet 3 anywhere in the network's strip
    z[:, 2] = rng.normal(0, 2, len(z))
    z[:, 3] = rng.uniform(-np.pi, np.pi, len(z))
    back = STEP.inverse(z)
    closed = closed_pairs(np.hypot(x[:, 0], x[:, 1]), R)
    assert 0.8 < closed.mean() < 0.95
    dr13 = np.hypot(back[:, 2], back[:, 3])
    dr23 = delta_r(back[:, 2], back[:, 3], back[:, 0], back[:, 1])
    assert dr13[closed].min() >= R and dr23[closed].min() >= R
    assert np.abs(back[:, 3]).max() <= np.pi
    again = STEP.forward(back)[0]
    np.testing.assert_allclose(again[closed][:, 2], z[closed][:, 2], atol=1e-11)
    np.testing.assert_allclose(_wrapped(again[closed][:, 3] - z[closed][:, 3]), 0.0, atol=1e-11)
    # close pairs keep both holes: jet 3 is only shifted to the midpoint, the magic weights handle it
    assert (dr23[~closed] < R).any()


def test_each_hole_collapses_onto_its_jet_and_far_points_only_move_to_the_midpoint():
    c = np.array([[1.0, 2.0]])  # jet 2, ΔR_12 = 2.24 > 3R
    h = c / 2
    edge2 = np.hstack([c, c + [[R, 0.0]]])  # jet 3 on the rim of jet 2's hole, along +Δη
    np.testing.assert_allclose(STEP.inverse(np.hstack([c, h])), edge2, atol=1e-12)
    just_out = 1 + 1e-10
    np.testing.assert_allclose(
        STEP.forward(np.hstack([c, c + [[R * just_out, 0.0]]]))[0][:, 2:], h, atol=1e-5
    )
    np.testing.assert_allclose(STEP.forward(np.hstack([c, [[-R * just_out, 0.0]]]))[0][:, 2:], -h, atol=1e-5)
    far = np.hstack([c, [[-3.0, -2.5]]])  # beyond both supports (radius |c|/2 = 1.12)
    y, log_det = STEP.forward(far)
    np.testing.assert_allclose(y[:, 2:], [[-3.5, _wrapped(np.array(-3.5))]], atol=1e-12)
    assert log_det[0] == 0.0


def test_jets_back_to_back_in_azimuth_are_handled_across_the_cut():
    # jet 2 at Δφ = π − 0.1: its hole reaches across φ = ±π in jet 1's frame
    c = np.array([0.2, np.pi - 0.1])
    jet3 = np.array([[0.25, -np.pi + 0.2], [0.1, np.pi - 0.45], [0.2, -np.pi + 0.6]])
    x = np.hstack([np.tile(c, (3, 1)), jet3])
    dr23 = delta_r(x[:, 2], x[:, 3], x[:, 0], x[:, 1])
    y, _ = STEP.forward(x[dr23 > R])
    back = STEP.inverse(y)
    np.testing.assert_allclose(_wrapped(back - x[dr23 > R]), 0.0, atol=1e-12)
    with pytest.raises(InputError, match=r"1 rows have jet 3 within the jet radius 0.4 of jet 2"):
        STEP.forward(x[dr23 <= R][:1])


def test_bad_input_and_options_are_refused():
    with pytest.raises(InputError, match="of jet 1"):
        STEP.forward(np.array([[2.0, 0.0, 0.1, 0.2]]))
    with pytest.raises(InputError, match=r"jet 2's Δφ \(column 1\)"):
        STEP.forward(np.array([[2.0, 4.0, 1.0, 1.0]]))
    with pytest.raises(ConfigError, match="two distinct column pairs"):
        ThirdJetSeparation(jet3=[0, 1], jet2=[1, 2])
    with pytest.raises(ConfigError, match="apart must exceed twice the radius"):
        ThirdJetSeparation(jet3=[2, 3], jet2=[0, 1], apart=0.7)
    with pytest.raises(ConfigError, match="radius"):
        ThirdJetSeparation(jet3=[2, 3], jet2=[0, 1], radius=2.0)


def _ringed(n: int, seed: int) -> np.ndarray:
    """Jet 3 concentrated just outside both holes (a collinear ring around each jet), jets far apart."""
    rng = np.random.default_rng(seed)
    c = np.stack([rng.uniform(1.5, 3.0, n) * rng.choice([-1, 1], n), rng.uniform(-1.5, 1.5, n)], axis=1)
    around = np.where(rng.uniform(size=n) < 0.5, 0.0, 1.0)[:, None] * c  # jet 1 or jet 2
    r = R + rng.exponential(0.15, n)
    angle = rng.uniform(-np.pi, np.pi, n)
    p = around + np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1)
    x = np.hstack([c, p])
    keep = (np.hypot(p[:, 0], p[:, 1]) > R) & (delta_r(p[:, 0], p[:, 1], c[:, 0], c[:, 1]) > R)
    x = x[keep & (np.abs(p[:, 1]) < np.pi)]
    return x


def test_the_equaliser_flattens_the_rings_inverts_and_has_the_jacobian_of_its_formula():
    separate = ThirdJetSeparation(jet3=[2, 3], jet2=[0, 1], radius=R)
    mapped = separate.forward(_ringed(100_000, seed=4))[0]
    step = ThirdJetEqualize(jet3=[2, 3], jet2=[0, 1], radius=R).fit(mapped)
    assert step.knots == 64
    independent = separate.forward(_ringed(100_000, seed=5))[0]
    y, log_det = step.forward(independent)
    np.testing.assert_allclose(step.inverse(y), independent, atol=1e-12)
    h = 1e-6
    jac = np.empty((300, 2, 2))
    for k, col in enumerate(step.jet3):
        up, down = independent[:300].copy(), independent[:300].copy()
        up[:, col] += h
        down[:, col] -= h
        jac[:, :, k] = (step.forward(up)[0][:, step.jet3] - step.forward(down)[0][:, step.jet3]) / (2 * h)
    np.testing.assert_allclose(log_det[:300], np.log(np.abs(np.linalg.det(jac))), atol=1e-6)
    # in units of each disc's area, the ring (a peak at small u) becomes the linear target profile
    # g(u) = α + 2(1 − α)(1 − u) on independent rows
    edges = np.linspace(0, 1, 9)
    for i, ((_, u_before, inside), (_, u_after, _)) in enumerate(
        zip(step._discs(independent), step._discs(y), strict=True)
    ):
        before = np.histogram(u_before[inside], bins=edges)[0]
        after = np.histogram(u_after[inside], bins=edges)[0]
        alpha = step.alpha[i]
        target = np.diff(alpha * edges + 2 * (1 - alpha) * (edges - edges**2 / 2))
        assert np.abs(before / before.sum() / target - 1).max() > 0.5
        np.testing.assert_allclose(after / after.sum(), target, rtol=0.05)
    # rows whose holes are open (jets 1 and 2 close together) are left alone
    close = np.array([[0.5, 0.3, 2.0, 1.0]])
    np.testing.assert_array_equal(step.forward(close)[0], close)


def test_the_equaliser_refuses_too_few_rows_and_round_trips_through_its_state():
    separate = ThirdJetSeparation(jet3=[2, 3], jet2=[0, 1], radius=R)
    with pytest.raises(InputError, match="only .* rows of jet 3 lie in the disc around jet"):
        ThirdJetEqualize(jet3=[2, 3], jet2=[0, 1]).fit(separate.forward(_ringed(30, seed=1))[0])
    mapped = separate.forward(_ringed(1_500, seed=2))[0]
    step = ThirdJetEqualize(jet3=[2, 3], jet2=[0, 1]).fit(mapped)
    assert step.knots < 64  # one knot per 20 rows in the smaller disc
    again = ThirdJetEqualize.from_state(step.params(), step.arrays())
    np.testing.assert_array_equal(again.forward(mapped)[0], step.forward(mapped)[0])
