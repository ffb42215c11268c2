"""The command line as a user first meets it: `--version` alone, and help that shows
no value placeholder after an on/off flag (they take none)."""

from __future__ import annotations

from pathlib import Path

from ..conftest import run_cli


def test_version_alone_answers(tmp_path: Path) -> None:
    out = run_cli("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("mlwright "), out.stdout + out.stderr


def test_flags_show_no_bool_placeholder(tmp_path: Path) -> None:
    out = run_cli("run", "--help", cwd=tmp_path, env={"COLUMNS": "120"})
    assert out.returncode == 0
    lines = {line.split()[1]: line for line in out.stdout.splitlines() if line.strip().startswith("│ --")}
    for flag in ("--force", "--new-data", "--quiet", "--help"):
        assert "<bool>" not in lines[flag], lines[flag]
    assert "<str>" in lines["--stage"], "an option that takes a value still says which"
