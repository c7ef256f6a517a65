"""The calibration of the Z's p_T over the jets': a dip the model filled restored on independent
draws, an exact inverse, the Jacobian of its formula, the jets and q⃗_T's direction kept, the
step in the Z+jets chain, and bad input named."""

from __future__ import annotations

import numpy as np
import pytest

from evgen import plugins
from evgen.errors import ConfigError, InputError
from evgen.events import n_jets
from evgen.io import read_events
from evgen.preprocessing import ZJetsPreprocessing
from evgen.preprocessing.base import Chain
from evgen.preprocessing.recoil import jet_sum
from evgen.preprocessing.recoil_calibration import RecoilCalibration, recoil_ratio

# columns of the synthetic rows: B_par, B_perp, p_T,j1, p_T,j2, Δφ_2
STEP = dict(balance=[0, 1], jet_pt=2, further=[[3, 4]])


def _rows(n: int, seed: int, dip: float) -> np.ndarray:
    """Two-jet-like rows: q_T/|H| from a Gamma density, ~ t^(dip) near 0 (dip 3: Sudakov-like,
    dip 1: the filled version a smooth model draws), in a random direction around H⃗."""
    rng = np.random.default_rng(seed)
    x = np.empty((n, 5))
    x[:, 2] = 20.0 + rng.exponential(25.0, n)
    x[:, 3] = 20.0 + (x[:, 2] - 20.0) * rng.uniform(0, 1, n)
    x[:, 4] = rng.uniform(-np.pi, np.pi, n)
    hx, hy = jet_sum(x, 2, [[3, 4]])
    t = rng.gamma(dip + 1.0, 1.0 / (dip + 1.0), n)
    angle = rng.uniform(-np.pi, np.pi, n)
    h = np.hypot(hx, hy)
    x[:, 0] = hx + t * h * np.cos(angle)
    x[:, 1] = hy + t * h * np.sin(angle)
    return x


def _fraction_below(x: np.ndarray, cut: float) -> float:
    return float(np.mean(recoil_ratio(x, [0, 1], 2, [[3, 4]]) < cut))


def test_the_filled_dip_is_restored_on_draws_the_fit_never_saw():
    data, model = _rows(100_000, 0, dip=3.0), _rows(100_000, 1, dip=1.0)
    step = RecoilCalibration(**STEP).fit_pair(data, model)
    fresh_model, fresh_data = _rows(100_000, 2, dip=1.0), _rows(100_000, 3, dip=3.0)
    calibrated = step.inverse(fresh_model.copy())
    for cut in (0.1, 0.3, 0.6, 1.0, 1.5):
        truth = _fraction_below(fresh_data, cut)
        assert abs(_fraction_below(calibrated, cut) - truth) < 0.15 * truth + 0.002
    assert _fraction_below(fresh_model, 0.3) > 3 * _fraction_below(fresh_data, 0.3)  # the dip filled before
    # the jets and q⃗_T's direction are kept
    np.testing.assert_array_equal(calibrated[:, 2:], fresh_model[:, 2:])
    hx, hy = jet_sum(fresh_model, 2, [[3, 4]])
    before = np.arctan2(fresh_model[:, 1] - hy, fresh_model[:, 0] - hx)
    after = np.arctan2(calibrated[:, 1] - hy, calibrated[:, 0] - hx)
    np.testing.assert_allclose(np.angle(np.exp(1j * (after - before))), 0.0, atol=1e-9)


def test_inverse_and_the_jacobian_of_its_formula(finite_difference_log_det):
    step = RecoilCalibration(**STEP, bins=16).fit_pair(_rows(20_000, 0, 3.0), _rows(20_000, 1, 1.0))
    x = _rows(300, 5, 2.0)
    y, log_det = step.forward(x)
    np.testing.assert_allclose(step.inverse(y), x, rtol=1e-10, atol=1e-9)
    # the jets are untouched, so the full Jacobian is triangular: its determinant is the balance block's
    np.testing.assert_allclose(log_det, finite_difference_log_det(step, x, columns=range(5)), atol=2e-5)
    np.testing.assert_allclose(log_det, finite_difference_log_det(step, x), atol=2e-5)


def test_in_the_zjets_chain_the_decoded_dimuon_pt_is_the_mapped_one():
    events = read_events(plugins.get_dataset("zjets-small").path)
    options = dict(
        coordinates="physics",
        gaussianize=True,
        balance="polar",
        jet_eta="relative",
        jet_separation="map",
        angular_coefficients=True,
        balance_harmonics=True,
    )
    pre = ZJetsPreprocessing(**options).fit(events)
    n = 1
    chain = pre.chains[n]
    x = pre.features(n).to_features(events[n_jets(events) == n])
    # a model that put every Z 10 % harder than the data
    step = RecoilCalibration.for_features(pre.features(n), bins=8)
    balance = [pre.features(n).names.index(c) for c in ("balance_par", "balance_perp")]
    jet = pre.features(n).names.index("j1_pt")
    harder = x.copy()
    harder[:, balance[0]] = x[:, jet] + 1.1 * (x[:, balance[0]] - x[:, jet])
    harder[:, balance[1]] *= 1.1
    step.fit_pair(x, harder)
    chain.steps.insert(1, step)
    y, _ = pre.forward(harder, n)
    back = pre.inverse(y, n)
    np.testing.assert_allclose(back, harder, rtol=1e-8, atol=1e-7)
    # generation (the inverse of the step) puts the harder Z bosons back onto the data's q_T
    decoded = step.inverse(harder.copy())
    np.testing.assert_allclose(
        recoil_ratio(decoded, balance, jet, []), recoil_ratio(x, balance, jet, []), rtol=0.02
    )
    again = Chain.from_state(*Chain([step]).state())
    np.testing.assert_array_equal(again.forward(harder)[0], Chain([step]).forward(harder)[0])


def test_bad_input_is_named():
    with pytest.raises(ConfigError, match="call fit_pair"):
        RecoilCalibration(**STEP).fit(_rows(100, 0, 1.0))
    with pytest.raises(ConfigError, match="balance needs its two columns"):
        RecoilCalibration(balance=[0], jet_pt=2)
    with pytest.raises(ConfigError, match="bins must be at least 2"):
        RecoilCalibration(**STEP, bins=1)
    with pytest.raises(InputError, match="column 4 does not exist in a 3-column matrix"):
        RecoilCalibration(**STEP).fit_pair(np.ones((10, 3)), np.ones((10, 3)))
    balanced = _rows(100, 0, 1.0)
    balanced[0, :2] = np.concatenate(jet_sum(balanced[:1], 2, [[3, 4]]))  # a Z with p_T exactly 0
    with pytest.raises(InputError, match="data rows with the Z's p_T or the jets' vector sum exactly 0"):
        RecoilCalibration(**STEP).fit_pair(balanced, _rows(100, 1, 1.0))
    with pytest.raises(RuntimeError, match="not fitted"):
        RecoilCalibration(**STEP).inverse(_rows(10, 0, 1.0))


def _rows_by_jets(n: int, seed: int, dip_of_h) -> np.ndarray:  # noqa: ANN001
    """As :func:`_rows`, with the dip's power a function of |H⃗|."""
    rng = np.random.default_rng(seed)
    x = _rows(n, seed, 1.0)
    hx, hy = jet_sum(x, 2, [[3, 4]])
    h = np.hypot(hx, hy)
    dip = dip_of_h(h)
    t = rng.gamma(dip + 1.0, 1.0 / (dip + 1.0))
    angle = rng.uniform(-np.pi, np.pi, n)
    x[:, 0], x[:, 1] = hx + t * h * np.cos(angle), hy + t * h * np.sin(angle)
    return x


def test_with_jet_bins_the_dip_is_restored_at_every_jet_pt():
    """A dip that deepens with |H⃗| (as the Sudakov suppression does): the unconditional map gets
    the mixture right but not the soft and hard jets apart; eight bins of |H⃗| get both."""

    def deepening(h: np.ndarray) -> np.ndarray:
        return 0.5 + 4.0 * np.clip((h - 20.0) / 60.0, 0.0, 1.0)

    def flat(h: np.ndarray) -> np.ndarray:
        return np.ones_like(h)

    data, model = _rows_by_jets(100_000, 0, deepening), _rows_by_jets(100_000, 1, flat)
    fresh_data, fresh_model = _rows_by_jets(100_000, 2, deepening), _rows_by_jets(100_000, 3, flat)
    h_data = np.hypot(*jet_sum(fresh_data, 2, [[3, 4]]))
    h_model = np.hypot(*jet_sum(fresh_model, 2, [[3, 4]]))

    def worst_error(step: RecoilCalibration) -> float:
        out = step.inverse(fresh_model.copy())
        worst = 0.0
        for band in ((0.0, 30.0), (30.0, 60.0), (60.0, np.inf)):
            d = (h_data >= band[0]) & (h_data < band[1])
            m = (h_model >= band[0]) & (h_model < band[1])
            for cut in (0.3, 0.6, 1.0):
                truth = _fraction_below(fresh_data[d], cut)
                worst = max(worst, abs(_fraction_below(out[m], cut) - truth) / truth)
        return worst

    assert worst_error(RecoilCalibration(**STEP, jet_bins=8).fit_pair(data, model)) < 0.15
    assert worst_error(RecoilCalibration(**STEP, jet_bins=1).fit_pair(data, model)) > 0.3
