"""A real data set, as a new user brings it: the Wisconsin breast-cancer table that
ships with scikit-learn (569 biopsies, 30 measurements), exported as a CSV with its
own headers ("mean radius", ...). The spec renames the columns at the source, has
no features section (each input is a feature as it is) and no event time (random
split, k-fold CV); compile, run, serve and score a batch that keeps the file's
headers, through the documented commands only."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from ..conftest import free_port, identifier, request_body, run_cli, wait_http

pytestmark = pytest.mark.slow


def cancer_table() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    df = load_breast_cancer(as_frame=True).frame
    df.insert(0, "patient id", [f"P{i:04d}" for i in range(len(df))])
    df["diagnosis"] = np.where(df.pop("target") == 0, "malignant", "benign")
    return df


def spec(measurements: list[str], *, rename: bool = True) -> str:
    names = [identifier(c) for c in measurements] if rename else [f"'{c}'" for c in measurements]
    mapping = ", ".join(f"'{c}': {identifier(c)}" for c in ["patient id", *measurements])
    schema = "\n".join(f"      {n}: {{type: float, min: 0}}" for n in names)
    return f"""\
name: cancer
version: 0.1.0
spec:
  task: binary_classification
  target: diagnosis
  entity: patient_id
  inputs: [patient_id, {", ".join(names)}]
  metric: {{name: roc_auc}}
data:
  sources:
    - name: biopsies
      uri: data/biopsies.csv
      format: csv
      {"rename: {" + mapping + "}" if rename else ""}
expectations:
  schema:
    biopsies:
      patient_id: {{type: string, nullable: false, unique: true}}
{schema}
      diagnosis: {{type: category, values: [malignant, benign]}}
training:
  hpo: {{trials: 3}}
serving: {{workers: 1}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real") / "repo"
    (root / "cancer" / "data").mkdir(parents=True)
    table = cancer_table()
    table.to_csv(root / "cancer" / "data" / "biopsies.csv", index=False)
    measurements = [c for c in table.columns if c not in ("patient id", "diagnosis")]
    (root / "cancer" / "system.yaml").write_text(spec(measurements))
    (root / "cancer" / "unrenamed.yaml").write_text(spec(measurements, rename=False))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def test_headers_that_are_not_identifiers_get_a_rename_hint(project: Path) -> None:
    out = run_cli("compile", "cancer/unrenamed.yaml", cwd=project)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert re.search(r"unrenamed\.yaml:7:\d+: error: spec\.inputs\[1\]: 'mean radius' is not an identifier", out.stderr)
    assert "rename: {'mean radius': mean_radius}" in out.stderr


def test_real_table_trains_serves_and_scores_with_its_own_headers(project: Path, tmp_path: Path) -> None:
    assert run_cli("compile", "cancer/system.yaml", cwd=project).returncode == 0
    run = run_cli("run", "build/cancer", "--quiet", cwd=project)
    assert run.returncode == 0, run.stdout + run.stderr
    built = project / "build" / "cancer"
    metrics = json.loads((built / "reports" / "metrics.json").read_text())
    assert len(metrics["feature_importance"]) == 30  # every measurement, no features section written
    assert metrics["test"]["roc_auc"] > 0.95 and metrics["baseline_test"]["roc_auc"] == 0.5
    assert json.loads((built / "reports" / "register.json").read_text())["registered"]

    table = cancer_table().iloc[:40]
    table.to_csv(tmp_path / "batch.csv", index=False)  # the file's own headers, renamed on the way in
    out = run_cli(
        "predict",
        "build/cancer",
        "--input",
        str(tmp_path / "batch.csv"),
        "--output",
        str(tmp_path / "scored"),
        cwd=project,
    )
    assert out.returncode == 0, out.stderr
    scored = pd.read_parquet(tmp_path / "scored").sort_values("row")
    assert scored["patient_id"].tolist() == table["patient id"].tolist()

    # a later batch and its delayed labels, both with the file's own headers
    everything = cancer_table()
    everything.drop(columns=["diagnosis"]).to_csv(tmp_path / "later.csv", index=False)
    everything[["patient id", "diagnosis"]].to_csv(tmp_path / "labels.csv", index=False)
    mon = run_cli(
        "monitor", "build/cancer", "--current", str(tmp_path / "later.csv"), "--labels", str(tmp_path / "labels.csv"),
        "--fail-on-alert", cwd=project,
    )  # fmt: skip
    assert mon.returncode == 0, mon.stdout + mon.stderr
    assert "on 569 labelled predictions (100% coverage)" in mon.stdout

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlwright", "serve", "build/cancer", "--port", str(port)], cwd=project
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        with httpx.Client() as client:
            for i in (0, 19, 39):
                body = request_body(table.iloc[i], "diagnosis")
                r = client.post(f"http://127.0.0.1:{port}/predict", json=body)
                assert r.status_code == 200, r.text
                assert r.json()["probability"] == pytest.approx(scored["probability"].iloc[i], abs=1e-6)
            wrong = client.post(f"http://127.0.0.1:{port}/predict", json={**body, "mean_radius": -1.0})
            assert wrong.status_code == 422 and wrong.json()["field"] == "mean_radius"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
