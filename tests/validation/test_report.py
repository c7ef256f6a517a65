"""report.html: one self-contained page; its structure checked with the standard library's HTML parser."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from evgen.validation.compare import validate
from evgen.validation.consistency import ConsistencyReport, TwoSampleResult
from evgen.validation.report import report_html, write_report
from tests.conftest import make_collider_events


@dataclass
class ParsedReport:
    tables: set[str] = field(default_factory=set)
    rows: dict[str, int] = field(default_factory=dict)
    figures: dict[str, bytes] = field(default_factory=dict)
    external: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.report = ParsedReport()
        self._table: str | None = None
        self._figure: str | None = None
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if key in a and not a[key].startswith(("data:", "#")):
                self.report.external.append(a[key])
        if tag == "link" or tag == "script" and "src" in a:
            self.report.external.append(tag)
        if tag == "table":
            self._table = a.get("id", "")
            self.report.tables.add(self._table)
            self.report.rows[self._table] = 0
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._table is not None and self._in_body:
            self.report.rows[self._table] += 1
        elif tag == "figure":
            self._figure = a.get("id", "")
        elif tag == "img":
            src = a["src"]
            assert src.startswith("data:image/png;base64,"), src[:40]
            self.report.figures[self._figure or "?"] = base64.b64decode(src.split(",", 1)[1], validate=True)

    def handle_endtag(self, tag):
        if tag == "table":
            self._table, self._in_body = None, False
        elif tag == "tbody":
            self._in_body = False
        elif tag == "figure":
            self._figure = None


def parse_report(page: str) -> ParsedReport:
    """Tables (by id, with their body rows), embedded figures (decoded) and any external reference."""
    parser = _Parser()
    parser.feed(page)
    parser.close()
    report = parser.report
    assert report.external == [], report.external
    for name, png in report.figures.items():
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2_000, name
    return report


@pytest.fixture(scope="module")
def summary():
    reference, generated = make_collider_events(600, seed=1), make_collider_events(600, seed=2)
    return validate(reference, generated, bins=8, plots=False)


def _consistency() -> ConsistencyReport:
    return ConsistencyReport(
        {
            n: TwoSampleResult(auc=0.5 + n / 100, auc_error=0.01, n_test=300, n_train=300, multiplicity=n)
            for n in (1, 2, 3)
        }
    )


def _run_metadata(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    history = {
        s: [{"epoch": e, "loss": 3.0 - e / 10, "val_loss": 3.1 - e / 10} for e in (1, 2, 3)]
        for s in ("base", "j2")
    }
    (run / "history.json").write_text(json.dumps(history))
    return {
        "generator": "zjets-inn",
        "run_dir": str(run),
        "n_events": 600,
        "created": "2026-01-01T00:00:00+00:00",
        "evgen_version": "0.1.0",
        "config": {"seed": 4, "base": {"blocks": 2}},
        "provenance": {
            "seed": 4,
            "command": ["evgen", "train", "zjets-inn", "--data", "x<y>.root"],
            "data_files": [{"path": "/data/zjets.root", "sha256": "ab" * 32}],
            "time": "2026-01-01T00:00:00+00:00",
        },
        "generation": {"seed": 1, "device": "cpu", "format": "rntuple", "chunk_size": 100, "magic": True},
    }


def test_full_report_structure(summary, tmp_path):
    path = write_report(
        summary, tmp_path / "val", consistency=_consistency(), metadata=_run_metadata(tmp_path)
    )
    assert path.name == "report.html" and not any(p.name.endswith(".tmp") for p in path.parent.iterdir())
    page = path.read_text()
    report = parse_report(page)
    multiplicities = sorted({r.multiplicity for r in summary.results})
    per_multiplicity = {f"comparison-{n}j" for n in multiplicities}
    assert (
        report.tables == {"overview", "fractions", "consistency", "provenance", "training"} | per_multiplicity
    )
    assert set(report.figures) == {f"figure-{n}j" for n in multiplicities} | {"figure-training"}
    assert sum(report.rows[t] for t in per_multiplicity) == len(summary.results)
    for n in multiplicities:
        assert report.rows[f"comparison-{n}j"] == sum(r.multiplicity == n for r in summary.results)
        assert f'id="multiplicity-{n}j"' in page and f'href="#multiplicity-{n}j"' in page
    assert report.rows["overview"] == len(multiplicities)
    assert report.rows["fractions"] == 3 and report.rows["consistency"] == 3 and report.rows["training"] == 2
    assert "0.510 ± 0.010" in page and "0.530 ± 0.010" in page
    first = summary.results[0]
    assert f"{first.comparison.chi2_ndf:.2f}" in page
    for n, value in summary.counts["reference"].items():
        assert f"{value:.4f}" in page, n
    assert "x&lt;y&gt;.root" in page and "x<y>.root" not in page  # escaped
    assert "ab" * 32 in page


def test_without_consistency_run_or_figures(summary, tmp_path):
    report = parse_report(report_html(summary, figures=False))
    assert report.tables == {"overview", "fractions", "comparison-1j", "comparison-2j", "comparison-3j"}
    assert report.figures == {}
    metadata = _run_metadata(tmp_path)
    metadata["run_dir"] = str(tmp_path / "gone")
    page = report_html(summary, metadata=metadata)
    report = parse_report(page)
    assert "provenance" in report.tables and "training" not in report.tables
    assert "No training curves" in page and "gone" in page
    assert "figure-training" not in report.figures and "figure-1j" in report.figures
