"""``report.html``: one self-contained page of a validation, to open in a browser and pass on.

The page holds, with every figure embedded as a PNG data URI (no other files, no
network): the weighted jet-multiplicity fractions, the χ²/ndf and δ[%] table, the
two-sample classifier AUC per multiplicity (when it ran), the validation figures,
and — when the generated file names the run that made it (``evgen generate`` writes
``run_dir`` and the run's provenance into the file's metadata) — the generator's
provenance and its training curves from ``history.json``.

>>> from evgen.validation.report import write_report
>>> write_report(summary, "val", consistency=report, metadata=read_metadata("gen.root"))  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evgen import __version__

if TYPE_CHECKING:
    from evgen.validation.consistency import ConsistencyReport
    from evgen.validation.results import ValidationSummary

__all__ = ["REPORT_NAME", "report_html", "write_report", "run_history"]

REPORT_NAME = "report.html"
#: χ²/ndf above which a row is marked (a visible, not a statistical, threshold).
CHI2_WARN = 3.0

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       color: #1a1a1a; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8em 0 1.4em; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; } td.text, th.text { text-align: left; }
tr.warn td { background: #fde8e8; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
details { margin: 0.5em 0 1.5em; }
"""


def _png(fig: Any) -> str:
    """A figure as a ``data:image/png;base64,...`` URI (the figure is closed)."""
    from evgen.plotting import pyplot

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
    pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _e(value: Any) -> str:
    return html.escape(str(value))


def _num(value: float, spec: str) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _table(
    table_id: str, header: list[str], rows: list[list[str]], row_classes: list[str] | None = None
) -> str:
    """An HTML table; cells are already escaped; the first column is left-aligned text."""
    head = "".join(f'<th class="text">{h}</th>' if i == 0 else f"<th>{h}</th>" for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{row_classes[r]}"' if row_classes and row_classes[r] else ""
        cells = "".join(
            f'<td class="text">{c}</td>' if i == 0 else f"<td>{c}</td>" for i, c in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _figure(uri: str, caption: str, figure_id: str) -> str:
    return (
        f'<figure id="{figure_id}"><img src="{uri}" alt="{_e(caption)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _fractions_section(summary: ValidationSummary) -> str:
    ns = sorted(set(summary.counts["reference"]) | set(summary.counts["generated"]))
    rows = [
        [_e(label)] + [_num(summary.counts[key].get(n, 0.0), ".4f") for n in ns]
        for key, label in (("reference", summary.reference_label), ("generated", summary.generated_label))
    ]
    ratio = []
    for n in ns:
        ref = summary.counts["reference"].get(n, 0.0)
        ratio.append(_num(summary.counts["generated"].get(n, 0.0) / ref if ref > 0 else math.nan, ".3f"))
    rows.append(["generated / reference", *ratio])
    return (
        "<h2>Jet-multiplicity fractions</h2><p>Weighted fractions of events per number of jets.</p>"
        + _table("fractions", ["sample", *(_jets(n) for n in ns)], rows)
    )


def _jets(n: int) -> str:
    return f"{n} jet{'s' if n != 1 else ''}"


def _overview_section(summary: ValidationSummary, consistency: ConsistencyReport | None) -> str:
    """One row per multiplicity: median and worst χ²/ndf, how many observables are off, the AUC."""
    rows, classes = [], []
    aucs = consistency.results if consistency is not None else {}
    for n in sorted({r.multiplicity for r in summary.results}):
        results = [r for r in summary.results if r.multiplicity == n]
        chi2 = [r.comparison.chi2_ndf for r in results]
        worst = max(results, key=lambda r: r.comparison.chi2_ndf)
        off = sum(c > CHI2_WARN for c in chi2)
        row = [
            f'<a href="#multiplicity-{n}j">{_jets(n)}</a>',
            _num(sorted(chi2)[len(chi2) // 2], ".2f"),
            f"{_e(worst.name)} ({_num(worst.comparison.chi2_ndf, '.2f')})",
            f"{off} of {len(results)}",
        ]
        if aucs:
            result = aucs.get(n)
            row.append("–" if result is None else f"{result.auc:.3f} ± {result.auc_error:.3f}")
        rows.append(row)
        classes.append("warn" if off else "")
    header = ["multiplicity", "median χ²/ndf", "worst observable (χ²/ndf)", f"χ²/ndf &gt; {CHI2_WARN:g}"]
    if aucs:
        header.append("classifier AUC")
    return "<h2>Overview</h2>" + _table("overview", header, rows, classes)


def _comparison_table(summary: ValidationSummary, n: int) -> str:
    rows, classes = [], []
    for r in summary.results:
        if r.multiplicity != n:
            continue
        d = r.to_dict()
        rows.append(
            [
                _e(r.name),
                _num(d["chi2"], ".1f"),
                str(d["ndf"]),
                _num(d["chi2_ndf"], ".2f"),
                _num(d["bulk_delta_percent"], ".2f"),
                _num(d["bulk_reference_error_percent"], ".2f"),
            ]
        )
        classes.append("warn" if d["chi2_ndf"] > CHI2_WARN else "")
    return _table(
        f"comparison-{n}j",
        ["observable", "χ²", "ndf", "χ²/ndf", "bulk δ [%]", "ref. stat. error [%]"],
        rows,
        classes,
    )


def _multiplicity_sections(summary: ValidationSummary, figures: bool) -> str:
    """Per multiplicity: the figure page and the χ²/ndf and δ table of its observables."""
    parts = [
        "<p>χ²/ndf compares unit-normalised shapes with both samples' statistical errors; "
        "δ[%] = 100·|gen − ref|/ref (Eq. 11), median over bulk bins (≥ 1 % of the peak bin), next to "
        f"the reference's own statistical error there. Rows with χ²/ndf &gt; {CHI2_WARN:g} are shaded.</p>"
    ]
    if figures:
        from evgen.validation.figures import validation_figure
    for n in sorted({r.multiplicity for r in summary.results}):
        parts.append(f'<section id="multiplicity-{n}j"><h2>Z + {_jets(n)}</h2>')
        if figures:
            parts.append(
                _figure(
                    _png(validation_figure(summary, n)),
                    f"Z + {_jets(n)}: {summary.generated_label} (orange) against {summary.reference_label} "
                    "(black); below each panel δ[%] with the reference's statistical error as a band",
                    f"figure-{n}j",
                )
            )
        parts.append(_comparison_table(summary, n))
        parts.append("</section>")
    return "".join(parts)


def _consistency_section(consistency: ConsistencyReport) -> str:
    rows = []
    for n, result in sorted(consistency.results.items(), key=lambda item: (item[0] is None, item[0] or 0)):
        rows.append(
            [
                "all" if n is None else str(n),
                f"{result.auc:.3f} ± {result.auc_error:.3f}",
                str(result.n_train),
                str(result.n_test),
            ]
        )
    return (
        "<h2>Two-sample classifier</h2><p>A fresh classifier per multiplicity tells reference from "
        "generated events (Sec. 4.3); AUC 0.5 means indistinguishable, errors from bootstrap.</p>"
        + _table("consistency", ["jets", "AUC", "training events", "test events"], rows)
    )


def run_history(metadata: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The training history of the run a generated file names, and where it came from (or why not)."""
    run_dir = metadata.get("run_dir")
    if not run_dir:
        return None, "the generated file names no run directory"
    path = Path(run_dir) / "history.json"
    if not path.exists():
        return None, f"{path} not found (the run directory moved or is on another machine)"
    try:
        return json.loads(path.read_text()), str(path)
    except (OSError, json.JSONDecodeError) as exc:
        return None, f"{path}: unreadable ({exc})"


def _provenance_section(metadata: Mapping[str, Any], figures: bool) -> str:
    from evgen.training.curves import loss_curves

    prov = metadata.get("provenance") or {}
    generation = metadata.get("generation") or {}
    rows = [
        ["generator", _e(metadata.get("generator", "?"))],
        ["run directory", _e(metadata.get("run_dir", "?"))],
        ["events in the file", _e(metadata.get("n_events", "?"))],
        ["written", _e(metadata.get("created", "?"))],
        ["evgen version (generation)", _e(metadata.get("evgen_version", "?"))],
    ]
    for key in ("seed", "device", "format", "chunk_size", "magic"):
        if key in generation:
            rows.append([f"generation {key}", _e(generation[key])])
    for key, label in (
        ("seed", "training seed"),
        ("evgen_version", "evgen version (training)"),
        ("time", "trained"),
        ("host", "training host"),
        ("n_events", "training events"),
    ):
        if key in prov:
            rows.append([label, _e(prov[key])])
    if prov.get("command"):
        rows.append(["training command", f"<code>{_e(' '.join(map(str, prov['command'])))}</code>"])
    for item in prov.get("data_files", []):
        rows.append(
            ["training file", f"{_e(item.get('path'))}<br><code>sha256 {_e(item.get('sha256'))}</code>"]
        )
    rows = [[f"<b>{k}</b>", v] for k, v in rows]
    body = [
        "<h2>Generator provenance</h2>",
        '<table id="provenance"><tbody>'
        + "".join(f'<tr><td class="text">{k}</td><td class="text">{v}</td></tr>' for k, v in rows)
        + "</tbody></table>",
    ]
    if metadata.get("config"):
        body.append(
            "<details><summary>training configuration</summary><pre>"
            + _e(json.dumps(metadata["config"], indent=2, sort_keys=True, default=str))
            + "</pre></details>"
        )
    history, source = run_history(metadata)
    curves = loss_curves(history) if history else {}
    body.append("<h2>Training curves</h2>")
    if not curves:
        body.append(f"<p>No training curves: {_e(source if history is None else 'no per-epoch losses')}.</p>")
        return "".join(body)
    rows = []
    for name, curve in curves.items():
        last_val = curve.get("val_loss", [math.nan])[-1]
        rows.append(
            [
                _e(name or "training"),
                str(len(curve["loss"])),
                _num(curve["loss"][0], ".4g"),
                _num(curve["loss"][-1], ".4g"),
                _num(last_val, ".4g"),
            ]
        )
    body.append(f"<p>From <code>{_e(source)}</code>.</p>")
    body.append(
        _table("training", ["network", "epochs", "first loss", "last loss", "last validation loss"], rows)
    )
    if figures:
        from evgen.plotting import training_curves_figure

        body.append(
            _figure(
                _png(training_curves_figure(curves)),
                "Loss (solid) and validation loss (dashed) per epoch",
                "figure-training",
            )
        )
    return "".join(body)


def report_html(
    summary: ValidationSummary,
    *,
    consistency: ConsistencyReport | None = None,
    metadata: Mapping[str, Any] | None = None,
    figures: bool = True,
    title: str | None = None,
) -> str:
    """The page as a string (see the module docstring); ``metadata`` is the generated file's."""
    title = title or f"Validation: {summary.generated_label} vs {summary.reference_label}"
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">evgen {_e(__version__)}, {created}</p>',
        _overview_section(summary, consistency),
        _fractions_section(summary),
    ]
    if consistency is not None and consistency.results:
        parts.append(_consistency_section(consistency))
    parts.append(_multiplicity_sections(summary, figures))
    if metadata and (metadata.get("generator") or metadata.get("run_dir")):
        parts.append(_provenance_section(metadata, figures))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(
    summary: ValidationSummary,
    output_dir: str | os.PathLike[str],
    *,
    consistency: ConsistencyReport | None = None,
    metadata: Mapping[str, Any] | None = None,
    figures: bool = True,
) -> Path:
    """Write ``report.html`` into ``output_dir`` (atomically); returns its path."""
    from evgen.files import atomic_write

    page = report_html(summary, consistency=consistency, metadata=metadata, figures=figures)
    return atomic_write(Path(output_dir) / REPORT_NAME, page)
