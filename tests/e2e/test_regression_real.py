"""Regression on a real table, as a new user writes it: scikit-learn's diabetes data
(442 patients, 10 baseline measurements, disease progression a year later). The
spec names no metric and has no monitoring or register section: the defaults must
fit a regression (RMSE, concept drift on RMSE, no 0.5 floor on an error in the
target's units).
A planted leak (next year's lab value, a monotone function of the target) stops
training by name."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from ..conftest import run_cli

pytestmark = pytest.mark.slow
MEASUREMENTS = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def diabetes_table() -> pd.DataFrame:
    from sklearn.datasets import load_diabetes

    df = load_diabetes(as_frame=True, scaled=False).frame
    df.insert(0, "patient", [f"P{i:03d}" for i in range(len(df))])
    return df.rename(columns={"target": "progression"})


def spec(name: str, columns: list[str]) -> str:
    schema = "\n".join(f"      {c}: {{type: float}}" for c in [*columns, "progression"])
    return f"""\
name: {name}
version: 0.1.0
spec:
  task: regression
  target: progression
  entity: patient
  inputs: [patient, {", ".join(columns)}]
data:
  sources:
    - name: patients
      uri: data/patients.csv
      format: csv
expectations:
  schema:
    patients:
      patient: {{type: string, nullable: false, unique: true}}
{schema}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("diabetes") / "repo"
    table = diabetes_table()
    for name, frame, columns in (
        ("diabetes", table, MEASUREMENTS),
        ("leaky", table.assign(lab_next_year=table["progression"] * 0.8 + 12.0), [*MEASUREMENTS, "lab_next_year"]),
    ):
        (root / name / "data").mkdir(parents=True)
        frame.to_csv(root / name / "data" / "patients.csv", index=False)
        (root / name / "system.yaml").write_text(spec(name, columns))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def test_regression_with_default_sections_trains_registers_and_monitors(project: Path, tmp_path: Path) -> None:
    out = run_cli("compile", "diabetes/system.yaml", cwd=project)
    assert out.returncode == 0, out.stderr
    run = run_cli("run", "build/diabetes", "--quiet", cwd=project)
    assert run.returncode == 0, run.stdout + run.stderr
    built = project / "build" / "diabetes"
    metrics = json.loads((built / "reports" / "metrics.json").read_text())
    assert metrics["test"]["rmse"] < 0.9 * metrics["baseline_test"]["rmse"]  # beats the training mean clearly
    assert metrics["baseline_test"]["rule"].startswith("always the training mean")
    assert metrics["leakage"]["single_feature_score"] == "|Spearman rank correlation|"
    register = json.loads((built / "reports" / "register.json").read_text())
    assert register["registered"] and register["min_metric"] is None

    table = diabetes_table()
    table.drop(columns=["progression"]).to_csv(tmp_path / "later.csv", index=False)
    table[["patient", "progression"]].to_csv(tmp_path / "labels.csv", index=False)
    mon = run_cli(
        "monitor", "build/diabetes", "--current", str(tmp_path / "later.csv"), "--labels", str(tmp_path / "labels.csv"),
        cwd=project,
    )  # fmt: skip
    assert mon.returncode == 0, mon.stdout + mon.stderr
    assert "rmse = " in mon.stdout and "on 442 labelled predictions (100% coverage)" in mon.stdout

    # a ceiling written for an error metric: the test RMSE is above it, and the message says so
    assert run_cli("compile", "diabetes/system.yaml", "training.register.min_metric=20", cwd=project).returncode == 0
    capped = run_cli("run", "build/diabetes", "--quiet", cwd=project)
    assert capped.returncode == 1 and "is above register.min_metric 20" in capped.stderr


def test_a_monotone_copy_of_the_target_stops_training(project: Path) -> None:
    assert run_cli("compile", "leaky/system.yaml", cwd=project).returncode == 0
    run = run_cli("run", "build/leaky", "--quiet", cwd=project)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "target leakage suspected: single-feature |Spearman rank correlation|" in run.stderr
    assert "lab_next_year" in run.stderr
