"""What a ROOT file holds, in words, and opening its events: a TTree or an RNTuple.

uproot reads both with the same ``keys()``, ``arrays()`` and ``iterate()`` calls, so
everything downstream of :func:`open_tree` is the same for both formats. RNTuple is
ROOT's successor to TTree (production since ROOT 6.34); ``file["Events"] = {...}``
writes one since uproot 5.7.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import uproot

from evgen.errors import InputError

__all__ = ["open_tree", "is_rntuple", "kind_in_words", "event_containers", "container_words"]

_TREE_CLASSES = ("TTree", "TNtuple", "TNtupleD")
_RNTUPLE_CLASSES = ("ROOT::RNTuple", "ROOT::Experimental::RNTuple")


def kind_in_words(classname: str) -> str:
    """A ROOT class name as a reader would say it: ``"TH1D"`` → ``"a histogram (TH1D)"``."""
    if classname in _TREE_CLASSES:
        return f"a TTree ({classname})" if classname != "TTree" else "a TTree"
    if classname in _RNTUPLE_CLASSES or "RNTuple" in classname:
        return "an RNTuple"
    for prefix, words in (
        ("TH1", "a histogram"),
        ("TH2", "a 2D histogram"),
        ("TH3", "a 3D histogram"),
        ("TProfile", "a profile histogram"),
        ("TGraph", "a graph"),
        ("TDirectory", "a directory"),
        ("TObjString", "a string"),
        ("TF1", "a function"),
    ):
        if classname.startswith(prefix):
            return words if prefix == "TDirectory" else f"{words} ({classname})"
    return f"a {classname}"


def event_containers(file: Any) -> dict[str, str]:
    """Name → ``"TTree"`` or ``"RNTuple"`` for the trees and RNTuples at the top of ``file``."""
    out = {}
    for key, classname in file.classnames(recursive=False).items():
        name = key.split(";")[0]
        if classname in _TREE_CLASSES:
            out[name] = "TTree"
        elif classname in _RNTUPLE_CLASSES:
            out[name] = "RNTuple"
    return out


def _holds(file: Any) -> str:
    containers = event_containers(file)
    if containers:
        return "the file holds " + ", ".join(
            f"the {kind} {name!r}" for name, kind in sorted(containers.items())
        )
    others = sorted({k.split(";")[0] for k in file.keys(recursive=False)})
    return f"the file holds no TTree or RNTuple{f' (only {others})' if others else ''}"


def is_rntuple(obj: Any) -> bool:
    """Whether ``obj`` (as :func:`open_tree` returns it) is an RNTuple."""
    return isinstance(obj, uproot.behaviors.RNTuple.RNTuple)


def container_words(obj: Any) -> tuple[str, str]:
    """``("tree", "branch")`` for a TTree, ``("RNTuple", "field")`` for an RNTuple (for messages)."""
    return ("RNTuple", "field") if is_rntuple(obj) else ("tree", "branch")


def open_tree(path: str | os.PathLike[str], tree: str = "Events") -> Any:
    """Open ``path`` and return its TTree or RNTuple ``tree``, with clear errors.

    Both come back as uproot objects with ``keys()``, ``arrays()``, ``iterate()`` and
    ``num_entries``. A missing name or an object of another kind (a histogram, a
    directory, ...) fails with the kind in words and the trees/RNTuples the file holds.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a ROOT file")
    try:
        file = uproot.open(path)
    except Exception as exc:  # uproot raises many kinds for non-ROOT or truncated files
        raise InputError(f"{path}: not a readable ROOT file ({type(exc).__name__}: {exc})") from None
    classnames = {k.split(";")[0]: v for k, v in file.classnames(recursive=False).items()}
    if tree in classnames and classnames[tree] not in _TREE_CLASSES + _RNTUPLE_CLASSES:
        raise InputError(
            f"{path}: {tree!r} is {kind_in_words(classnames[tree])}, expected a TTree or an RNTuple; "
            f"{_holds(file)}"
        )
    try:
        obj = file[tree]
    except Exception:
        raise InputError(f"{path}: no TTree or RNTuple {tree!r}; {_holds(file)}") from None
    if not isinstance(obj, (uproot.behaviors.TTree.TTree, uproot.behaviors.RNTuple.RNTuple)):
        raise InputError(
            f"{path}: {tree!r} is {kind_in_words(getattr(obj, 'classname', type(obj).__name__))}, "
            f"expected a TTree or an RNTuple; {_holds(file)}"
        )
    return obj
