"""The jets' p_T ordering map: exact inverse, the full Jacobian (triangular, by finite
differences), every point of the network space decoded to ordered jets above the threshold,
finite edges, and the option in the Z+jets chain."""

from __future__ import annotations

import numpy as np
import pytest

from evgen import plugins
from evgen.errors import ConfigError, InputError
from evgen.events import n_jets
from evgen.io import read_events
from evgen.preprocessing import PtOrdering, ZJetsPreprocessing
from evgen.preprocessing.base import Chain

P_MIN = 20.0


def _ordered_jets(n: int, seed: int) -> np.ndarray:
    """Rows ``(p_T,1, p_T,2, p_T,3, other)``: three falling p_T above the threshold."""
    rng = np.random.default_rng(seed)
    pt = np.sort(P_MIN + rng.exponential(25.0, (n, 3)), axis=1)[:, ::-1]
    return np.column_stack([pt, rng.normal(size=n)])


def test_the_map_is_the_logit_of_the_share_and_inverts_exactly():
    x = _ordered_jets(5000, seed=1)
    step = PtOrdering([0, 1, 2], minimum=P_MIN)
    y, _ = step.forward(x)
    share = (x[:, 1] - P_MIN) / (x[:, 0] - P_MIN)
    np.testing.assert_allclose(y[:, 1], np.log(share / (1 - share)), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(y[:, [0, 3]], x[:, [0, 3]])  # the leading jet and the rest kept
    np.testing.assert_allclose(step.inverse(y), x, rtol=1e-12, atol=1e-10)


def test_log_det_is_the_jacobian_of_all_three_columns(finite_difference_log_det):
    x = _ordered_jets(200, seed=2)
    step = PtOrdering([0, 1, 2], minimum=P_MIN)
    _, log_det = step.forward(x)
    fd = finite_difference_log_det(step, x, columns=(0, 1, 2), h=1e-5)
    np.testing.assert_allclose(log_det, fd, atol=1e-5)


def test_every_network_point_decodes_to_ordered_jets_above_the_threshold():
    rng = np.random.default_rng(3)
    y = np.column_stack(
        [P_MIN + rng.exponential(30.0, 100_000), rng.normal(0, 8, (100_000, 2)), np.zeros(100_000)]
    )
    y[:10, 1:3] = [[1e3, -1e3]] * 10  # far beyond both edges
    x = PtOrdering([0, 1, 2], minimum=P_MIN).inverse(y)
    assert np.isfinite(x).all()
    assert (x[:, 1] <= x[:, 0]).all() and (x[:, 2] <= x[:, 1]).all() and (x[:, 1:3] >= P_MIN).all()


def test_jets_on_the_edges_stay_finite():
    step = PtOrdering([0, 1], minimum=P_MIN)
    edges = np.array([[50.0, 50.0], [50.0, P_MIN], [P_MIN, P_MIN], [30.0, 31.0]])
    y, log_det = step.forward(edges)
    assert np.isfinite(y).all() and np.isfinite(log_det).all()
    back = step.inverse(y)
    np.testing.assert_allclose(back[:2], edges[:2], atol=1e-8)  # moved by at most the floor
    assert (back[:, 1] <= back[:, 0]).all()


def test_state_round_trip_and_bad_input():
    x = _ordered_jets(100, seed=4)
    step = PtOrdering([0, 1, 2], minimum=P_MIN)
    again = Chain.from_state(*Chain([step]).state())
    np.testing.assert_array_equal(again.forward(x)[0], step.forward(x)[0])
    with pytest.raises(ConfigError, match="two or more"):
        PtOrdering([0], minimum=P_MIN)
    with pytest.raises(ConfigError, match="two or more"):
        PtOrdering([1, 1], minimum=P_MIN)
    with pytest.raises(InputError, match="column 5"):
        PtOrdering([0, 5], minimum=P_MIN).forward(x)


def test_the_option_in_the_zjets_chain(tmp_path):
    events = read_events(plugins.get_dataset("zjets-small").path)
    options = dict(coordinates="physics", gaussianize=True, balance="polar", jet_eta="relative")
    pre = ZJetsPreprocessing(**options, jet_pt_order=True).fit(events)
    for n, (y, where) in pre.encode(events).items():
        f = pre.features(n)
        x = f.to_features(events[where])
        np.testing.assert_allclose(pre.inverse(y, n), x, rtol=1e-9, atol=1e-8)
        kinds = [s.kind for s in pre.chains[n].steps]
        assert ("pt-ordering" in kinds) == (n >= 2)
        # the network's wildest draws still decode to ordered jets
        far = pre.inverse(np.random.default_rng(n).normal(0, 4, y.shape), n)
        pts = far[:, f.columns("jet_pt")]
        assert (pts[:, 1:] <= pts[:, :-1]).all() and (pts >= 20.0).all()
    pre.save(tmp_path / "ordered")
    assert ZJetsPreprocessing.load(tmp_path / "ordered").jet_pt_order
    two = events[n_jets(events) == 2]
    swapped = two.Jet[:, ::-1]
    import awkward as ak

    with pytest.raises(InputError, match="not in decreasing p_T"):
        ZJetsPreprocessing(**options, jet_pt_order=True, multiplicities=[2]).fit(
            ak.with_field(two, swapped, "Jet")
        )
