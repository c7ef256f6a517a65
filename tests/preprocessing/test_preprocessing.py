"""Invertible preprocessing: exact round trips, log-dets vs numerical Jacobians, edges, persistence."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from evgen_zjets_inn.synthetic import toy_zjets_events

from evgen.errors import ConfigError, InputError
from evgen.events import n_jets
from evgen.preprocessing import (
    AsinhScale,
    AtanhScale,
    Chain,
    Gaussianize,
    LogPolar,
    LogShift,
    RelativeTo,
    SeparationMap,
    Standardize,
    Whiten,
    ZJetsFeatures,
    ZJetsPreprocessing,
    block_slices,
)
from evgen.preprocessing.zjets import open_pair_mask


@pytest.fixture(scope="module")
def events() -> ak.Array:
    return toy_zjets_events(3000, seed=1)


def _numerical_log_det(step, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = []
    for row in x:
        jac = np.empty((len(row), len(row)))
        for j in range(len(row)):
            up, down = row.copy(), row.copy()
            up[j] += h
            down[j] -= h
            jac[:, j] = (step.forward(up[None])[0][0] - step.forward(down[None])[0][0]) / (2 * h)
        out.append(np.linalg.slogdet(jac)[1])
    return np.array(out)


def _matrix(n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)) @ np.array([[1, 0.5, 0, 0], [0, 1, 0.3, 0], [0, 0, 1, 0.2], [0, 0, 0, 1.0]])
    x[:, 0] = 20 + rng.exponential(30, n)  # a p_T above 20 GeV
    x[:, 2] = rng.uniform(-np.pi, np.pi, n)  # an angle
    return x


STEPS = [
    lambda: LogShift([0], [20.0]),
    lambda: AtanhScale([2]),
    lambda: AsinhScale([1, 3], scale=0.7),
    lambda: LogPolar([1, 3]),
    lambda: LogPolar([3, 1], reference=np.pi),
    lambda: RelativeTo([1, 3], reference=0),
    lambda: RelativeTo([2], reference=1, period=2 * np.pi),
    lambda: Standardize(),
    lambda: Whiten("cholesky"),
    lambda: Whiten("pca"),
    lambda: Chain([LogShift([0], [20.0]), AtanhScale([2]), Standardize(), Whiten("cholesky")]),
]


@pytest.mark.parametrize("make", STEPS)
def test_steps_invert_and_log_det_matches_jacobian(make):
    x = _matrix()
    step = make().fit(x)
    y, log_det = step.forward(x)
    np.testing.assert_allclose(step.inverse(y), x, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(log_det[:5], _numerical_log_det(step, x[:5]), rtol=1e-5, atol=1e-5)


def test_whitening_gives_unit_covariance_and_cholesky_is_triangular():
    x = _matrix(2000)
    y, _ = Chain([Standardize(), Whiten("cholesky")]).fit(x).forward(x)
    np.testing.assert_allclose(np.cov(y.T, bias=True), np.eye(4), atol=1e-10)
    white = Whiten("cholesky").fit(x)
    assert np.allclose(np.triu(white.matrix), white.matrix)  # output column i uses inputs ≤ i
    pca = Whiten("pca").fit(x)
    np.testing.assert_allclose(np.cov(pca.forward(x)[0].T, bias=True), np.eye(4), atol=1e-10)


def test_edges_stay_finite():
    angles = np.array([[-np.pi], [np.pi], [0.0], [np.nextafter(np.pi, 0)]])
    y, log_det = AtanhScale([0]).forward(angles)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(log_det))
    back = AtanhScale([0]).inverse(y)
    np.testing.assert_allclose(np.abs(back[:2, 0]), np.pi, atol=1e-6)
    pts = np.array([[20.0], [19.0], [20.0 + 1e-9], [25.0]])  # at and below the threshold
    y, log_det = LogShift([0], [20.0]).forward(pts)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(log_det))
    back = LogShift([0], [20.0]).inverse(y)
    assert np.all(back[:3, 0] > 20.0) and np.all(back[:3, 0] <= 20.0 + 1e-4 + 1e-12)
    assert back[3, 0] == pytest.approx(25.0, rel=1e-14)
    # generated values far in the tails still invert to allowed values (exp(-50) + 20 rounds to 20)
    assert np.all(LogShift([0], [20.0]).inverse(np.array([[-50.0], [5.0]]))[:, 0] >= 20.0)
    assert np.all(np.abs(AtanhScale([0]).inverse(np.array([[-40.0], [40.0]]))) <= np.pi)


def test_chain_saves_and_loads_without_pickle(tmp_path):
    x = _matrix()
    chain = STEPS[-1]().fit(x)
    chain.save(tmp_path / "pre")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pre.json", "pre.safetensors"]
    again = Chain.load(tmp_path / "pre")
    np.testing.assert_array_equal(again.forward(x)[0], chain.forward(x)[0])
    np.testing.assert_array_equal(again.forward(x)[1], chain.forward(x)[1])


@pytest.mark.parametrize(("n", "dim"), [(1, 9), (2, 13), (3, 17)])
def test_features_round_trip_events_exactly(events, n, dim):
    f = ZJetsFeatures(n, muon_mass=float(events.Muon.mass[0, 0]))
    sel = events[n_jets(events) == n]
    x = f.to_features(sel)
    assert x.shape == (len(sel), dim) and f.dim == dim and len(f.names) == dim
    dphi = x[:, f.columns("dphi")]
    assert np.all((dphi >= -np.pi) & (dphi < np.pi))
    back = f.to_events(x, phi_ref=f.reference_phi(sel), charge=ak.to_numpy(sel.Muon.charge))
    for coll in ("Muon", "Jet"):
        for field in ("pt", "eta", "phi", "mass"):
            a = ak.to_numpy(ak.flatten(sel[coll][field]))
            b = ak.to_numpy(ak.flatten(back[coll][field]))
            np.testing.assert_allclose(b.astype(np.float32), a.astype(np.float32), rtol=1e-6, atol=1e-5)
    assert ak.all(back.Muon.charge == sel.Muon.charge)


def test_features_reject_wrong_multiplicities(events):
    with pytest.raises(InputError, match="event 0 has 2 muons and 2 jets; expected 2 muons and 1 jets"):
        ZJetsFeatures(1).to_features(events[n_jets(events) == 2], source="x.root")


def test_zjets_preprocessing_round_trip_whitened_and_blockwise(events, tmp_path):
    pre = ZJetsPreprocessing().fit(events)
    for n, (y, index) in pre.encode(events).items():
        x = pre.features(n).to_features(events[index])
        assert y.shape == (len(index), 5 + 4 * n)
        np.testing.assert_allclose(np.cov(y.T, bias=True), np.eye(y.shape[1]), atol=1e-8)
        np.testing.assert_allclose(pre.inverse(y, n), x, rtol=1e-9, atol=1e-9)
        # the μμj block of y does not move when a later jet changes: chained networks stay valid
        if n >= 2:
            shifted = x.copy()
            shifted[:, block_slices(n)[1]] += 0.3
            y2, _ = pre.forward(shifted, n)
            np.testing.assert_array_equal(y2[:, :9], y[:, :9])
    pre.save(tmp_path / "preprocessing")
    again = ZJetsPreprocessing.load(tmp_path / "preprocessing")
    for n, (y, _) in again.encode(events).items():
        np.testing.assert_array_equal(y, pre.encode(events)[n][0])  # bit for bit after reloading
    assert again.muon_mass == pre.muon_mass


def test_zjets_preprocessing_log_det_is_the_density_jacobian(events):
    pre = ZJetsPreprocessing().fit(events)
    chain = pre.chains[2]
    x = pre.features(2).to_features(events[n_jets(events) == 2][:3])
    np.testing.assert_allclose(chain.forward(x)[1], _numerical_log_det(chain, x), rtol=1e-5)


def test_jets_below_threshold_are_refused(events):
    with pytest.raises(InputError, match="jet pt of .* below jet_pt_min=30.0"):
        ZJetsPreprocessing(jet_pt_min=30.0).fit(events, source="mine.root")


def test_shipped_sample_round_trips_through_features_and_chain():
    from evgen.plugins import get_dataset

    events = get_dataset("zjets-small").load()
    pre = ZJetsPreprocessing().fit(events)
    for n, (y, index) in pre.encode(events).items():
        assert np.all(np.isfinite(y))  # includes jets with m = 0 and muons down to p_T ≈ 0.3 GeV
        sel = events[index]
        f = pre.features(n)
        back = f.to_events(
            pre.inverse(y, n), phi_ref=f.reference_phi(sel), charge=ak.to_numpy(sel.Muon.charge)
        )
        for coll in ("Muon", "Jet"):
            for field in ("pt", "eta", "phi", "mass"):
                a = ak.to_numpy(ak.flatten(sel[coll][field])).astype(np.float64)
                b = ak.to_numpy(ak.flatten(back[coll][field])).astype(np.float32)
                # exact to float32 round-off (φ near ±π may wrap to the other side)
                diff = np.abs(b - a) if field != "phi" else np.abs(np.mod(b - a + np.pi, 2 * np.pi) - np.pi)
                assert np.all(diff <= 4 * np.spacing(np.abs(a).astype(np.float32)) + 1e-6), (coll, field)


def test_weighted_quantiles_match_numpy_and_honour_weights():
    from evgen.preprocessing.steps import weighted_quantiles

    x = np.random.default_rng(2).gamma(2.0, size=5001)
    p = np.linspace(0.01, 0.99, 23)
    np.testing.assert_allclose(weighted_quantiles(x, p), np.quantile(x, p, method="hazen"), rtol=1e-12)
    # weight 2 on every event below the median is the same as every such event twice
    w = np.where(x < np.median(x), 2.0, 1.0)
    doubled = np.concatenate([x, x[x < np.median(x)]])
    np.testing.assert_allclose(
        weighted_quantiles(x, p, w), np.quantile(doubled, p, method="hazen"), rtol=2e-3
    )


def test_gaussianize_gives_standard_normal_marginals_and_a_bijection_of_the_line():
    from scipy import stats

    rng = np.random.default_rng(4)
    n = 200_000
    x = np.column_stack(
        [
            rng.exponential(1.0, n),  # one-sided, steep
            np.where(rng.uniform(size=n) < 0.2, 0.0, rng.normal(size=n)),  # 20 % point mass at 0
            np.arccos(rng.uniform(-1, 1, n)) * (1 + 0.3 * rng.normal(size=n)),  # bumpy
        ]
    )
    step = Gaussianize(bins=128).fit(x[: n // 2])
    z, log_det = step.forward(x[n // 2 :])  # an independent half
    for j in range(3):
        if j == 1:
            continue  # a point mass is spread over the bins it covers, but not below z_max resolution
        assert stats.kstest(z[:, j], "norm").statistic < 0.01, j
    np.testing.assert_allclose(step.inverse(z), x[n // 2 :], rtol=1e-12, atol=1e-12)
    assert np.all(np.isfinite(log_det))
    # the point mass comes back as (almost) a point: every z in its span decodes to within 1e-6 of 0
    span = z[x[n // 2 :, 1] == 0, 1]
    grid = np.linspace(span.min(), span.max(), 101)
    back = step.inverse(np.column_stack([np.zeros(101), grid, np.zeros(101)]))[:, 1]
    assert np.abs(back).max() < 1e-6
    # log|det J| against finite differences (away from the knots, where the map has kinks)
    chain = Chain([Standardize(), Gaussianize(bins=64), Whiten("cholesky")]).fit(x[:5000])
    probe = x[n // 2 : n // 2 + 40]
    probe = probe[probe[:, 1] != 0][:8]
    np.testing.assert_allclose(chain.forward(probe)[1], _numerical_log_det(chain, probe, h=1e-7), atol=1e-4)
    # far outside the fitted range: linear continuation, still invertible and finite
    far = np.array([[-3.0, -50.0, 40.0], [500.0, 50.0, -40.0]])
    zf, ld = step.forward(far)
    assert np.all(np.isfinite(zf)) and np.all(np.isfinite(ld))
    np.testing.assert_allclose(step.inverse(zf), far, rtol=1e-10)


def test_gaussianize_dequantizes_a_point_mass_into_a_flat_span_that_decodes_back_to_the_point():
    from scipy import stats

    rng = np.random.default_rng(6)
    n = 100_000
    x = np.column_stack(
        [rng.normal(size=n), np.where(rng.uniform(size=n) < 0.2, 0.0, rng.exponential(size=n))]
    )
    step = Gaussianize(bins=128).fit(x)
    runs = step.point_masses()
    assert runs[0] == [] and len(runs[1]) == 1
    z_point = step.forward(x)[0][x[:, 1] == 0, 1]
    assert np.ptp(z_point) == 0  # without dequantisation: one value, an unbounded density for a flow
    spread = step.dequantize(x, np.random.default_rng(0))
    np.testing.assert_array_equal(spread[:, 0], x[:, 0])  # continuous columns untouched
    z = step.forward(spread)[0]
    assert stats.kstest(z[:, 1], "norm").statistic < 0.01  # now the whole column is standard normal
    assert np.abs(step.inverse(z)[x[:, 1] == 0, 1]).max() < 1e-6  # and the point comes back
    chain = Chain([Standardize(), Gaussianize(bins=128)]).fit(x)
    y, _ = chain.forward(x, dequantize=np.random.default_rng(1))
    assert np.ptp(y[x[:, 1] == 0, 1]) > 0.5


def test_gaussianize_on_a_small_sample_keeps_unseen_events_near_the_bulk():
    """With 1 900 events the outer knots sit where 10 events lie beyond them, not at |z| = 4."""
    from scipy.special import ndtri

    rng = np.random.default_rng(5)
    train, unseen = rng.normal(size=(1900, 1)), rng.normal(size=(20_000, 1))
    old = Gaussianize(tail_events=0).fit(train)  # the knots at the quantiles of |z| ≤ 4
    new = Gaussianize().fit(train)
    assert new.z_limit == pytest.approx(-ndtri(10 / 1900)) and old.z_limit == 4.0
    assert np.abs(old.forward(unseen)[0]).max() > 1e3  # one event beyond the sample's extreme
    assert np.abs(new.forward(unseen)[0]).max() < 8  # ... lands in the tail of a normal
    np.testing.assert_allclose(new.inverse(new.forward(unseen)[0]), unseen, rtol=1e-12, atol=1e-12)
    # weights count through their effective number; a state saved before z_limit existed keeps ±z_max
    w = np.where(np.arange(1900) < 950, 1.0, 3.0)
    n_eff = w.sum() ** 2 / np.sum(w * w)
    assert Gaussianize().fit(train, w).z_limit == pytest.approx(-ndtri(10 / n_eff))
    legacy = Gaussianize.from_state({"bins": 128, "z_max": 4.0}, {"knots": old.knots})
    assert legacy.z_limit is None and legacy.grid[-1] == 4.0
    inside = unseen[(unseen[:, 0] > old.knots[0, 0]) & (unseen[:, 0] < old.knots[0, -1])]
    np.testing.assert_array_equal(legacy.forward(inside)[0], old.forward(inside)[0])


def test_zjets_preprocessing_with_gaussianize_persists(events, tmp_path):
    pre = ZJetsPreprocessing(coordinates="physics", gaussianize=True).fit(events)
    pre.save(tmp_path / "pre")
    again = ZJetsPreprocessing.load(tmp_path / "pre")
    assert again.gaussianize
    for n, (y, where) in pre.encode(events).items():
        np.testing.assert_array_equal(again.encode(events)[n][0], y)
        x = pre.features(n).to_features(events[where])
        np.testing.assert_allclose(again.inverse(y, n), x, rtol=1e-9, atol=1e-8)
    assert not ZJetsPreprocessing().gaussianize


def test_log_polar_is_the_polar_map_and_stays_finite_at_the_origin_and_the_cut():
    xy = np.array([[3.0, 4.0], [-1.0, 0.0], [0.0, 0.0], [1.0, 1e-9], [1.0, -1e-9], [0.0, -2.0]])
    y, log_det = LogPolar([0, 1], reference=np.pi).forward(xy)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(log_det))
    assert y[0, 0] == pytest.approx(np.log(5.0), rel=1e-14)
    # φ from the −x direction: (−1, 0) is at φ = 0; (0, −2) at +π/2 (atan2(−2, 0) − π wrapped)
    assert y[1, 1] == pytest.approx(0.0, abs=1e-14)
    assert np.pi * np.tanh(y[5, 1]) == pytest.approx(np.pi / 2, rel=1e-12)
    # just above and just below the +x axis (the cut at ±π) land at opposite, finite ends
    assert y[3, 1] < -8 and y[4, 1] > 8
    back = LogPolar([0, 1], reference=np.pi).inverse(y)
    np.testing.assert_allclose(back[[0, 1, 5]], xy[[0, 1, 5]], rtol=1e-12, atol=1e-12)
    assert np.hypot(*back[2]) == pytest.approx(1e-6)  # the origin: clamped to the floor
    # the density: a 2-d standard normal has ln p(x, y) = −r²/2 − ln 2π; in (log r, atanh(φ/π))
    # coordinates ln p = ln p(x, y) − log|det J|
    rng = np.random.default_rng(3)
    pts = rng.normal(size=(200_000, 2))
    u, ld = LogPolar([0, 1]).forward(pts)
    hist, edges = np.histogram(u[:, 0], bins=40, range=(-3, 1.5), density=True)
    centres = 0.5 * (edges[1:] + edges[:-1])
    r = np.exp(centres)
    expected = r * r * np.exp(-r * r / 2)  # d/dlog r of the Rayleigh CDF
    np.testing.assert_allclose(hist, expected, rtol=0.1, atol=2e-3)


def test_relative_to_shifts_by_the_reference_and_refuses_itself():
    x = np.array([[1.0, 2.0, 5.0], [-1.0, 0.5, 0.0]])
    y, log_det = RelativeTo([1, 2], reference=0).forward(x)
    np.testing.assert_array_equal(y, [[1.0, 1.0, 4.0], [-1.0, 1.5, 1.0]])
    np.testing.assert_array_equal(log_det, 0.0)
    np.testing.assert_array_equal(RelativeTo([1, 2], reference=0).inverse(y), x)
    with pytest.raises(ConfigError, match="reference"):
        RelativeTo([0, 1], reference=1)
    with pytest.raises(ConfigError, match="two columns"):
        LogPolar([0, 1, 2])


@pytest.mark.parametrize(
    "balance, jet_eta", [("polar", "absolute"), ("cartesian", "relative"), ("polar", "relative")]
)
def test_zjets_preprocessing_balance_and_jet_eta_forms_round_trip_and_persist(
    events, tmp_path, balance, jet_eta
):
    pre = ZJetsPreprocessing(coordinates="physics", gaussianize=True, balance=balance, jet_eta=jet_eta).fit(
        events
    )
    pre.save(tmp_path / "pre")
    again = ZJetsPreprocessing.load(tmp_path / "pre")
    assert (again.balance, again.jet_eta) == (balance, jet_eta)
    for n, (y, where) in pre.encode(events).items():
        x = pre.features(n).to_features(events[where])
        np.testing.assert_array_equal(again.encode(events)[n][0], y)
        np.testing.assert_allclose(again.inverse(y, n), x, rtol=1e-9, atol=1e-8)
        kinds = [step.kind for step in pre._chain(n).steps]
        assert ("log-polar" in kinds) == (balance == "polar")
        assert ("relative-to" in kinds) == (jet_eta == "relative" and n > 1)
    # the log-Jacobian of the whole chain (Gaussianize left out: it is piecewise linear, so a
    # finite difference across one of its knots would not be a derivative)
    smooth = ZJetsPreprocessing(coordinates="physics", balance=balance, jet_eta=jet_eta).fit(events)
    for n, (_, where) in smooth.encode(events).items():
        x = smooth.features(n).to_features(events[where])[:4]
        _, log_det = smooth.forward(x, n)
        np.testing.assert_allclose(log_det, _numerical_log_det(smooth._chain(n), x), rtol=1e-5, atol=1e-5)


def test_zjets_preprocessing_forms_refuse_nonsense():
    with pytest.raises(ConfigError, match="balance"):
        ZJetsPreprocessing(coordinates="physics", balance="spherical")
    with pytest.raises(ConfigError, match="coordinates = 'physics'"):
        ZJetsPreprocessing(coordinates="particles", balance="polar")
    with pytest.raises(ConfigError, match="jet_eta"):
        ZJetsPreprocessing(jet_eta="delta")


def test_old_preprocessing_files_load_with_the_cartesian_balance_and_absolute_eta(events, tmp_path):
    import json

    pre = ZJetsPreprocessing(coordinates="physics").fit(events)
    pre.save(tmp_path / "pre")
    spec = json.loads((tmp_path / "pre.json").read_text())
    for key in ("balance", "jet_eta", "angular_fit"):
        del spec["params"][key]
    (tmp_path / "pre.json").write_text(json.dumps(spec))
    again = ZJetsPreprocessing.load(tmp_path / "pre")
    assert (again.balance, again.jet_eta, again.angular_fit) == ("cartesian", "absolute", "moments")
    y, where = pre.encode(events)[1]
    np.testing.assert_array_equal(again.encode(events)[1][0], y)


def _separated_plane(n: int, radius: float = 0.4, seed: int = 0) -> np.ndarray:
    """Points (Δη, Δφ) with |Δφ| ≤ π outside the disc of ``radius``."""
    rng = np.random.default_rng(seed)
    x = np.stack([rng.uniform(-6, 6, n), rng.uniform(-np.pi, np.pi, n)], axis=1)
    return x[np.hypot(x[:, 0], x[:, 1]) > radius]


def test_separation_map_closes_the_hole_inverts_and_has_the_jacobian_of_its_formula():
    step = SeparationMap([[0, 1]], radius=0.4)
    x = _separated_plane(50_000)
    y, log_det = step.forward(x)
    np.testing.assert_allclose(step.inverse(y), x, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(log_det[:20], _numerical_log_det(step, x[:20]), rtol=1e-5, atol=1e-6)
    r, r_new = np.hypot(x[:, 0], x[:, 1]), np.hypot(y[:, 0], y[:, 1])
    outside = r >= np.pi
    np.testing.assert_array_equal(y[outside], x[outside])  # the identity beyond r_out = π
    np.testing.assert_array_equal(log_det[outside], 0.0)
    assert np.all(np.abs(y[:, 1]) <= np.pi) and 0 <= log_det.min() and log_det.max() < 0.03
    # the hole's edge goes to the origin, and near it the map preserves area: r'² ≈ r² − R²
    near = r < 0.45
    np.testing.assert_allclose(r_new[near] ** 2, r[near] ** 2 - 0.16, rtol=0.02, atol=1e-4)
    # every point of the plane comes from outside the hole: a flow's samples respect ΔR ≥ R
    anywhere = np.random.default_rng(1).uniform(-1, 1, (10_000, 2)) * [6, np.pi]
    back = step.inverse(anywhere)
    assert np.hypot(back[:, 0], back[:, 1]).min() >= 0.4
    np.testing.assert_allclose(step.forward(back)[0], anywhere, atol=1e-12)
    np.testing.assert_allclose(step.inverse(np.zeros((1, 2))), [[0.4, 0.0]])
    with pytest.raises(InputError, match=r"1 rows have columns \(0, 1\) closer than the jet radius 0.4"):
        step.forward(np.array([[0.3, 0.1], [1.0, 1.0]]))


def test_separation_map_turns_a_density_with_a_hole_into_one_without():
    # uniform on the annulus-free plane region: the mapped density has no hole and no spike at 0
    step = SeparationMap([[0, 1]], radius=0.4)
    x = _separated_plane(400_000, seed=2)
    y, _ = step.forward(x)
    inner = np.hypot(y[:, 0], y[:, 1])
    counts, _ = np.histogram(inner**2, bins=5, range=(0, 1))  # equal areas π·Δ(r²), ~3300 points each
    assert counts.min() > 0.92 * counts.mean() and counts.max() < 1.08 * counts.mean()
    # where the hole was, the mapped density is as high as anywhere: 1/(12·2π) per unit area
    assert counts[0] / (len(x) * np.pi * 0.2 / (12 * 2 * np.pi)) == pytest.approx(1.0, abs=0.06)


def test_magic_pairs_are_those_the_map_leaves_open():
    from evgen.preprocessing.zjets import magic_pairs

    assert magic_pairs(3) == [0, 1, 2] and magic_pairs(2, "map") == [] and magic_pairs(1, "map") == []
    assert magic_pairs(3, "map", "j1") == [2]  # (2, 3) left to the magic transform
    assert magic_pairs(3, "map", "j2") == [1]  # (1, 3)
    assert magic_pairs(3, "map", "j1j2") == []  # both of jet 3's pairs, where they are closed


def test_with_jet3_from_the_midpoint_its_pairs_are_open_only_where_jets_1_and_2_are_close():
    from evgen.preprocessing.zjets import open_pair_mask

    pair_dr = np.array([[0.5, 0.9, 0.6], [1.19, 2.0, 0.8], [1.21, 0.5, 0.9], [3.0, 1.0, 2.5]])
    expected = np.array(
        [[False, True, True], [False, True, True], [False, False, False], [False, False, False]]
    )
    np.testing.assert_array_equal(open_pair_mask(pair_dr, "map", "j1j2"), expected)
    np.testing.assert_array_equal(open_pair_mask(pair_dr, "map", "j1")[:, 2], True)
    np.testing.assert_array_equal(open_pair_mask(pair_dr), True)
    np.testing.assert_array_equal(open_pair_mask(pair_dr[:, :1], "map", "j1j2"), False)  # 2 jets
    assert open_pair_mask(np.zeros((4, 0)), "map", "j1j2").shape == (4, 0)  # 1 jet


@pytest.mark.parametrize("jet3_reference", ["j1", "j2", "j1j2"])
def test_zjets_preprocessing_with_the_separation_map_round_trips_and_generates_separated_jets(jet3_reference):
    from evgen import plugins
    from evgen.io import read_events

    events = read_events(plugins.get_dataset("zjets-small").path)
    pre = ZJetsPreprocessing(
        coordinates="physics",
        gaussianize=True,
        balance="polar",
        jet_eta="relative",
        jet_separation="map",
        jet3_reference=jet3_reference,
        separation_equalize=np.pi if jet3_reference == "j1j2" else 0.0,
    ).fit(events)
    mapped = {"j1": [0, 1], "j2": [0, 2], "j1j2": [0, 1, 2]}[jet3_reference]  # (1,2) and (1,3) or (2,3)
    for n, (y, where) in pre.encode(events).items():
        f = pre.features(n)
        x = f.to_features(events[where])
        np.testing.assert_allclose(pre.inverse(y, n), x, rtol=1e-9, atol=1e-8)
        if n == 1:
            continue
        z = np.random.default_rng(n).normal(size=(20_000, y.shape[1])) * 1.5  # any network output
        pair_dr = f.jet_pair_delta_r(pre.inverse(z, n))
        closed = ~open_pair_mask(pair_dr, "map", jet3_reference)
        assert np.array_equal(closed[:, 0], np.ones(len(z), bool))
        assert pair_dr[closed].min() >= 0.4
        assert set(mapped) & set(range(pair_dr.shape[1])) == {
            p for p in range(pair_dr.shape[1]) if closed[:, p].any()
        }
    smooth = ZJetsPreprocessing(
        coordinates="physics", jet_eta="relative", jet_separation="map", jet3_reference=jet3_reference
    ).fit(events)
    x = smooth.features(3).to_features(events[n_jets(events) == 3][:4])
    np.testing.assert_allclose(
        smooth.forward(x, 3)[1], _numerical_log_det(smooth._chain(3), x), rtol=1e-5, atol=1e-5
    )
    with pytest.raises(ConfigError, match="jet_eta = 'relative'"):
        ZJetsPreprocessing(coordinates="physics", jet_separation="map")
