"""Documentation stays in step with the code: every hook is documented."""

from __future__ import annotations

import inspect
from pathlib import Path

from evgen import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_hook_is_documented():
    text = (DOCS / "plugins.md").read_text()
    hooks = [
        name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("evgen_")
    ]
    assert hooks
    for name in hooks:
        assert f"### {name}" in text, f"hook {name} is not documented in docs/plugins.md"
        assert inspect.getdoc(getattr(hookspecs, name)), f"hook {name} has no docstring"


def test_readme_starts_with_the_two_commands():
    readme = (DOCS.parent / "README.md").read_text().splitlines()
    block = readme[readme.index("```bash") + 1 : readme.index("```bash") + 3]
    assert block[0].startswith("bash scripts/quickstart.sh") and block[1].startswith("bash scripts/test.sh")
    ci = (DOCS.parent / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci


def test_readme_tour_runs(tmp_path, monkeypatch):
    readme = (DOCS.parent / "README.md").read_text()
    blocks = [b.split("```", 1)[0] for b in readme.split("```python\n")[1:]]
    assert blocks
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "m_mumu.png").stat().st_size > 5000
    assert (tmp_path / "tour-validation" / "summary.md").exists()


def test_every_readme_command_line_parses():
    """Each `evgen ...` line of the README's command tour is accepted by the CLI's parser."""
    import shlex

    from evgen.cli import build_parser

    readme = (DOCS.parent / "README.md").read_text()
    lines = [
        line.split("#", 1)[0].strip()
        for block in readme.split("```bash\n")[1:]
        for line in block.split("```", 1)[0].splitlines()
        if line.startswith("evgen ") and "..." not in line  # "..." marks an elided line
    ]
    assert len(lines) > 10
    parser = build_parser()
    for line in lines:
        args = parser.parse_args(shlex.split(line)[1:])
        assert callable(getattr(args, "func", None)), line
