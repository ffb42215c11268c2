"""A re-run with nothing changed: `mlwright run` (verify sources + dvc repro,
every stage skipped) vs `dvc status` on the same project. Median of N each.

    python benchmarks/rerun.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    project = Path(tempfile.mkdtemp()) / "project"
    shutil.copytree(
        ROOT / "pipelines" / "churn", project / "pipelines" / "churn", ignore=shutil.ignore_patterns("data")
    )
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run([sys.executable, "pipelines/churn/generate.py"], cwd=project, check=True, capture_output=True)
    cli = [sys.executable, "-m", "mlwright"]
    subprocess.run(
        [*cli, "compile", "pipelines/churn/system.yaml", "training.hpo.trials=3"],
        cwd=project,
        check=True,
        capture_output=True,
    )
    subprocess.run([*cli, "run", "build/churn", "--quiet"], cwd=project, check=True, capture_output=True)
    runs: dict[str, list[float]] = {"mlwright run (no change)": [], "dvc status": []}
    for _ in range(a.rounds):
        runs["mlwright run (no change)"].append(timed([*cli, "run", "build/churn", "--quiet"], project))
        runs["dvc status"].append(timed([sys.executable, "-m", "dvc", "status", "build/churn/dvc.yaml"], project))
    med = {k: statistics.median(v) for k, v in runs.items()}
    for k, v in med.items():
        print(f"  {k:26s} {v:6.2f} s")
    print(f"ratio: {med['mlwright run (no change)'] / med['dvc status']:.2f}x (target <= 1.5x)")
    shutil.rmtree(project.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
