"""The balance-direction map: harmonics recovered from a sample drawn with known ones, the angle
flattened where the raw one is not, an exact inverse, the Jacobian of its formula, a positive
density for any coefficients, the cut along the jet fixed, and the step in the Z+jets chain."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evgen import plugins
from evgen.errors import ConfigError, InputError
from evgen.io import read_events
from evgen.preprocessing import ZJetsPreprocessing
from evgen.preprocessing.base import Chain
from evgen.preprocessing.recoil import BalanceHarmonics, balance_angle

# columns of the synthetic matrices: B_par, B_perp, p_T,j1
STEP = dict(balance=[0, 1], jet_pt=2)


def _true_harmonics(r: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Out-of-cone-like: a strong first harmonic near the jet threshold that turns over at large |B|."""
    near = np.exp(-(p - 20.0) / 8.0)
    rho = r / (r + 15.0)
    a1 = 0.1 + 0.5 * near * rho * (1.0 - 1.3 * rho**3)
    a2 = -0.2 * near * rho**2
    b1 = 0.05 * rho
    return np.stack([a1, b1, a2, np.zeros_like(r)], axis=1)


def _density(psi: np.ndarray, c: np.ndarray) -> np.ndarray:
    return (
        1
        + c[:, 0] * np.cos(psi)
        + c[:, 1] * np.sin(psi)
        + c[:, 2] * np.cos(2 * psi)
        + c[:, 3] * np.sin(2 * psi)
    )


def _draw_angles(c: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Balance angles drawn from the harmonics ``c`` (accept–reject under g ≤ 2)."""
    psi = np.empty(len(c))
    todo = np.arange(len(c))
    while len(todo):
        trial = rng.uniform(-np.pi, np.pi, len(todo))
        keep = rng.uniform(0, 2, len(todo)) < _density(trial, c[todo])
        psi[todo[keep]] = trial[keep]
        todo = todo[~keep]
    return psi


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows with a known |B| and p_T,j1 and a balance angle drawn from the harmonics above."""
    rng = np.random.default_rng(seed)
    r = rng.gamma(2.0, 6.0, n)
    p = 20.0 + rng.exponential(20.0, n)
    c = _true_harmonics(r, p)
    psi = _draw_angles(c, rng)
    x = np.stack([-r * np.cos(psi), -r * np.sin(psi), p], axis=1)  # ψ = 0: opposite the jet
    return x, c


def test_the_angle_is_measured_from_the_direction_opposite_the_jet():
    np.testing.assert_allclose(
        balance_angle(np.array([-3.0, 0.0, 2.0]), np.array([0.0, 1.0, 1e-300])), [0, -np.pi / 2, -np.pi]
    )


def test_fit_recovers_known_harmonics_and_the_map_flattens_the_angle():
    x, c = _synthetic(200_000, seed=1)
    step = BalanceHarmonics(**STEP).fit(x)
    rms = np.sqrt(np.mean((step.harmonics(x) - c) ** 2, axis=0))
    assert rms.max() < 0.03, rms
    test, _ = _synthetic(100_000, seed=2)  # independent rows
    y, _ = step.forward(test)
    r = np.hypot(test[:, 0], test[:, 1])
    near = (test[:, 2] < 25) & (r > 8) & (r < 30)
    uniform = stats.uniform(-np.pi, 2 * np.pi).cdf
    # where a_1 ≈ 0.4 the raw angle is far from flat, the mapped one is flat
    assert stats.kstest(balance_angle(test[near, 0], test[near, 1]), uniform).pvalue < 1e-6
    for sel in (near, test[:, 2] > 40, r > 30):
        assert stats.kstest(balance_angle(y[sel, 0], y[sel, 1]), uniform).pvalue > 1e-3
    np.testing.assert_allclose(np.hypot(y[:, 0], y[:, 1]), r, rtol=1e-12)  # |B| kept
    np.testing.assert_array_equal(y[:, 2], test[:, 2])


@pytest.mark.parametrize("extra", ["jet_dphi", "dimuon_bw", "jet_mass"])
def test_jet_2_the_dimuon_mass_and_the_jet_mass_enter_the_harmonics(extra):
    """The balance leans to jet 2's side, along the jet below the Z peak (a lost final-state
    photon) and for narrow jets: each only through its own column."""
    rng = np.random.default_rng(6)
    n = 120_000
    r = rng.gamma(2.0, 6.0, n)
    p = 20.0 + rng.exponential(20.0, n)
    c = np.zeros((n, 4))
    if extra == "jet_dphi":
        v = rng.uniform(-np.pi, np.pi, n)
        c[:, 1], c[:, 3] = 0.4 * np.sin(v), -0.2 * np.sin(2 * v)
        strong = v > 1.0
    elif extra == "dimuon_bw":
        v = rng.uniform(-1.5, 1.5, n)  # arctan((M² − m_Z²)/(m_Z Γ_Z))
        c[:, 0] = -0.5 * (0.5 * (1 - np.sin(v))) ** 2
        strong = v < -1.0
    else:
        v = p * rng.uniform(0.0, 0.3, n)  # jet mass
        c[:, 0] = -0.5 * np.exp(-v / (0.05 * p))
        strong = v < 0.02 * p
    psi = _draw_angles(c, rng)
    x = np.stack([-r * np.cos(psi), -r * np.sin(psi), p, v], axis=1)
    train, test, strong = x[: n // 2], x[n // 2 :], strong[n // 2 :]
    uniform = stats.uniform(-np.pi, 2 * np.pi).cdf
    with_column = BalanceHarmonics(**STEP, **{extra: 3}).fit(train)
    without = BalanceHarmonics(**STEP).fit(train)
    # 36–48 basis functions fitted on 60k rows: ~0.04 of statistical noise, against amplitudes of 0.2–0.5
    assert np.sqrt(np.mean((with_column.harmonics(test) - c[n // 2 :]) ** 2)) < 0.07
    y, _ = with_column.forward(test)
    assert stats.kstest(balance_angle(y[strong, 0], y[strong, 1]), uniform).pvalue > 1e-3
    y, _ = without.forward(test)
    assert stats.kstest(balance_angle(y[strong, 0], y[strong, 1]), uniform).pvalue < 1e-6
    np.testing.assert_allclose(with_column.inverse(with_column.forward(test)[0]), test, atol=1e-10)


def _recoil_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two jets nearly back to back; the balance points away from their vector sum H⃗ with
    ``a = 0.5 exp(−|H|/20)``: rows ``B_par, B_perp, p_T,j1, p_T,j2, Δφ_2``, the harmonics, |H|."""
    rng = np.random.default_rng(seed)
    r = rng.gamma(2.0, 6.0, n)
    p1 = 20.0 + rng.exponential(20.0, n)
    p2 = p1 * rng.uniform(0.4, 1.0, n)
    dphi = np.mod(np.pi + rng.normal(0.0, 0.6, n) + np.pi, 2 * np.pi) - np.pi
    hx, hy = p1 + p2 * np.cos(dphi), p2 * np.sin(dphi)
    psi_h = balance_angle(hx, hy)
    a = -0.5 * np.exp(-np.hypot(hx, hy) / 20.0)  # 1 + a cos(ψ − ψ_H): away from H⃗
    c = np.stack([a * np.cos(psi_h), a * np.sin(psi_h), np.zeros(n), np.zeros(n)], axis=1)
    psi = _draw_angles(c, rng)
    x = np.stack([-r * np.cos(psi), -r * np.sin(psi), p1, p2, dphi], axis=1)
    return x, c, np.hypot(hx, hy)


def test_the_jets_vector_sum_enters_the_harmonics_through_the_recoil_terms(finite_difference_log_det):
    """Jet 2's azimuth alone does not say where H⃗ points when the jets nearly cancel; the
    recoil terms do, and then flatten the angle there."""
    x, _, _ = _recoil_sample(160_000, seed=7)
    test, c_test, h = _recoil_sample(80_000, seed=8)
    recoil = BalanceHarmonics(**STEP, recoil=[[3, 4]]).fit(x)
    azimuth_only = BalanceHarmonics(**STEP, jet_dphi=4).fit(x)
    strong = h < 15
    error = {
        s: np.sqrt(np.mean((s.harmonics(test)[strong] - c_test[strong]) ** 2)) for s in (recoil, azimuth_only)
    }
    assert error[recoil] < 0.06 < error[azimuth_only], error
    psi_h = np.arctan2(c_test[strong, 1], c_test[strong, 0])  # the direction the balance avoids

    def away_from_h(step: BalanceHarmonics) -> float:
        """``2⟨cos(ψ' − ψ_H)⟩`` of the mapped angle (statistical error 0.008 on these ~31k rows)."""
        y, _ = step.forward(test[strong])
        return 2 * np.mean(np.cos(balance_angle(y[:, 0], y[:, 1]) - psi_h))

    raw = 2 * np.mean(np.cos(balance_angle(test[strong, 0], test[strong, 1]) - psi_h))
    assert raw > 0.3  # |a| ≥ 0.24 on every row
    # measured 0.02 (the basis has exp(−|H|/30), the truth exp(−|H|/20)) and 0.12
    assert abs(away_from_h(recoil)) < 0.04 < 0.08 < away_from_h(azimuth_only)
    y, log_det = recoil.forward(test)
    np.testing.assert_allclose(recoil.inverse(y), test, atol=1e-10)
    np.testing.assert_allclose(finite_difference_log_det(recoil, test[:50]), log_det[:50], atol=1e-5)


def test_inverse_is_exact_and_log_det_is_the_jacobian(finite_difference_log_det):
    x, _ = _synthetic(20_000, seed=3)
    step = BalanceHarmonics(**STEP).fit(x)
    y, log_det = step.forward(x)
    np.testing.assert_allclose(step.inverse(y), x, rtol=0, atol=1e-10)
    np.testing.assert_allclose(finite_difference_log_det(step, x[:50]), log_det[:50], atol=1e-5)
    psi = balance_angle(x[:, 0], x[:, 1])
    np.testing.assert_allclose(log_det, np.log(_density(psi, step.harmonics(x))), rtol=1e-12)


def test_unphysical_harmonics_are_shrunk_and_the_edges_stay_finite():
    x, _ = _synthetic(5_000, seed=4)
    step = BalanceHarmonics(**STEP).fit(x)
    step.coefficients = np.zeros_like(step.coefficients)
    step.coefficients[:, 0] = [3.0, -2.0, 1.5, 4.0]  # constants far outside a density
    c = step.harmonics(x)
    grid = np.linspace(-np.pi, np.pi, 721)
    assert min(_density(np.full(len(c), a), c).min() for a in grid) >= 0.1 - 1e-12
    edges = np.array([[0.0, 0.0, 20.0], [5.0, 0.0, 20.0], [-5.0, 0.0, 300.0], [5.0, -1e-300, 1e4]])
    y, log_det = step.forward(edges)
    assert np.isfinite(y).all() and np.isfinite(log_det).all()
    np.testing.assert_allclose(y[1], edges[1], atol=1e-12)  # along the jet (ψ = ±π): fixed
    np.testing.assert_allclose(step.inverse(y), edges, atol=1e-10)
    y, _ = step.forward(x)
    np.testing.assert_allclose(step.inverse(y), x, atol=1e-10)


def test_state_round_trip_and_bad_input():
    x, _ = _synthetic(5_000, seed=5)
    step = BalanceHarmonics(**STEP).fit(x)
    spec, arrays = Chain([step]).state()
    again = Chain.from_state(spec, arrays)
    np.testing.assert_array_equal(again.forward(x)[0], step.forward(x)[0])
    with pytest.raises(InputError, match="at least"):
        BalanceHarmonics(**STEP).fit(x[:10])
    with pytest.raises(InputError, match="column 2"):
        step.forward(x[:, :2])
    with pytest.raises(ConfigError, match="balance"):
        BalanceHarmonics(balance=[0], jet_pt=2)
    with pytest.raises(ConfigError, match="positive"):
        BalanceHarmonics(**STEP, radius_scale=0.0)
    with pytest.raises(ConfigError, match="column pairs"):
        BalanceHarmonics(**STEP, recoil=[[3]])
    with pytest.raises(ConfigError, match="recoil_scale"):
        BalanceHarmonics(**STEP, recoil=[[3, 4]], recoil_scale=-1.0)
    with pytest.raises(InputError, match="column 4"):
        BalanceHarmonics(**STEP, recoil=[[3, 4]]).fit(np.zeros((1000, 4)))


def test_the_option_in_the_zjets_chain():
    events = read_events(plugins.get_dataset("zjets-small").path)
    options = dict(
        coordinates="physics",
        gaussianize=True,
        balance="polar",
        jet_eta="relative",
        angular_coefficients=True,
        balance_harmonics=True,
    )
    pre = ZJetsPreprocessing(**options).fit(events)
    for n, (y, where) in pre.encode(events).items():
        x = pre.features(n).to_features(events[where])
        np.testing.assert_allclose(pre.inverse(y, n), x, rtol=1e-9, atol=1e-8)
        kinds = [s.kind for s in pre.chains[n].steps]
        assert kinds[:2] == ["angular-coefficients", "balance-harmonics"]  # q_T read before the balance moves
        names = pre.features(n).names
        step = pre.chains[n].steps[1]
        assert step.jet_dphi == (names.index("j2_dphi") if n > 1 else -1)
        assert (step.dimuon_bw, step.jet_mass) == (names.index("m_bw"), names.index("j1_mass"))
        assert step.recoil == []
    assert ZJetsPreprocessing(**options).params()["balance_harmonics"] is True
    recoil = ZJetsPreprocessing(**options, balance_recoil=True).fit(events)
    for n in (1, 2, 3):
        names = recoil.features(n).names
        expected = [[names.index(f"j{k}_pt"), names.index(f"j{k}_dphi")] for k in range(2, n + 1)]
        assert recoil.chains[n].steps[1].recoil == expected
    for n, (y, where) in recoil.encode(events).items():
        x = recoil.features(n).to_features(events[where])
        np.testing.assert_allclose(recoil.inverse(y, n), x, rtol=1e-9, atol=1e-8)
    assert recoil.params()["balance_recoil"] is True
    with pytest.raises(ConfigError, match="balance_recoil needs balance_harmonics"):
        ZJetsPreprocessing(**{**options, "balance_harmonics": False}, balance_recoil=True)
    with pytest.raises(ConfigError, match="balance_harmonics needs coordinates = 'physics'"):
        ZJetsPreprocessing(balance_harmonics=True)
