"""Close both ``ΔR < R`` holes of the third jet: a radial map around jet 1 *and* jet 2.

The anti-k_T algorithm leaves no jet within ``R`` of another, so the third jet's position
``p = (η_3 − η_1, φ_3 − φ_1)`` never lies in the disc of radius ``R`` around jet 1 (the
origin) nor in the one around jet 2 (at ``c = (η_2 − η_1, φ_2 − φ_1)``).
:class:`~evgen.preprocessing.steps.SeparationMap` closes one hole; the other was left to
the magic weights (Eq. 7–10), whose generation weights ``f̃`` (up to 6.5 just above ``R``)
amplify what the network leaks to its edge: the 3-jet ``ΔR_j2j3`` came out +6σ at 0.4–0.6
in every recipe run.

:class:`ThirdJetSeparation` closes both. It measures jet 3 from the midpoint of jets 1
and 2, ``q = (p_η − c_η/2, wrap(p_φ − c_φ/2))`` (the midpoint of the shorter arc, so the two
holes sit at ``∓h``, ``h = c/2``, with ``|h_φ| ≤ π/2``: half a turn from the cut at
``q_φ = ±π``), and applies the radial map of ``SeparationMap`` around each jet, within a
support disc of radius ``r_s = min(|c|/2, π − |h_φ|)`` around it. The two supports touch
at most at the midpoint and stay inside the strip ``|q_φ| ≤ π``, so each map moves points
only within its own disc, the other hole is never entered, and the composition is a
bijection of the plane onto the plane without the two holes.

The plane without two disjoint discs is not the plane without one: as ``|c| → 2R`` the
neck between the holes closes and the maps' support shrinks onto the holes (a singular
Jacobian). The step therefore closes the holes only where jets 1 and 2 are at least
``apart`` (``3R`` by default) from each other (support width ``≥ R/2``); for closer pairs
(about 11 % of the 3-jet events in the shared sample) jet 3 is left at ``q`` and the magic
weights handle both of its pairs (:func:`closed_pairs`). ``log|det J|`` is that of the
radial map (the shift and the wrap have unit Jacobian); jet 2's columns are read, not
changed, so the full Jacobian is triangular. In a chain the step comes *before* jet 2's own
``SeparationMap``, so that both directions see jet 2 where it physically is.

:class:`ThirdJetEqualize` then does for jet 3 what
:class:`~evgen.preprocessing.radial.RadialEqualize` does for jet 2 around jet 1: inside each
support disc it maps the radial distribution, in units of the disc's area, onto a smooth
profile fitted to the sample, so that the collinear peak just outside each hole (the ring
around the collapsed point) need not be drawn by the network.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evgen.errors import ConfigError, InputError
from evgen.preprocessing.base import BaseStep, as_matrix, register_step
from evgen.preprocessing.radial import ROWS_PER_KNOT, equalize_area, fit_area_knots, unequalize_area
from evgen.preprocessing.steps import _check_width, radial_collapse, radial_expand

__all__ = ["ThirdJetSeparation", "ThirdJetEqualize", "closed_pairs"]

#: Jets 1 and 2 at least this many jet radii apart: both of jet 3's holes are closed.
APART_IN_RADII = 3.0


def _wrap(phi: np.ndarray) -> np.ndarray:
    return np.mod(phi + np.pi, 2 * np.pi) - np.pi


def closed_pairs(delta_r_12: np.ndarray, radius: float = 0.4, apart: float | None = None) -> np.ndarray:
    """Per row, whether :class:`ThirdJetSeparation` closes jet 3's holes (``ΔR_12 ≥ apart``)."""
    apart = APART_IN_RADII * radius if apart is None else apart
    return np.asarray(delta_r_12, dtype=np.float64) >= apart


def _geometry(
    x: np.ndarray, jet2: list[int], radius: float, apart: float, kind: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: half of jet 2's offset ``h``, the support radius, and whether the holes close."""
    c = x[:, jet2]
    if np.any(np.abs(c[:, 1]) > np.pi + 1e-9):
        raise InputError(f"{kind}: jet 2's Δφ (column {jet2[1]}) must lie in [−π, π]")
    h = 0.5 * c
    d = np.hypot(c[:, 0], c[:, 1])
    support = np.minimum(0.5 * d, np.pi - np.abs(h[:, 1]))
    return h, support, closed_pairs(d, radius, apart)


class _ThirdJetStep(BaseStep):
    """Jet 3's and jet 2's columns, the jet radius and the closing distance, checked."""

    def __init__(
        self,
        jet3: list[int] | tuple[int, int],
        jet2: list[int] | tuple[int, int],
        radius: float = 0.4,
        apart: float | None = None,
    ) -> None:
        columns = [int(c) for c in jet3] + [int(c) for c in jet2]
        if len(jet3) != 2 or len(jet2) != 2 or len(set(columns)) != 4 or min(columns) < 0:
            raise ConfigError(
                f"{self.kind}: jet3 and jet2 must be two distinct column pairs; got {jet3!r}, {jet2!r}"
            )
        if not 0 < radius < np.pi / 2:
            raise ConfigError(f"{self.kind}: radius must lie in (0, π/2); got {radius!r}")
        self.apart = APART_IN_RADII * float(radius) if apart is None else float(apart)
        if not self.apart > 2 * radius:
            raise ConfigError(
                f"{self.kind}: apart must exceed twice the radius ({2 * radius}); got {apart!r}"
            )
        self.jet3, self.jet2, self.radius = columns[:2], columns[2:], float(radius)

    def params(self) -> dict[str, Any]:
        return {"jet3": self.jet3, "jet2": self.jet2, "radius": self.radius, "apart": self.apart}

    def _geometry(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _geometry(x, self.jet2, self.radius, self.apart, self.kind)


@register_step
class ThirdJetSeparation(_ThirdJetStep):
    """Jet 3 from the midpoint of jets 1 and 2, with both ``ΔR < R`` holes closed (module docstring).

    Parameters
    ----------
    jet3
        ``(Δη, Δφ)`` columns of jet 3 relative to jet 1 (rewritten).
    jet2
        ``(Δη, Δφ)`` columns of jet 2 relative to jet 1 (read only; ``|Δφ| ≤ π``).
    radius
        The jet radius ``R``.
    apart
        Jets 1 and 2 closer than this keep both holes open (``None``: ``3R``); more than ``2R``.
    """

    kind = "third-jet-separation"

    def _around_jets(
        self, q: np.ndarray, h: np.ndarray, support: np.ndarray, close: np.ndarray, inverse: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The radial map (or its inverse) around jet 1 (at ``−h``) and jet 2 (at ``+h``)."""
        log_det = np.zeros(len(q))
        q = q.copy()
        for sign, name in ((-1.0, "jet 1"), (1.0, "jet 2")):
            v = q - sign * h
            r = np.hypot(v[:, 0], v[:, 1])
            act = close & (r < support)
            if not inverse:
                inside = close & (r <= self.radius)
                if inside.any():
                    raise InputError(
                        f"{self.kind}: {int(inside.sum())} rows have jet 3 within the jet radius "
                        f"{self.radius} of {name} (smallest ΔR {float(r[inside].min()):.4g}); lower the "
                        "radius to the sample's jet algorithm"
                    )
            if not act.any():
                continue
            r_act, s_act = r[act], support[act]
            if inverse:
                new = radial_expand(r_act, self.radius, s_act)
                at_centre = r_act == 0  # the collapsed circle: back to its edge along +Δη
                scale = np.where(at_centre, 0.0, new / np.where(at_centre, 1.0, r_act))
                moved = v[act] * scale[:, None]
                moved[at_centre, 0] = self.radius
            else:
                new, ld = radial_collapse(r_act, self.radius, s_act)
                moved = v[act] * (new / r_act)[:, None]
                log_det[act] += ld
            q[act] = sign * h[act] + moved
        return q, log_det

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = as_matrix(x)
        _check_width(y, self.jet3 + self.jet2, self.kind)
        h, support, close = self._geometry(y)
        p = y[:, self.jet3]
        q = np.stack([p[:, 0] - h[:, 0], _wrap(p[:, 1] - h[:, 1])], axis=1)
        q, log_det = self._around_jets(q, h, support, close, inverse=False)
        y[:, self.jet3] = q
        return y, log_det

    def inverse(self, y: np.ndarray) -> np.ndarray:
        x = as_matrix(y)
        _check_width(x, self.jet3 + self.jet2, self.kind)
        h, support, close = self._geometry(x)
        q, _ = self._around_jets(x[:, self.jet3], h, support, close, inverse=True)
        x[:, self.jet3] = np.stack([q[:, 0] + h[:, 0], _wrap(q[:, 1] + h[:, 1])], axis=1)
        return x


@register_step
class ThirdJetEqualize(_ThirdJetStep):
    """Inside the support discs of :class:`ThirdJetSeparation` (after it), jet 3's radial
    distribution around jet 1 and around jet 2 equalised onto a smooth profile.

    Per disc (jet 1's, jet 2's), the area variable in units of the row's disc,
    ``u = |q − centre|² / r_s²``, goes to ``G⁻¹(F(u))`` with ``F`` the sample's weighted
    distribution of ``u`` over the rows whose holes are closed and ``G`` the linear-in-area
    profile of :class:`~evgen.preprocessing.radial.RadialEqualize` (edge value fitted, so the
    map joins the identity continuously on the rim); angles are kept,
    ``log|det J| = log(F′(u) / g(u′))``. Rows whose holes are open are left alone.

    Parameters
    ----------
    jet3, jet2, radius, apart
        As for :class:`ThirdJetSeparation` (the same values).
    knots
        Quantile bins per disc: at most this many, and at most one per ``ROWS_PER_KNOT``
        effective rows.
    """

    kind = "third-jet-equalize"
    fitted_arrays = ("area_knots", "alpha")

    def __init__(
        self,
        jet3: list[int] | tuple[int, int],
        jet2: list[int] | tuple[int, int],
        radius: float = 0.4,
        apart: float | None = None,
        knots: int = 64,
    ) -> None:
        super().__init__(jet3, jet2, radius, apart)
        if int(knots) < 2:
            raise ConfigError(f"{self.kind}: knots must be at least 2; got {knots!r}")
        self.knots = int(knots)
        self.area_knots: np.ndarray | None = None  # (2, knots + 1): u at F = k / knots, jet 1 then jet 2
        self.alpha: np.ndarray | None = None  # (2,)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "knots": self.knots}

    def _discs(self, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per disc (jet 1's, jet 2's): its centre, jet 3's ``u`` in it, and the rows inside."""
        h, support, close = self._geometry(x)
        out = []
        for centre in (-h, h):
            v = x[:, self.jet3] - centre
            u = (v[:, 0] ** 2 + v[:, 1] ** 2) / np.where(close, support, 1.0) ** 2
            out.append((centre, u, close & (u < 1.0)))
        return out

    def _move(
        self, x: np.ndarray, centre: np.ndarray, u: np.ndarray, u_new: np.ndarray, rows: np.ndarray
    ) -> None:
        """Scale jet 3's offset from ``centre`` in ``rows`` so that its ``u`` becomes ``u_new``."""
        scale = np.sqrt(np.divide(u_new, u, out=np.zeros_like(u_new), where=u > 0))
        offset = x[np.ix_(rows, self.jet3)] - centre[rows]
        x[np.ix_(rows, self.jet3)] = centre[rows] + offset * scale[:, None]

    def fit(self, x: np.ndarray, weights: np.ndarray | None = None) -> ThirdJetEqualize:
        x = as_matrix(x)
        _check_width(x, self.jet3 + self.jet2, self.kind)
        w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
        discs = self._discs(x)
        n_eff = []
        for name, (_, _, inside) in zip(("jet 1", "jet 2"), discs, strict=True):
            wi = w[inside & (w > 0)]
            n_eff.append(float(wi.sum() ** 2 / max(float(np.sum(wi**2)), 1e-300)))
            if n_eff[-1] < 2 * ROWS_PER_KNOT:
                raise InputError(
                    f"{self.kind}: only {n_eff[-1]:.4g} (effective) rows of jet 3 lie in the disc around "
                    f"{name}; need at least {2 * ROWS_PER_KNOT} (leave the equaliser off for so small a sample)"
                )
        self.knots = int(min(self.knots, max(2, min(n_eff) // ROWS_PER_KNOT)))
        fitted = [fit_area_knots(np.where(inside, u, 2.0), w, 1.0, self.knots) for _, u, inside in discs]
        self.area_knots = np.array([area for area, _ in fitted])
        self.alpha = np.array([alpha for _, alpha in fitted])
        return self

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        assert self.area_knots is not None and self.alpha is not None
        y = as_matrix(x)
        _check_width(y, self.jet3 + self.jet2, self.kind)
        log_det = np.zeros(len(y))
        for i, (centre, u, inside) in enumerate(self._discs(y)):  # the two discs share no row
            rows = np.flatnonzero(inside)
            u_new, ld = equalize_area(u[rows], self.area_knots[i], float(self.alpha[i]), 1.0)
            self._move(y, centre, u[rows], u_new, rows)
            log_det[rows] += ld
        return y, log_det

    def inverse(self, y: np.ndarray) -> np.ndarray:
        self._check_fitted()
        assert self.area_knots is not None and self.alpha is not None
        x = as_matrix(y)
        _check_width(x, self.jet3 + self.jet2, self.kind)
        for i, (centre, u_new, inside) in enumerate(self._discs(x)):
            rows = np.flatnonzero(inside)
            u = unequalize_area(u_new[rows], self.area_knots[i], float(self.alpha[i]), 1.0)
            self._move(x, centre, u_new[rows], u, rows)
        return x
