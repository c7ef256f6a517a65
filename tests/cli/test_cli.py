"""The CLI: --help everywhere, data info, validate writes what it promises."""

from __future__ import annotations

import json

import pytest

from evgen.cli import build_parser, main


def _all_commands(parser, prefix=()):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _all_commands(sub, (*prefix, name))


def test_every_command_has_help(capsys):
    commands = list(_all_commands(build_parser()))
    assert ("plugins",) in commands and ("data", "info") in commands and ("validate",) in commands
    for command in commands:
        with pytest.raises(SystemExit) as exc:
            main([*command, "--help"])
        assert exc.value.code == 0
        assert "usage: evgen" in capsys.readouterr().out


def test_data_info(collider_file, capsys):
    path, events = collider_file
    assert main(["data", "info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["events"] == len(events)
    assert sum(d["events"] for d in info["jet_multiplicity"].values()) == len(events)
    assert info["weights"]["sum"] == pytest.approx(float(events.weight.to_numpy().sum()))
    assert info["metadata"]["generator"] == "test"


def test_validate_writes_summary_and_plots(collider_file, tmp_path, capsys):
    path, _ = collider_file
    out = tmp_path / "val"
    assert main(["validate", str(path), str(path), "-o", str(out), "--bins", "10", "--formats", "png"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    rows = summary["observables"]
    assert {r["multiplicity"] for r in rows} == {1, 2, 3}
    # identical samples: every χ² is exactly zero
    assert all(r["chi2"] == 0.0 for r in rows)
    for n in (1, 2, 3):
        assert (out / f"validation_{n}j.png").stat().st_size > 10_000
    assert "| 2 | dR_j1j2 |" in (out / "summary.md").read_text()
