"""The angular-coefficient map of the decay angles: coefficients recovered from a sample drawn
with known ones, angles flattened, an exact inverse, the Jacobian of its formula, and a positive
density for any coefficients."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
from scipy import stats

from evgen import plugins
from evgen.errors import ConfigError, InputError
from evgen.events import n_jets
from evgen.io import read_events
from evgen.preprocessing import ZJetsPreprocessing
from evgen.preprocessing.angular import (
    M_Z,
    AngularCoefficients,
    angular_density,
    harmonic_moments,
    harmonic_terms,
)
from evgen.preprocessing.base import Chain
from evgen.preprocessing.zjets_physics import ZJetsPhysicsFeatures

# columns of the synthetic matrices: cos θ, φ, y, B_par, B_perp, p_T,j1
STEP = dict(cos_theta=0, phi=1, rapidity=2, balance=[3, 4], jet_pt=[5], jet_dphi=[-1])


def _true_coefficients(q: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Lam–Tung-like A_0 = A_2 rising with q_T, a rapidity-dependent A_4, small A_1, A_3."""
    t = q * q / (q * q + M_Z * M_Z)
    v = y * y / (1 + y * y)
    a = np.zeros((len(q), 8))
    a[:, 0] = a[:, 2] = 0.9 * t
    a[:, 1] = 0.2 * t
    a[:, 3] = 0.05 + 0.1 * t
    a[:, 4] = 0.15 * v
    return a


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows with a known q_T and y, and decay angles drawn from dσ/dΩ with the coefficients above."""
    rng = np.random.default_rng(seed)
    q = rng.exponential(40.0, n)
    y = rng.normal(0.0, 1.5, n)
    a = _true_coefficients(q, y)
    c = np.empty(n)
    phi = np.empty(n)
    todo = np.arange(n)
    while len(todo):  # accept–reject under 3/(16π)·g ≤ 3/(16π)·4
        cc = rng.uniform(-1, 1, len(todo))
        pp = rng.uniform(-np.pi, np.pi, len(todo))
        keep = rng.uniform(0, 4, len(todo)) < angular_density(cc, pp, a[todo]) * 16 * np.pi / 3
        c[todo[keep]], phi[todo[keep]] = cc[keep], pp[keep]
        todo = todo[~keep]
    alpha = rng.uniform(-np.pi, np.pi, n)
    j1 = 20 + rng.exponential(30.0, n)
    x = np.stack([c, phi, y, j1 + q * np.cos(alpha), q * np.sin(alpha), j1], axis=1)  # q⃗ = B⃗ − p⃗_j1
    return x, a


def test_moments_are_the_coefficients_of_the_density():
    a = np.array([[0.3, 0.1, 0.4, 0.05, 0.12, 0.02, -0.04, 0.03]])
    c, phi = np.meshgrid(np.linspace(-1, 1, 801), np.linspace(-np.pi, np.pi, 801), indexing="ij")
    p = angular_density(c.ravel(), phi.ravel(), np.repeat(a, c.size, axis=0))
    cell = (2 / 800) * (2 * np.pi / 800)
    w = (
        p
        * cell
        * np.where(np.isclose(np.abs(c.ravel()), 1), 0.5, 1)
        * np.where(np.isclose(np.abs(phi.ravel()), np.pi), 0.5, 1)
    )  # the trapezoid rule
    assert w.sum() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(w @ harmonic_moments(c.ravel(), phi.ravel()), a[0], atol=1e-4)
    # the likelihood fit's terms are the same density: g = (1 + c²) + Σ A_i f_i = 16π/3 · dσ/dΩ
    g = 1 + c.ravel() ** 2 + harmonic_terms(c.ravel(), phi.ravel()) @ a[0]
    np.testing.assert_allclose(g, p * 16 * np.pi / 3, rtol=1e-12)


@pytest.mark.parametrize("fit", ["likelihood", "moments"])
def test_fit_recovers_known_coefficients_and_the_map_flattens_the_angles(fit):
    x, a = _synthetic(200_000, seed=1)
    step = AngularCoefficients(**STEP, fit=fit).fit(x)
    fitted = step.angular_coefficients(x)
    rms = np.sqrt(np.mean((fitted - a) ** 2, axis=0))
    assert rms.max() < 0.03, rms
    test, _ = _synthetic(100_000, seed=2)  # independent rows
    y, _ = step.forward(test)
    q = step.dilepton_qt(test)
    hard = q > 60
    # where A_0 = A_2 ≈ 0.3-0.9 the raw angles are far from flat, the mapped ones are flat
    assert stats.kstest(test[hard, 1], stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue < 1e-6
    for sel in (q < 20, (q >= 20) & (q < 60), hard):
        assert stats.kstest(y[sel, 0], stats.uniform(-1, 2).cdf).pvalue > 1e-3
        assert stats.kstest(y[sel, 1], stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 1e-3


def _accepted(x: np.ndarray, pt_min: float = 20.0) -> np.ndarray:
    """A muon-p_T-like acceptance: both leptons of a 90 GeV pair boosted by q⃗_T (along the
    x axis of the rest frame) keep p_T > pt_min, roughly; it cuts the sphere unevenly in q_T."""
    c, phi = x[:, 0], x[:, 1]
    s = np.sqrt(1 - c * c)
    q = np.hypot(x[:, 3] - x[:, 5], x[:, 4])
    px, py = 45 * s * np.cos(phi), 45 * s * np.sin(phi)
    return np.minimum(np.hypot(px + q / 2, py), np.hypot(px - q / 2, py)) > pt_min


def test_under_an_acceptance_the_likelihood_fit_describes_new_rows_better_than_the_moments():
    train, _ = _synthetic(300_000, seed=11)
    test, _ = _synthetic(200_000, seed=12)
    train, test = train[_accepted(train)], test[_accepted(test)]
    assert 0.6 < len(test) / 200_000 < 0.9  # a real cut
    score = {}
    for fit in ("likelihood", "moments"):
        step = AngularCoefficients(**STEP, fit=fit).fit(train)
        # the density the map uses (coefficients made positive), on rows the fit never saw
        score[fit] = np.log(angular_density(test[:, 0], test[:, 1], step.angular_coefficients(test))).mean()
    assert score["likelihood"] > score["moments"] + 1e-3, score
    with pytest.raises(ConfigError, match="fit must be one of"):
        AngularCoefficients(**STEP, fit="least-squares")


def test_a_step_saved_before_the_fit_option_loads_as_fitted_by_moments():
    x, _ = _synthetic(5_000, seed=13)
    step = AngularCoefficients(**STEP).fit(x)
    spec, arrays = Chain([step]).state()
    del spec[0]["params"]["fit"]
    again = Chain.from_state(spec, arrays)
    assert again.steps[0].fit_method == "moments"
    np.testing.assert_array_equal(again.forward(x)[0], step.forward(x)[0])


def test_inverse_is_exact_and_log_det_is_the_jacobian(finite_difference_log_det):
    x, _ = _synthetic(20_000, seed=3)
    step = AngularCoefficients(**STEP).fit(x)
    y, log_det = step.forward(x)
    np.testing.assert_allclose(step.inverse(y), x, rtol=0, atol=1e-12)
    np.testing.assert_allclose(finite_difference_log_det(step, x[:50]), log_det[:50], atol=1e-6)
    # the log-det is the density: log(3/4) + log g = log(4π · dσ/dΩ)
    np.testing.assert_allclose(
        log_det, np.log(4 * np.pi * angular_density(x[:, 0], x[:, 1], step.angular_coefficients(x)))
    )


def test_unphysical_coefficients_are_shrunk_to_a_positive_density():
    x, _ = _synthetic(5_000, seed=4)
    step = AngularCoefficients(**STEP).fit(x)
    step.coefficients = np.zeros_like(step.coefficients)
    step.coefficients[:, 0] = [3.0, -2.0, 5.0, 4.0, -6.0, 2.0, 7.0, -5.0]  # constants far outside physics
    a = step.angular_coefficients(x)
    c, phi = np.meshgrid(np.linspace(-1, 1, 201), np.linspace(-np.pi, np.pi, 201), indexing="ij")
    g = angular_density(np.tile(c.ravel(), 1), phi.ravel(), np.repeat(a[:1], c.size, axis=0))
    assert g.min() > 0
    y, log_det = step.forward(x)
    assert np.isfinite(log_det).all()
    np.testing.assert_allclose(step.inverse(y), x, atol=1e-12)


def test_q_t_from_the_columns_is_the_dimuon_pt_and_the_edges_stay_finite():
    events = read_events(plugins.get_dataset("zjets-small").path)
    for n in (1, 2, 3):
        sel = events[n_jets(events) == n]
        f = ZJetsPhysicsFeatures(n)
        step = AngularCoefficients.for_features(f)
        x = f.to_features(sel)
        mu = sel.Muon
        qt = np.hypot(
            ak.to_numpy(ak.sum(mu.pt * np.cos(mu.phi), axis=1)),
            ak.to_numpy(ak.sum(mu.pt * np.sin(mu.phi), axis=1)),
        )
        np.testing.assert_allclose(step.dilepton_qt(x), qt, rtol=1e-5, atol=1e-3)
        step.fit(x)
        edges = x[:4].copy()
        edges[:, f.names.index("cos_theta")] = [-1.0, 1.0, 0.0, 1.0]
        edges[:, f.names.index("phi_star")] = [np.pi, -np.pi, np.pi, 0.0]
        y, log_det = step.forward(edges)
        assert np.isfinite(y).all() and np.isfinite(log_det).all()
        # at cos θ = ±1 (sin θ = 0) φ is undefined, and a 1e-16 error in c moves it by ~√1e-16
        np.testing.assert_allclose(step.inverse(y), edges, atol=1e-7)


def test_state_round_trip_and_bad_input():
    x, _ = _synthetic(5_000, seed=5)
    step = AngularCoefficients(**STEP).fit(x)
    spec, arrays = Chain([step]).state()
    again = Chain.from_state(spec, arrays)
    np.testing.assert_array_equal(again.forward(x)[0], step.forward(x)[0])
    with pytest.raises(InputError, match="at least"):
        AngularCoefficients(**STEP).fit(x[:10])
    with pytest.raises(InputError, match="column 5"):
        step.forward(x[:, :5])
    with pytest.raises(ConfigError, match="balance"):
        AngularCoefficients(**{**STEP, "balance": [3]})


def test_the_options_in_the_zjets_chain():
    events = read_events(plugins.get_dataset("zjets-small").path)
    options = dict(
        coordinates="physics",
        gaussianize=True,
        balance="polar",
        jet_eta="relative",
        jet_separation="map",
        jet3_reference="j1j2",
        separation_equalize=np.pi,
        jet_eta_bound=5.0,
        angular_coefficients=True,
    )
    pre = ZJetsPreprocessing(**options).fit(events)
    for n, (y, where) in pre.encode(events).items():
        x = pre.features(n).to_features(events[where])
        np.testing.assert_allclose(pre.inverse(y, n), x, rtol=1e-9, atol=1e-8)
        kinds = [s.kind for s in pre.chains[n].steps]
        assert kinds[0] == "angular-coefficients"
        bound = [s for s in pre.chains[n].steps if s.kind == "atanh-scale"][0]
        assert bound.columns == [pre.features(n).names.index("j1_eta")] and bound.scale == 5.0
        z = np.random.default_rng(n).normal(size=(5_000, y.shape[1])) * 3  # any network output
        assert np.abs(pre.inverse(z, n)[:, bound.columns]).max() < 5.0  # inside the acceptance
    with pytest.raises(InputError, match="jet_eta_bound = 4.0"):
        ZJetsPreprocessing(**{**options, "jet_eta_bound": 4.0}).fit(events)
    with pytest.raises(ConfigError, match="angular_coefficients needs coordinates = 'physics'"):
        ZJetsPreprocessing(angular_coefficients=True)
    with pytest.raises(ConfigError, match="jet_eta_bound"):
        ZJetsPreprocessing(jet_eta_bound=-1.0)


def test_newton_inverse_matches_bisection_with_fewer_evaluations():
    from evgen.preprocessing.fourier import bisect_increasing, fourier_cdf_shift, fourier_density

    rng = np.random.default_rng(7)
    n = 20_000
    amplitudes = rng.dirichlet(np.ones(4), n) * 0.9 * rng.choice([-1, 1], (n, 4))  # Σ|·| = 0.9: g ≥ 0.1
    terms = (np.ones(n), *amplitudes.T)
    psi = np.concatenate([rng.uniform(-np.pi, np.pi, n - 4), [-np.pi, np.pi, 0.0, 1e-300]])
    target = psi + fourier_cdf_shift(psi, terms)
    calls = {"bisection": 0, "newton": 0}

    def f(kind):
        def evaluate(p):
            calls[kind] += 1
            return p + fourier_cdf_shift(p, terms)

        return evaluate

    plain = bisect_increasing(f("bisection"), target, -np.pi, np.pi)
    newton = bisect_increasing(
        f("newton"), target, -np.pi, np.pi, derivative=lambda p: fourier_density(p, terms)
    )
    np.testing.assert_allclose(plain, psi, atol=1e-13)
    np.testing.assert_allclose(newton, psi, atol=1e-12)
    assert calls["newton"] <= calls["bisection"] / 2, calls
