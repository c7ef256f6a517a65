"""Physics coordinates of Z+jets events: exact round trips, coordinates that mean what they say,
the Jacobian against finite differences and autograd-free references, and finite values at the edges."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import vector

from evgen import plugins
from evgen.events import n_jets
from evgen.io import read_events
from evgen.physics.observables import dimuon_mass, sum_pt
from evgen.preprocessing import ZJetsPreprocessing
from evgen.preprocessing.resonance import (
    DECAY_FRAMES,
    Z_MASS,
    Z_WIDTH,
    breit_wigner_inverse,
    breit_wigner_log_derivative,
    breit_wigner_map,
    massive_four_vector,
    rest_frame_angles,
    two_body_decay,
)
from evgen.preprocessing.zjets_physics import (
    ZJetsPhysicsFeatures,
    muon_labels,
    particles_from_physics,
    physics_from_particles,
    physics_log_jacobian,
)

MUON_MASS = 0.1056584


@pytest.fixture(scope="module")
def shipped() -> ak.Array:
    return read_events(plugins.get_dataset("zjets-small").path)


def _by_multiplicity(events: ak.Array):
    counts = n_jets(events)
    for n in (1, 2, 3):
        yield n, events[counts == n]


def test_round_trip_on_the_shipped_sample_is_exact(shipped):
    for n, events in _by_multiplicity(shipped):
        f = ZJetsPhysicsFeatures(n, MUON_MASS)
        back = f.to_events(f.to_features(events), phi_ref=f.particles.reference_phi(events))
        for coll, fields in (("Muon", ("pt", "eta")), ("Jet", ("pt", "eta", "mass"))):
            for field in fields:
                a = ak.to_numpy(ak.flatten(events[coll][field])).astype(np.float64)
                b = ak.to_numpy(ak.flatten(back[coll][field]))
                np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9, err_msg=f"{n} jets {coll}.{field}")
            dphi = ak.to_numpy(ak.flatten(back[coll].phi - events[coll].phi))
            assert np.abs(np.mod(dphi + np.pi, 2 * np.pi) - np.pi).max() < 1e-9
        assert ak.all(back.Muon.charge == events.Muon.charge)


def test_decoded_mass_and_balance_equal_their_coordinates(shipped):
    for n, events in _by_multiplicity(shipped):
        f = ZJetsPhysicsFeatures(n, MUON_MASS)
        x = f.to_features(events)
        rng = np.random.default_rng(n)
        # move the mass (staying above 5 GeV) and the balance: decoding must follow
        x[:, 0] = np.clip(x[:, 0] + rng.normal(0, 0.05, len(x)), breit_wigner_map(5.0), breit_wigner_map(1e3))
        x[:, 4:6] += rng.normal(0, 3.0, (len(x), 2))
        decoded = f.to_events(x, rng=rng)
        np.testing.assert_allclose(dimuon_mass(decoded), breit_wigner_inverse(x[:, 0]), rtol=1e-6)
        np.testing.assert_allclose(sum_pt(decoded), np.hypot(x[:, 4], x[:, 5]), rtol=1e-6, atol=1e-4)


def _collins_soper_cos_theta(p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """cos θ of ``p1`` in the Collins–Soper frame (no sign flip with the pair's p_z), massless formula:
    2 (p1⁺ p2⁻ − p1⁻ p2⁺) / (M √(M² + Q_T²)), p± = (E ± p_z)/√2 (Collins & Soper 1977)."""
    plus = lambda p: (p[:, 0] + p[:, 3]) / np.sqrt(2)  # noqa: E731
    minus = lambda p: (p[:, 0] - p[:, 3]) / np.sqrt(2)  # noqa: E731
    q = p1 + p2
    m2, qt2 = q[:, 0] ** 2 - (q[:, 1:] ** 2).sum(1), q[:, 1] ** 2 + q[:, 2] ** 2
    return 2 * (plus(p1) * minus(p2) - minus(p1) * plus(p2)) / np.sqrt(m2 * (m2 + qt2))


def test_coordinates_match_vector_on_the_shipped_sample(shipped):
    events = shipped[n_jets(shipped) == 2]
    x = ZJetsPhysicsFeatures(2, MUON_MASS, frame="boost").to_features(events)
    mu = [
        vector.array(
            {f: ak.to_numpy(events.Muon[f][:, i]).astype(np.float64) for f in ("pt", "eta", "phi", "mass")}
        )
        for i in (0, 1)
    ]
    z = mu[0] + mu[1]
    np.testing.assert_allclose(x[:, 0], breit_wigner_map(z.mass), atol=1e-6)
    np.testing.assert_allclose(x[:, 1], z.rapidity, atol=1e-6)
    # the negative muon's polar angle in the dimuon rest frame, by vector's own boost
    first_negative = ak.to_numpy(events.Muon.charge[:, 0]) < 0
    star = [m.boostCM_of_p4(z) for m in mu]
    cos_negative = np.where(first_negative, np.cos(star[0].theta), np.cos(star[1].theta))
    np.testing.assert_allclose(x[:, 2], cos_negative, atol=1e-6)
    np.testing.assert_allclose(np.hypot(x[:, 4], x[:, 5]), sum_pt(events), rtol=1e-4, atol=1e-3)
    # the default frame's polar angle is the Collins–Soper angle (the formula is massless: up to ~1e-4 for soft muons)
    p = [massive_four_vector(m.pt, m.eta, m.phi, MUON_MASS) for m in mu]
    negative, positive = (
        np.where(first_negative[:, None], p[0], p[1]),
        np.where(first_negative[:, None], p[1], p[0]),
    )
    cs = ZJetsPhysicsFeatures(2, MUON_MASS).to_features(events)
    np.testing.assert_allclose(cs[:, 2], _collins_soper_cos_theta(negative, positive), atol=1e-3)
    np.testing.assert_allclose(np.delete(cs, [2, 3], axis=1), np.delete(x, [2, 3], axis=1))


def _finite_difference_log_det(
    xp: np.ndarray, label: np.ndarray, n: int, frame: str, h: float = 1e-6
) -> np.ndarray:
    out = []
    for row, lab in zip(xp, label, strict=True):
        jac = np.empty((len(row), len(row)))
        for j in range(len(row)):
            up, down = row.copy(), row.copy()
            up[j] += h
            down[j] -= h
            diff = physics_from_particles(up[None], lab[None], n, MUON_MASS, frame)[0]
            diff -= physics_from_particles(down[None], lab[None], n, MUON_MASS, frame)[0]
            diff[3] = np.angle(np.exp(1j * diff[3]))  # φ* wraps
            jac[:, j] = diff / (2 * h)
        out.append(np.linalg.slogdet(jac)[1])
    return np.array(out)


@pytest.mark.parametrize("frame", DECAY_FRAMES)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_log_jacobian_matches_finite_differences(shipped, n, frame):
    # the rest frame is a Q-dependent rotation: the Jacobian must not depend on it
    events = shipped[n_jets(shipped) == n][:40]
    f = ZJetsPhysicsFeatures(n, MUON_MASS, frame=frame)
    xp = f.particles.to_features(events)
    label, _ = muon_labels(events)
    np.testing.assert_allclose(
        physics_log_jacobian(xp, MUON_MASS), _finite_difference_log_det(xp, label, n, frame), atol=2e-4
    )
    np.testing.assert_allclose(f.log_jacobian(events), physics_log_jacobian(xp, MUON_MASS))


def test_breit_wigner_map_inverse_and_derivative():
    m = np.array([0.3, 10.0, 50.0, 80.0, Z_MASS, 100.0, 500.0])
    u = breit_wigner_map(m)
    assert np.all(np.diff(u) > 0) and np.all(np.abs(u) < np.pi / 2)
    np.testing.assert_allclose(breit_wigner_inverse(u), m, rtol=1e-9)
    h = 1e-5 * m
    numeric = (breit_wigner_map(m + h) - breit_wigner_map(m - h)) / (2 * h)
    np.testing.assert_allclose(breit_wigner_log_derivative(m), np.log(numeric), atol=1e-5)
    # a Breit–Wigner line shape is flat in u: equal-u bins hold equal probability
    rng = np.random.default_rng(0)
    bw = Z_MASS + 0.5 * Z_WIDTH * np.tan(np.pi * (rng.uniform(size=200_000) - 0.5))
    bw = bw[bw > 0]
    counts, _ = np.histogram(breit_wigner_map(bw), bins=10, range=(-1.4, 1.4))
    assert np.std(counts) / np.mean(counts) < 0.05


@pytest.mark.parametrize("frame", DECAY_FRAMES)
def test_decay_and_angles_agree_with_vector(frame):
    rng = np.random.default_rng(3)
    n = 500
    q4 = massive_four_vector(rng.exponential(30, n), rng.normal(0, 2, n), rng.uniform(-3, 3, n), 91.0)
    cos, phi = rng.uniform(-1, 1, n), rng.uniform(-np.pi, np.pi, n)
    a, b = two_body_decay(q4, MUON_MASS, cos, phi, frame)
    np.testing.assert_allclose(a + b, q4, atol=1e-9)
    for p in (a, b):
        np.testing.assert_allclose(p[:, 0] ** 2 - (p[:, 1:] ** 2).sum(1), MUON_MASS**2, atol=1e-6)
    c2, p2 = rest_frame_angles(a, q4, frame)
    np.testing.assert_allclose(c2, cos, atol=1e-9)
    np.testing.assert_allclose(np.cos(p2 - phi), 1.0, atol=1e-9)
    lv = lambda p: vector.array({"E": p[:, 0], "px": p[:, 1], "py": p[:, 2], "pz": p[:, 3]})  # noqa: E731
    pair = lv(q4)
    if frame == "boost":
        star = lv(a).boostCM_of_p4(pair)
    else:  # Collins–Soper: along the beam to zero p_z, then along Q_T to rest
        star = lv(a).boostZ(beta=-pair.pz / pair.E).boostCM_of_p4(pair.boostZ(beta=-pair.pz / pair.E))
        np.testing.assert_allclose(_collins_soper_cos_theta(a, b), cos, atol=1e-5)
    azimuth = np.arctan2(star.py, star.px) - (
        np.arctan2(q4[:, 2], q4[:, 1]) if frame == "collins-soper" else 0
    )
    np.testing.assert_allclose(np.cos(star.theta), cos, atol=1e-6)
    np.testing.assert_allclose(np.cos(azimuth - phi), 1.0, atol=1e-6)


def test_edges_stay_finite():
    # hand-made events at the edges of physics space: cos θ* = ±1, φ* = ±π, Δφ_jj = ±π,
    # the dimuon mass at threshold and far above the peak, a zero balance
    edges = np.array(
        [
            [
                breit_wigner_map(2 * MUON_MASS),
                0.0,
                1.0,
                np.pi,
                0.0,
                0.0,
                40.0,
                0.5,
                5.0,
                30.0,
                -1.0,
                np.pi,
                2.0,
            ],
            [
                breit_wigner_map(2 * MUON_MASS + 1e-9),
                2.0,
                -1.0,
                -np.pi,
                5.0,
                -5.0,
                25.0,
                -4.5,
                0.0,
                21.0,
                4.5,
                -np.pi,
                0.0,
            ],
            [np.pi / 2 - 1e-9, -3.0, 0.0, 0.0, -200.0, 300.0, 500.0, 0.0, 60.0, 400.0, 0.1, 1e-12, 50.0],
            [
                breit_wigner_map(Z_MASS),
                0.0,
                1.0 - 1e-15,
                3.14159,
                1e-9,
                0.0,
                20.0 + 1e-6,
                0.0,
                1.0,
                20.0 + 1e-6,
                0.0,
                np.pi / 2,
                1.0,
            ],
        ]
    )
    f = ZJetsPhysicsFeatures(2, MUON_MASS)
    events = f.to_events(edges, phi_ref=np.zeros(len(edges)))
    for coll in ("Muon", "Jet"):
        for field in ("pt", "eta", "phi"):
            assert np.all(np.isfinite(ak.to_numpy(ak.flatten(events[coll][field])))), (coll, field)
    again = f.to_features(events)
    assert np.all(np.isfinite(again)) and np.all(np.isfinite(f.log_jacobian(events)))
    np.testing.assert_allclose(again[2:, 4:], edges[2:, 4:], atol=1e-6)  # away from threshold: exact
    # through the fitted preprocessing as well
    toy = plugins.get_dataset("zjets-small")
    pre = ZJetsPreprocessing(coordinates="physics").fit(read_events(toy.path, entry_stop=6000))
    y, log_det = pre.forward(again, 2)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(log_det))
    assert np.all(np.isfinite(pre.decode_features(y, 2)))


def test_samples_without_charge_still_work(shipped):
    events = shipped[n_jets(shipped) == 1][:2000]
    uncharged = ak.with_field(events, ak.without_field(events.Muon, "charge"), "Muon")
    pre = ZJetsPreprocessing(coordinates="physics").fit(shipped)
    assert pre.charged
    f = ZJetsPhysicsFeatures(1, MUON_MASS, charged=False)
    x = f.to_features(uncharged)
    np.testing.assert_array_equal(x, f.to_features(uncharged))  # the random labelling is seeded
    back = f.to_events(x, phi_ref=f.particles.reference_phi(uncharged))
    assert "charge" not in back.Muon.fields
    np.testing.assert_allclose(
        ak.to_numpy(ak.flatten(back.Muon.pt)), ak.to_numpy(ak.flatten(events.Muon.pt)), rtol=1e-9
    )
    # random labels make cos θ* symmetric; charges make it the negative muon's (forward–backward asymmetric)
    assert abs(np.mean(x[:, 2])) < 0.05
    fitted = ZJetsPreprocessing(coordinates="physics").fit(
        ak.with_field(shipped, ak.without_field(shipped.Muon, "charge"), "Muon")
    )
    assert not fitted.charged


def test_particles_and_physics_preprocessing_persist(tmp_path, shipped):
    for coordinates in ("particles", "physics"):
        pre = ZJetsPreprocessing(coordinates=coordinates).fit(shipped)
        pre.save(tmp_path / coordinates)
        again = ZJetsPreprocessing.load(tmp_path / coordinates)
        assert again.coordinates == coordinates and again.charged == pre.charged
        for n, (y, where) in pre.encode(shipped[:3000]).items():
            np.testing.assert_array_equal(again.encode(shipped[:3000])[n][0], y)
            x = pre.features(n).to_features(shipped[:3000][where])
            np.testing.assert_allclose(pre.inverse(y, n), x, rtol=1e-9, atol=1e-8)


def test_a_preprocessing_file_without_coordinates_is_the_papers(tmp_path, shipped):
    import json

    pre = ZJetsPreprocessing().fit(shipped)
    pre.save(tmp_path / "old")
    spec = json.loads((tmp_path / "old.json").read_text())
    del spec["params"]["coordinates"], spec["params"]["balance_scale"], spec["charged"]
    del spec["params"]["decay_frame"]
    (tmp_path / "old.json").write_text(json.dumps(spec))
    assert ZJetsPreprocessing.load(tmp_path / "old").coordinates == "particles"


def test_a_physics_file_without_decay_frame_keeps_the_pure_boost(tmp_path, shipped):
    import json

    pre = ZJetsPreprocessing(coordinates="physics", decay_frame="boost").fit(shipped)
    pre.save(tmp_path / "old")
    spec = json.loads((tmp_path / "old.json").read_text())
    del spec["params"]["decay_frame"]
    (tmp_path / "old.json").write_text(json.dumps(spec))
    again = ZJetsPreprocessing.load(tmp_path / "old")
    assert again.decay_frame == "boost"
    for n, (y, _) in pre.encode(shipped[:3000]).items():
        np.testing.assert_array_equal(again.encode(shipped[:3000])[n][0], y)
    assert ZJetsPreprocessing(coordinates="physics").decay_frame == "collins-soper"


def test_labels_follow_the_negative_muon(shipped):
    events = shipped[:500]
    label, decided = muon_labels(events)
    assert decided
    charge = ak.to_numpy(events.Muon.charge)
    assert np.all(charge[np.arange(500), label] == -1)


def test_inverse_of_forward_on_random_physics_points():
    rng = np.random.default_rng(5)
    n = 2000
    xq = np.column_stack(
        [
            breit_wigner_map(rng.uniform(60, 120, n)),
            rng.normal(0, 1.5, n),
            rng.uniform(-1, 1, n),
            rng.uniform(-np.pi, np.pi, n),
            rng.normal(0, 15, (n, 2)),
            20 + rng.exponential(30, n),
            rng.normal(0, 2, n),
            rng.gamma(3, 3, n),
        ]
    )
    xp, label = particles_from_physics(xq, 1, MUON_MASS)
    np.testing.assert_allclose(physics_from_particles(xp, label, 1, MUON_MASS), xq, rtol=1e-7, atol=1e-7)
