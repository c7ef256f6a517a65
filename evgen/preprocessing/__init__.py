"""Invertible preprocessing: small steps chained, fitted on training data, saved without pickle.

>>> from evgen.preprocessing import Chain, LogShift, AtanhScale, Standardize, Whiten
>>> from evgen.preprocessing import ZJetsFeatures, ZJetsPhysicsFeatures, ZJetsPreprocessing
"""

from __future__ import annotations

from evgen.preprocessing.acceptance import AcceptanceEdge
from evgen.preprocessing.base import BaseStep, Chain, Step, register_step, step_kinds
from evgen.preprocessing.ordering import PtOrdering
from evgen.preprocessing.radial import RadialEqualize
from evgen.preprocessing.recoil import BalanceHarmonics
from evgen.preprocessing.recoil_calibration import RecoilCalibration
from evgen.preprocessing.steps import (
    AsinhScale,
    AtanhScale,
    Gaussianize,
    LogPolar,
    LogShift,
    RelativeTo,
    SeparationMap,
    Standardize,
    Whiten,
)
from evgen.preprocessing.third_jet import ThirdJetEqualize, ThirdJetSeparation
from evgen.preprocessing.zjets import (
    MULTIPLICITIES,
    MUON_MASS,
    ZJetsFeatures,
    ZJetsPreprocessing,
    block_slices,
    wrap_phi,
)
from evgen.preprocessing.zjets_physics import ZJetsPhysicsFeatures

__all__ = [
    "Step",
    "BaseStep",
    "Chain",
    "register_step",
    "step_kinds",
    "LogShift",
    "AtanhScale",
    "AsinhScale",
    "LogPolar",
    "RelativeTo",
    "SeparationMap",
    "RadialEqualize",
    "BalanceHarmonics",
    "RecoilCalibration",
    "PtOrdering",
    "AcceptanceEdge",
    "ThirdJetSeparation",
    "ThirdJetEqualize",
    "ZJetsPhysicsFeatures",
    "Standardize",
    "Whiten",
    "Gaussianize",
    "ZJetsFeatures",
    "ZJetsPreprocessing",
    "MUON_MASS",
    "MULTIPLICITIES",
    "block_slices",
    "wrap_phi",
]
