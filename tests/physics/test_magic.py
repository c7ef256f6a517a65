"""The magic transformation, Eq. (7)-(9): exact values, products over jet pairs, f·f̃ = 1."""

from __future__ import annotations

import subprocess
import sys

import awkward as ak
import numpy as np
import pytest

from evgen.errors import ConfigError
from evgen.events import collider_events
from evgen.physics.magic import (
    MagicTransform,
    delta_r,
    generation_weights,
    inverse_smoothing,
    jet_pair_delta_r,
    smoothing,
    training_weights,
)


def test_smoothing_eq7_exact_values():
    dr = np.array([0.0, 0.1, 0.2, 0.4, 0.85, 1.5, 2.0, 7.0])
    expected = [0.0, 0.0, 0.0, 0.2 / 1.3, 0.5, 1.0, 1.0, 1.0]
    np.testing.assert_allclose(smoothing(dr), expected, rtol=1e-15, atol=0)


def test_inverse_smoothing_eq9_exact_values():
    dr = np.array([0.0, 0.3, np.nextafter(0.4, 0), 0.4, 0.85, 1.5, 2.0])
    expected = [0.0, 0.0, 0.0, 1.3 / 0.2, 2.0, 1.0, 1.0]
    np.testing.assert_allclose(inverse_smoothing(dr), expected, rtol=1e-14, atol=0)


def test_f_times_f_tilde_is_one_where_both_are_nonzero():
    dr = np.linspace(0, 5, 50_001)
    f, ft = smoothing(dr), inverse_smoothing(dr)
    both = (f > 0) & (ft > 0)
    assert both.sum() > 40_000 and np.all(dr[both] >= 0.4)
    np.testing.assert_allclose(f[both] * ft[both], 1.0, rtol=1e-12)
    assert np.all(ft[dr < 0.4] == 0)  # the jet separation is enforced at generation
    assert np.all(ft[ft > 0] >= 1.0) and ft.max() == pytest.approx(6.5)  # "all finite weights above one"


def test_delta_r_wraps_phi():
    assert delta_r(0.0, 3.1, 0.0, -3.1) == pytest.approx(2 * np.pi - 6.2)
    assert delta_r(1.0, 0.0, 0.0, 0.0) == pytest.approx(1.0)


def _events(jets: list[list[tuple[float, float]]]) -> ak.Array:
    def coll(rows, field, fill):
        return ak.Array([[fill(p) for p in r] for r in rows])

    muons = [[(0.0, 0.0), (0.5, 3.0)] for _ in jets]
    return collider_events(
        {
            "Muon": {
                "pt": coll(muons, "pt", lambda p: 40.0),
                "eta": coll(muons, "eta", lambda p: p[0]),
                "phi": coll(muons, "phi", lambda p: p[1]),
                "mass": coll(muons, "mass", lambda p: 0.1),
            },
            "Jet": {
                "pt": coll(jets, "pt", lambda p: 30.0),
                "eta": coll(jets, "eta", lambda p: p[0]),
                "phi": coll(jets, "phi", lambda p: p[1]),
                "mass": coll(jets, "mass", lambda p: 5.0),
            },
        }
    )


def test_event_weights_follow_eq8_and_eq9():
    events = _events(
        [
            [(0.0, 0.0)],  # 1 jet: w = 1
            [(0.0, 0.0), (0.85, 0.0)],  # ΔR = 0.85: f = 0.5, f̃ = 2
            [(0.0, 3.0), (0.3, -3.0)],  # ΔR = √(0.09 + (2π−6)²) ≈ 0.416 across φ = ±π
            [(0.0, 0.0), (0.6, 0.0), (0.0, 1.2)],  # ΔR12 = 0.6, ΔR13 = 1.2, ΔR23 = √1.8
            [(0.0, 0.0), (0.3, 0.0), (3.0, 0.0)],  # ΔR12 = 0.3 < R_min
        ]
    )
    magic = MagicTransform()
    f = lambda r: (r - 0.2) / 1.3  # noqa: E731
    dr3 = np.hypot(0.3, 2 * np.pi - 6.0)
    dr23 = np.sqrt(1.8)
    w_train = [1.0, 0.5, f(dr3), f(0.6) * f(1.2) * f(dr23), f(0.3) * 1.0 * 1.0]
    w_gen = [1.0, 2.0, 1 / f(dr3), 1 / (f(0.6) * f(1.2) * f(dr23)), 0.0]
    np.testing.assert_allclose(magic.event_training_weights(events), w_train, rtol=1e-12)
    np.testing.assert_allclose(magic.event_generation_weights(events), w_gen, rtol=1e-12)
    off = MagicTransform(enabled=False)
    assert np.all(off.event_training_weights(events) == 1) and np.all(
        off.event_generation_weights(events) == 1
    )


def test_pair_order_and_array_functions():
    eta = np.array([[0.0, 0.6, 0.0]])
    phi = np.array([[0.0, 0.0, 1.2]])
    np.testing.assert_allclose(jet_pair_delta_r(eta, phi), [[0.6, 1.2, np.sqrt(1.8)]])
    dr = jet_pair_delta_r(eta, phi)
    assert training_weights(dr)[0] * generation_weights(dr)[0] == pytest.approx(1.0)
    assert training_weights(np.zeros((4, 0))).tolist() == [1.0] * 4  # one jet: no pairs


@pytest.mark.parametrize(
    ("options", "key"), [({"r_minus": 0.4}, "magic.r_minus"), ({"r_plus": 0.3}, "magic.r_plus")]
)
def test_bad_parameters_are_config_errors(options, key):
    with pytest.raises(ConfigError, match=key):
        MagicTransform(**options)


def test_importing_magic_does_not_import_matplotlib():
    code = "import sys, evgen.physics.magic; assert 'matplotlib' not in sys.modules and 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
