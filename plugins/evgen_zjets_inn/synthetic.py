"""A fast Z → μμ + {1, 2, 3} jets look-alike for tests and examples (not physics).

It reproduces the features that make the real sample hard (Sec. 2.1, 2.2): a
narrow Breit–Wigner Z peak in M_μμ, muons and jets balancing in the transverse
plane, a jet threshold of 20 GeV and the jet separation ΔR_jj > 0.4 with its
ring-and-hole pattern, with falling multiplicity fractions.
"""

from __future__ import annotations

from collections.abc import Sequence

import awkward as ak
import numpy as np
import vector

from evgen.events import collider_events
from evgen.preprocessing.zjets import MUON_MASS

__all__ = ["toy_zjets_events"]

M_Z, GAMMA_Z = 91.1876, 2.4952


def _jets(rng: np.random.Generator, n: int, k: int) -> tuple[np.ndarray, ...]:
    pt = np.sort(20.0 + rng.exponential(30.0, (n, k)), axis=1)[:, ::-1]
    eta = rng.normal(0.0, 1.6, (n, k))
    phi = rng.uniform(-np.pi, np.pi, (n, k))
    # resample until every jet pair is separated by ΔR > 0.4 (Eq. 2)
    for _ in range(200):
        bad = np.zeros(n, dtype=bool)
        for i in range(k):
            for j in range(i + 1, k):
                dphi = np.mod(phi[:, i] - phi[:, j] + np.pi, 2 * np.pi) - np.pi
                bad |= np.hypot(eta[:, i] - eta[:, j], dphi) < 0.4
        if not bad.any():
            break
        eta[bad] = rng.normal(0.0, 1.6, (bad.sum(), k))
        phi[bad] = rng.uniform(-np.pi, np.pi, (bad.sum(), k))
    mass = pt * rng.gamma(3.0, 0.03, (n, k))
    return pt, eta, phi, mass


def toy_zjets_events(
    n: int, seed: int | None = 0, fractions: Sequence[float] = (0.7, 0.22, 0.08), charge: bool = True
) -> ak.Array:
    """``n`` Z+jets-like collider events (2 muons, 1–3 jets, unit weights), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.asarray(fractions) / np.sum(fractions))
    muons, jets = [], []
    for k, m in zip((1, 2, 3), counts, strict=True):
        if m == 0:
            continue
        pt, eta, phi, mass = _jets(rng, m, k)
        recoil_x = -(pt * np.cos(phi)).sum(axis=1) + rng.normal(0, 6.0, m)
        recoil_y = -(pt * np.sin(phi)).sum(axis=1) + rng.normal(0, 6.0, m)
        m_z = np.clip(M_Z + 0.5 * GAMMA_Z * np.tan(np.pi * (rng.uniform(size=m) - 0.5)), 60.0, 120.0)
        rap = rng.normal(0.0, 1.4, m)
        mt = np.sqrt(m_z**2 + recoil_x**2 + recoil_y**2)
        z = vector.array({"px": recoil_x, "py": recoil_y, "pz": mt * np.sinh(rap), "E": mt * np.cosh(rap)})
        cos_t, phi_d = rng.uniform(-1, 1, m), rng.uniform(-np.pi, np.pi, m)
        p = np.sqrt((m_z / 2) ** 2 - MUON_MASS**2)
        sin_t = np.sqrt(1 - cos_t**2)
        d = [
            vector.array(
                {
                    "px": s * p * sin_t * np.cos(phi_d),
                    "py": s * p * sin_t * np.sin(phi_d),
                    "pz": s * p * cos_t,
                    "E": m_z / 2 + 0 * p,
                }
            ).boost_p4(z)
            for s in (1, -1)
        ]
        mu_pt = np.stack([d[0].pt, d[1].pt], axis=1)
        order = np.argsort(-mu_pt, axis=1)

        def pick(a: np.ndarray, order: np.ndarray = order) -> np.ndarray:
            return np.take_along_axis(a, order, axis=1)

        muons.append(
            {
                "pt": pick(mu_pt),
                "eta": pick(np.stack([d[0].eta, d[1].eta], axis=1)),
                "phi": pick(np.stack([d[0].phi, d[1].phi], axis=1)),
                "mass": np.full((m, 2), MUON_MASS),
                "charge": pick(np.tile(np.array([-1, 1], dtype=np.int32), (m, 1))),
            }
        )
        jets.append({"pt": pt, "eta": eta, "phi": phi, "mass": mass})

    def jagged(parts: list[dict], field: str) -> ak.Array:
        return ak.concatenate(
            [ak.from_regular(ak.from_numpy(np.ascontiguousarray(p[field])), axis=1) for p in parts]
        )

    mu_fields = ["pt", "eta", "phi", "mass"] + (["charge"] if charge else [])
    events = collider_events(
        {
            "Muon": {f: jagged(muons, f) for f in mu_fields},
            "Jet": {f: jagged(jets, f) for f in ("pt", "eta", "phi", "mass")},
        }
    )
    return events[rng.permutation(len(events))]
