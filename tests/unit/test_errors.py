"""The error corpus: every bad spec names file:line:col and the key, with no traceback."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlwright.cli import app
from mlwright.compiler import SpecError, compile_system

ERRORS = Path(__file__).resolve().parents[1] / "errors"
CASES = sorted(p.name for p in ERRORS.glob("*.yaml"))
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): error: (?P<rest>.+)$")


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES)
def test_bad_spec_is_reported_where_it_is(
    case: str, update_golden: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(ERRORS)
    started = time.perf_counter()
    with pytest.raises(SpecError) as info:
        compile_system(Path(case), [], tmp_path / "out")
    assert time.perf_counter() - started < 5.0  # an alias bomb is refused at once, not expanded
    rendered = info.value.render() + "\n"
    expected = ERRORS / case.replace(".yaml", ".expected")
    if update_golden:
        expected.write_text(rendered)
    assert rendered == expected.read_text()
    first = LINE.match(rendered.splitlines()[0])
    assert first, rendered
    assert first["file"] == case
    assert int(first["line"]) >= 1 and int(first["col"]) >= 1 or case.startswith(("062_", "063_"))
    assert not list((tmp_path / "out").glob("*")), "nothing is written for a bad spec"


@pytest.mark.parametrize("case", CASES)
def test_cli_prints_no_traceback(case: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ERRORS)
    result = CliRunner().invoke(app, ["compile", case, "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.output.startswith(f"{case}:")


def test_process_exit_code_and_contract_line(tmp_path: Path) -> None:
    spec = ERRORS / "011_enum_split_tme.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "mlwright", "compile", spec.name, "-o", str(tmp_path)],
        cwd=ERRORS,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert (
        proc.stderr.splitlines()[0]
        == f"{spec.name}:37:21: error: training.split.strategy: 'tme' is not one of: time, random (did you mean 'time'?)"
    )


def test_override_errors_point_at_the_override(tmp_path: Path) -> None:
    spec = Path(__file__).resolve().parents[2] / "pipelines" / "churn" / "system.yaml"
    with pytest.raises(SpecError) as info:
        compile_system(spec, ["training.hpo.trials=1", "training.split.strategy=tme"], tmp_path)
    assert info.value.diagnostics[0].render().startswith("<override>:2:25: error: training.split.strategy:")


def test_template_strings_come_out_literally(tmp_path: Path) -> None:
    text = (
        (ERRORS / "001_syntax_unclosed_flow.yaml")
        .read_text()
        .replace("inputs: [user_id, amount, kind", "inputs: [user_id, amount, kind]")
    )
    text = text.replace("description: Predict a label.", "description: '{{ 7*7 }} {% if 1 %}x{% endif %}'")
    spec = tmp_path / "system.yaml"
    spec.write_text(text)
    compiled = compile_system(spec, [], tmp_path / "out")
    assert "{{ 7*7 }} {% if 1 %}x{% endif %}" in compiled.files["ml_spec.md"].decode()
    assert "49" not in compiled.files["ml_spec.md"].decode().split("## Why this system exists")[1].split("##")[0]
