"""Report writers shared by the studies: one JSON file and one Markdown page per result.

A study hands :func:`write_report` either a list of table rows (dicts with the same
keys) or a dict of results; the dict's scalars become a bullet list, its lists of
row dicts become tables, nested dicts become sub-sections. Values may be numbers,
strings, NumPy scalars/arrays or :class:`evgen.interfaces.Measurement` (written as
``{"value", "error"}`` in JSON and ``v ± e`` in Markdown). Files are written
atomically. :func:`save_figure` writes a matplotlib figure as PNG and PDF.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evgen import __version__
from evgen.files import atomic_write_text
from evgen.interfaces import Measurement

__all__ = ["to_jsonable", "markdown_table", "write_report", "save_figure"]


def to_jsonable(value: Any) -> Any:
    """Convert ``value`` to plain JSON types (NaN and inf become None)."""
    if isinstance(value, Measurement):
        return {"value": to_jsonable(value.value), "error": to_jsonable(value.error)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _cell(value: Any, precision: int = 4) -> str:
    if isinstance(value, Measurement):
        return format(value, f".{precision}g")
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return format(float(value), f".{precision}g")
    if isinstance(value, Mapping) and set(value) == {"value", "error"}:
        return _cell(Measurement(value["value"], value["error"]), precision)
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(_cell(v, precision) for v in value)
    return str(value).replace("|", "\\|")


def markdown_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, precision: int = 4
) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` (columns: union of keys, in order)."""
    if not rows:
        return "_(no rows)_\n"
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c, ""), precision) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def _is_table(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _markdown_section(content: Mapping[str, Any], level: int, precision: int) -> list[str]:
    out: list[str] = []
    scalars = {k: v for k, v in content.items() if not _is_table(v) and not _is_nested(v)}
    if scalars:
        out += [f"- **{k}**: {_cell(v, precision)}" for k, v in scalars.items()]
        out.append("")
    for key, value in content.items():
        if _is_table(value):
            out += [f"{'#' * level} {key}", "", markdown_table(value, precision=precision)]
        elif _is_nested(value):
            out += [f"{'#' * level} {key}", ""]
            out += _markdown_section(value, min(level + 1, 6), precision)
    return out


def _is_nested(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) != {"value", "error"}


def write_report(
    output_dir: str | Path,
    name: str,
    content: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
    description: str | None = None,
    precision: int = 4,
) -> dict[str, Path]:
    """Write ``name.json`` and ``name.md`` into ``output_dir``.

    Parameters
    ----------
    output_dir
        Directory (created if missing).
    name
        File stem, e.g. ``"matchev"``.
    content
        Table rows (a list of dicts) or a results dict (scalars, nested dicts, lists of rows).
    title, description
        Markdown heading (default ``name``) and a paragraph under it.
    precision
        Significant digits in Markdown.

    Returns
    -------
    dict
        ``{"json": path, "markdown": path}``.
    """
    output_dir = Path(output_dir)
    payload: dict[str, Any] = {"evgen_version": __version__}
    if description:
        payload["description"] = description
    if _is_table(content) or (isinstance(content, (list, tuple)) and not content):
        payload["rows"] = to_jsonable(list(content))
        body = [markdown_table(list(content), precision=precision)]
    elif isinstance(content, Mapping):
        payload.update(to_jsonable(content))
        body = _markdown_section(content, 2, precision)
    else:
        raise TypeError(f"report content must be a dict or a list of dicts; got {type(content).__name__}")
    lines = [f"# {title or name}", ""]
    if description:
        lines += [description, ""]
    lines += body
    lines += [f"_evgen {__version__}_", ""]
    paths = {"json": output_dir / f"{name}.json", "markdown": output_dir / f"{name}.md"}
    atomic_write_text(paths["json"], json.dumps(payload, indent=2, allow_nan=False) + "\n")
    atomic_write_text(paths["markdown"], "\n".join(lines))
    return paths


def save_figure(
    fig: Any, output_dir: str | Path, name: str, formats: Sequence[str] = ("png", "pdf")
) -> list[Path]:
    """Save a matplotlib figure as ``name.png`` and ``name.pdf`` in ``output_dir`` and close it."""
    import matplotlib.pyplot as plt

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = output_dir / f"{name}.{fmt}"
        fig.savefig(path, dpi=150 if fmt == "png" else None, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths
