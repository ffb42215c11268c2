"""Byte-identical builds from any working directory, hash seed and time zone."""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _compile(project: Path, cwd: Path, out: Path, seed: str, tz: str) -> dict[str, bytes]:
    env = {**os.environ, "PYTHONHASHSEED": seed, "TZ": tz}
    spec = os.path.relpath(project / "pipelines" / "churn" / "system.yaml", cwd)
    proc = subprocess.run(
        [sys.executable, "-m", "mlwright", "compile", spec, "-o", os.path.relpath(out, cwd)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_two_machines_build_identical_trees(tmp_path: Path) -> None:
    trees = []
    for i, (seed, tz) in enumerate((("1", "UTC"), ("4242", "Asia/Kolkata"))):
        project = tmp_path / f"clone{i}" / "work"
        shutil.copytree(
            ROOT / "pipelines" / "churn", project / "pipelines" / "churn", ignore=shutil.ignore_patterns("data")
        )
        cwd = project if i == 0 else project / "pipelines"
        trees.append(_compile(project, cwd, project / "build" / "churn", seed, tz))
    assert trees[0] == trees[1]
    user = getpass.getuser()
    for rel, body in trees[0].items():
        text = body.decode()
        assert str(tmp_path) not in text, f"absolute path in {rel}"
        assert f"/{user}/" not in text and f"/home/{user}" not in text, f"user name in {rel}"
        assert "2026-" not in text and "T00:00:00Z" not in text, f"timestamp-like text in {rel}"
        assert "\r\n" not in text


def test_check_exit_codes_and_diff_stages(tmp_path: Path) -> None:
    project = tmp_path / "p"
    shutil.copytree(
        ROOT / "pipelines" / "churn", project / "pipelines" / "churn", ignore=shutil.ignore_patterns("data")
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mlwright", *args], cwd=project, capture_output=True, text=True)

    assert cli("compile", "pipelines/churn/system.yaml").returncode == 0
    assert cli("compile", "pipelines/churn/system.yaml", "--check").returncode == 0
    stale = cli("compile", "pipelines/churn/system.yaml", "training.seed=7", "--check")
    assert stale.returncode == 1
    assert "+  seed: 7" in stale.stdout and "-  seed: 42" in stale.stdout
    diff = cli("diff", "pipelines/churn/system.yaml", "training.hpo.trials=50")
    assert diff.returncode == 0
    stages_line = next(line for line in diff.stdout.splitlines() if line.startswith("Stages re-run:"))
    assert stages_line == "Stages re-run: train, register, package"
    assert "training.hpo.trials: 30 -> 50" in diff.stdout
    # a stale file the compiler once emitted is removed, a run output is kept
    (project / "build" / "churn" / "reports").mkdir()
    (project / "build" / "churn" / "reports" / "keep.json").write_text("{}")
    assert cli("compile", "pipelines/churn/system.yaml").returncode == 0
    assert (project / "build" / "churn" / "reports" / "keep.json").is_file()
