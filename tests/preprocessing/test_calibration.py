"""MarginalCalibration: the quantile map from a model's marginals onto the data's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evgen.errors import ConfigError, InputError
from evgen.preprocessing import Chain
from evgen.preprocessing.calibration import MarginalCalibration


def _pair(n_data: int = 200_000, n_model: int = 300_000, seed: int = 0):
    """Data N(0, 1) × Exp-like skew; the model's marginals 3 % too narrow and shifted."""
    rng = np.random.default_rng(seed)
    data = np.column_stack([rng.normal(size=n_data), rng.gamma(3.0, size=n_data)])
    model = np.column_stack([0.97 * rng.normal(size=n_model) + 0.05, 1.03 * rng.gamma(3.0, size=n_model)])
    return data, model


def test_calibrated_model_samples_follow_the_data_marginals() -> None:
    data, model = _pair()
    step = MarginalCalibration().fit_pair(data, model)
    rng = np.random.default_rng(1)
    fresh = np.column_stack([0.97 * rng.normal(size=100_000) + 0.05, 1.03 * rng.gamma(3.0, size=100_000)])
    calibrated = step.inverse(fresh)
    truth = [stats.norm.cdf, stats.gamma(3.0).cdf]
    for j in range(2):
        before = stats.kstest(fresh[:, j], truth[j]).pvalue
        after = stats.kstest(calibrated[:, j], truth[j]).pvalue
        assert before < 1e-6  # the distortion is visible …
        assert after > 1e-3  # … and gone after the calibration
    # the rank order (and so the dependence between columns) is the model's
    order = np.argsort(fresh[:, 0])
    assert np.all(np.diff(calibrated[order, 0]) >= 0)


def test_round_trip_and_log_det_against_finite_differences() -> None:
    data, model = _pair(20_000, 30_000)
    step = MarginalCalibration(bins=64).fit_pair(data, model, data_weights=np.linspace(0.5, 1.5, len(data)))
    x = np.column_stack([np.linspace(-6, 6, 401), np.linspace(-1, 25, 401)])  # tails included
    y, log_det = step.forward(x)
    np.testing.assert_allclose(step.inverse(y), x, rtol=0, atol=1e-9)
    eps = 1e-6
    numeric = np.zeros(len(x))
    for j in range(2):
        dx = np.zeros_like(x)
        dx[:, j] = eps
        numeric += np.log((step.forward(x + dx)[0][:, j] - step.forward(x - dx)[0][:, j]) / (2 * eps))
    # away from the knots (where the slope jumps) the central difference is exact
    grid_data = step.data_knots
    near = np.zeros(len(x), bool)
    for j in range(2):
        near |= np.min(np.abs(x[:, j, None] - grid_data[j][None, :]), axis=1) < 2 * eps
        yj = y[:, j]
        near |= np.min(np.abs(yj[:, None] - step.model_knots[j][None, :]), axis=1) < 2 * eps * 10
    np.testing.assert_allclose(log_det[~near], numeric[~near], atol=1e-5)
    assert (~near).sum() > 350


def test_state_round_trip_through_a_chain(tmp_path) -> None:
    data, model = _pair(5_000, 5_000)
    step = MarginalCalibration(bins=32).fit_pair(data, model)
    path = tmp_path / "chain"
    Chain([step]).save(path)
    again = Chain.load(path)
    x = model[:100]
    np.testing.assert_array_equal(again.inverse(x), step.inverse(x))
    np.testing.assert_array_equal(again.forward(x)[1], step.forward(x)[1])


def test_bad_input_is_named() -> None:
    data, model = _pair(1_000, 1_000)
    with pytest.raises(InputError, match="columns"):
        MarginalCalibration().fit_pair(data, model[:, :1])
    model[3, 1] = np.nan
    with pytest.raises(InputError, match="model samples"):
        MarginalCalibration().fit_pair(data, model)
    with pytest.raises(ConfigError, match="fit_pair"):
        MarginalCalibration().fit(data)


def _importance_weighted_pair(n_data: int = 200_000, n_model: int = 400_000, seed: int = 3):
    """A flow trained on data reweighted by w(u) = 3 below u = −1 (as the mass-step weights) that
    learned both marginals of the reweighted density but not their correlation: below the cut
    30 % of the events have v ≈ −2.5 (as FSR-photon jets of zero mass). Generation gives each
    draw the weight 1/w(u)."""
    rng = np.random.default_rng(seed)

    def draw(n: int) -> np.ndarray:
        u = rng.normal(size=n)
        v = rng.normal(size=n)
        photon = (u < -1) & (rng.uniform(size=n) < 0.3)
        v[photon] = rng.normal(-2.5, 0.3, size=int(photon.sum()))
        return np.column_stack([u, v])

    def w(u: np.ndarray) -> np.ndarray:
        return np.where(u < -1, 3.0, 1.0)

    data = draw(n_data)
    pool = draw(4 * n_model)  # the reweighted density's marginals, drawn independently
    p = w(pool[:, 0]) / w(pool[:, 0]).sum()
    model = np.column_stack(
        [pool[rng.choice(len(pool), n_model, p=p), j] for j in range(2)]  # independent columns
    )
    return data, model, w(data[:, 0]), 1.0 / w(model[:, 0])


def test_the_generation_weighted_marginals_are_mapped_onto_the_data() -> None:
    """With the model's draws weighted as generation weights them, the calibrated events with
    those weights follow the data's marginal; a map between the training-weighted marginals
    keeps the excess of the correlated component (the zero-mass jets' 1.9 × excess)."""
    data, model, w_train, w_generation = _importance_weighted_pair()
    truth = float(np.mean(data[:, 1] < -2))
    error = np.sqrt(truth / len(data))

    def fraction(step: MarginalCalibration) -> float:
        v = step.inverse(model)[:, 1]
        return float(np.sum(w_generation * (v < -2)) / w_generation.sum())

    trained = MarginalCalibration().fit_pair(data, model, data_weights=w_train)
    generated = MarginalCalibration().fit_pair(data, model, model_weights=w_generation)
    assert abs(fraction(trained) - truth) > 10 * error  # the excess survives the old target …
    assert abs(fraction(generated) - truth) < 3 * error  # … and is gone with the generation weights


def test_bad_weights_are_named() -> None:
    data, model = _pair(1_000, 1_000)
    with pytest.raises(InputError, match="model_weights has shape"):
        MarginalCalibration().fit_pair(data, model, model_weights=np.ones(10))
    with pytest.raises(InputError, match="data_weights must be finite"):
        MarginalCalibration().fit_pair(data, model, data_weights=-np.ones(len(data)))


# -- ConditionalCalibration: one column given another ------------------------------------------
def _dependent(n: int, seed: int, slope: float) -> np.ndarray:
    """Column 0 given column 1 (p_T,j2-like given p_T,j1-like): a normal whose mean follows
    column 1 with ``slope``; column 2 a bystander."""
    rng = np.random.default_rng(seed)
    given = rng.normal(size=n)
    return np.column_stack([slope * given + rng.normal(size=n), given, rng.uniform(size=n)])


def test_the_conditional_calibration_restores_the_dependence_on_fresh_draws() -> None:
    """The model has the data's marginal of column 0 nearly right but the wrong dependence on
    column 1; the conditional map gets each slice of column 1 right, which the marginal map cannot."""
    from evgen.preprocessing.calibration import ConditionalCalibration

    data, model = _dependent(200_000, 0, 0.8), _dependent(200_000, 1, 0.4)
    step = ConditionalCalibration(0, 1, given_bins=8).fit_pair(data, model)
    marginal = MarginalCalibration(bins=32).fit_pair(data[:, :1], model[:, :1])
    fresh, truth = _dependent(100_000, 2, 0.4), _dependent(100_000, 3, 0.8)
    calibrated = step.inverse(fresh.copy())
    only_marginal = marginal.inverse(fresh[:, :1].copy())[:, 0]
    np.testing.assert_array_equal(calibrated[:, 1:], fresh[:, 1:])  # the given column and the rest kept
    for lo, hi in ((-3.0, -1.0), (-0.3, 0.3), (1.0, 3.0)):
        t = (truth[:, 1] > lo) & (truth[:, 1] < hi)
        f = (fresh[:, 1] > lo) & (fresh[:, 1] < hi)
        expected = np.quantile(truth[t, 0], [0.1, 0.5, 0.9])
        assert np.abs(np.quantile(calibrated[f, 0], [0.1, 0.5, 0.9]) - expected).max() < 0.1
        if lo != -0.3:  # in the outer slices the marginal map leaves the slice's error
            assert np.abs(np.quantile(only_marginal[f], [0.1, 0.5, 0.9]) - expected).max() > 0.3


def test_the_conditional_calibration_inverts_and_has_the_jacobian_of_its_formula(
    finite_difference_log_det,
) -> None:
    from evgen.preprocessing.calibration import ConditionalCalibration

    step = ConditionalCalibration(0, 1, bins=16).fit_pair(
        _dependent(20_000, 0, 0.8), _dependent(20_000, 1, 0.4)
    )
    x = _dependent(300, 5, 0.6)
    y, log_det = step.forward(x)
    np.testing.assert_allclose(step.inverse(y), x, atol=1e-10)
    np.testing.assert_allclose(log_det, finite_difference_log_det(step, x, columns=(0, 1, 2)), atol=1e-5)
    again = Chain.from_state(*Chain([step]).state())
    np.testing.assert_array_equal(again.forward(x)[0], y)
    with pytest.raises(ConfigError, match="two distinct non-negative columns"):
        ConditionalCalibration(1, 1)
    with pytest.raises(ConfigError, match="call fit_pair"):
        ConditionalCalibration(0, 1).fit(x)
    with pytest.raises(InputError, match="column 4 does not exist in a 3-column matrix"):
        ConditionalCalibration(4, 1).fit_pair(x, x)
    bad = x.copy()
    bad[0, 1] = np.nan
    with pytest.raises(InputError, match="the model samples hold NaN"):
        ConditionalCalibration(0, 1).fit_pair(x, bad)
    with pytest.raises(InputError, match="model_weights must be finite"):
        ConditionalCalibration(0, 1).fit_pair(x, x, model_weights=-np.ones(len(x)))
