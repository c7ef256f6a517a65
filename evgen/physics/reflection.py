r"""The beam reflection: the exact symmetry of proton–proton collisions that swaps the beams.

The LHC collides two identical proton beams, so the distribution of any final state is
invariant under a rotation by :math:`\pi` about an axis perpendicular to the beams, say
:math:`x`:

.. math:: (p_x, p_y, p_z) \to (p_x, -p_y, -p_z)
          \quad\Longleftrightarrow\quad
          (p_T, \eta, \phi, m) \to (p_T, -\eta, -\phi, m)

for every particle at once. It is a proper rotation (not a parity transformation), so it
holds for the weak Z couplings too: charges are unchanged, and the forward–backward
asymmetry of Z → μμ (parity-odd) is not affected. Pythia 8 respects it exactly.

The **azimuthal mirror** :math:`M: \phi \to -\phi` of every particle (the reflection
:math:`p_y \to -p_y` in a plane containing the beams, :func:`mirror`) is not a rotation: it is
parity up to a rotation. QCD respects it, and so does the unpolarised Drell–Yan cross
section except for terms proportional to :math:`\epsilon_{\mu\nu\rho\sigma}` contractions of
four momenta, which need absorptive parts: the angular coefficients :math:`A_5, A_6, A_7` of
the decay (:math:`\sin\phi` terms), zero at leading order and in a parton shower, and of
order :math:`10^{-3}` in fixed-order QCD. The shared Pythia sample has every M-odd
asymmetry tried consistent with zero (``docs/zjets-inn.md``), so the mirror is a symmetry of
it to its statistical precision; together with :math:`R` it gives :math:`\eta \to -\eta` alone.

Two uses follow (``docs/zjets-inn.md``):

* **training augmentation**: every training event is joined by its reflection, so the
  network sees a sample that is exactly symmetric (twice the events for the same number
  of independent ones: it cannot learn the training sample's asymmetric fluctuations);
* **symmetrised generation**: each generated event is reflected with probability ½.
  A generator of density :math:`p` then samples
  :math:`\bar p(x) = \tfrac12\,[p(x) + p(Rx)]`, exactly symmetric; every part of the
  network's error that is odd under :math:`R` (in η_j, Δη_jj, φ, Δφ) cancels, and the
  invariant observables (p_T, masses, M_μμ, |Σp_T|, ΔR) are unchanged. Since
  :math:`|\det R| = 1`, :math:`\log\bar p = \log\tfrac12 + \mathrm{logaddexp}(\log p(x), \log p(Rx))`.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from evgen.errors import InputError

__all__ = ["COLLECTIONS", "reflect", "reflect_some", "mirror", "mirror_some", "symmetrised_log_prob"]

#: The particle collections a reflection acts on (those present in the events).
COLLECTIONS = ("Muon", "Jet")


def reflect(events: ak.Array, where: np.ndarray | None = None) -> ak.Array:
    """Events with ``η → −η`` and ``φ → −φ`` for every particle (in the rows ``where``, a boolean mask).

    p_T, mass, charge and every other field are unchanged; the map is its own inverse.
    """
    return _flip(events, ("eta", "phi"), where, "reflect")


def mirror(events: ak.Array, where: np.ndarray | None = None) -> ak.Array:
    """Events with ``φ → −φ`` for every particle (in the rows ``where``): the azimuthal mirror
    (module docstring). Every other field is unchanged; the map is its own inverse."""
    return _flip(events, ("phi",), where, "mirror")


def mirror_some(events: ak.Array, rng: np.random.Generator, probability: float = 0.5) -> ak.Array:
    """Mirror each event independently with ``probability`` (½: the mirror-symmetrised sample)."""
    if not 0.0 <= probability <= 1.0:
        raise InputError(f"mirror_some: probability must lie in [0, 1]; got {probability!r}")
    return mirror(events, rng.uniform(size=len(events)) < probability)


def _flip(events: ak.Array, coordinates: tuple[str, ...], where: np.ndarray | None, name: str) -> ak.Array:
    """``coordinates`` of every particle times −1 (in the rows ``where``)."""
    if where is None:
        sign = -1.0
    else:
        where = np.asarray(where, dtype=bool)
        if where.shape != (len(events),):
            raise InputError(f"{name}: mask of shape {where.shape} for {len(events)} events")
        sign = np.where(where, -1.0, 1.0)
    out = events
    present = [c for c in COLLECTIONS if c in events.fields]
    if not present:
        raise InputError(f"{name}: the events have none of the collections {list(COLLECTIONS)}")
    for collection in present:
        particles = out[collection]
        for coordinate in coordinates:
            if coordinate not in particles.fields:
                raise InputError(f"{name}: collection {collection!r} has no field {coordinate!r}")
            values = particles[coordinate]
            dtype = np.asarray(ak.flatten(values, axis=None)).dtype
            particles = ak.with_field(particles, ak.values_astype(values * sign, dtype), coordinate)
        out = ak.with_field(out, particles, collection)
    return out


def reflect_some(events: ak.Array, rng: np.random.Generator, probability: float = 0.5) -> ak.Array:
    """Reflect each event independently with ``probability`` (½: the symmetrised sample)."""
    if not 0.0 <= probability <= 1.0:
        raise InputError(f"reflect_some: probability must lie in [0, 1]; got {probability!r}")
    return reflect(events, rng.uniform(size=len(events)) < probability)


def symmetrised_log_prob(log_p: np.ndarray, log_p_reflected: np.ndarray) -> np.ndarray:
    r""":math:`\log\bar p = \mathrm{logaddexp}(\log p(x), \log p(Rx)) - \log 2` (module docstring)."""
    a = np.asarray(log_p, dtype=np.float64)
    b = np.asarray(log_p_reflected, dtype=np.float64)
    return np.logaddexp(a, b) - np.log(2.0)
