"""Missing values end to end, as a passenger list has them: a JSONL source where a
fifth of the ages and some ports are null. The spec writes `nullable: true` on
those columns, so the endpoint takes `null` for them, and a served prediction with
a missing age equals the batch prediction of the same row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from ..conftest import free_port, run_cli, wait_http

pytestmark = pytest.mark.slow

SPEC = """\
name: ship
version: 0.1.0
spec:
  task: binary_classification
  target: survived
  entity: passenger
  inputs: [passenger, cabin_class, sex, age, fare, embarked]
  metric: {name: roc_auc}
data:
  sources:
    - {name: passengers, uri: data/passengers.jsonl, format: jsonl}
expectations:
  schema:
    passengers:
      passenger: {type: int, unique: true, nullable: false}
      cabin_class: {type: category, values: [first, second, third], nullable: false}
      sex: {type: category, values: [female, male], nullable: false}
      age: {type: float, min: 0, max: 100, nullable: true}
      fare: {type: float, min: 0, nullable: false}
      embarked: {type: category, values: [S, C, Q], nullable: true}
      survived: {type: category, values: ["yes", "no"]}
training:
  hpo: {trials: 2}
serving: {workers: 1}
"""


def passengers(n: int = 900) -> list[dict]:
    rng = np.random.default_rng(5)
    cls = rng.choice(["first", "second", "third"], n, p=[0.25, 0.25, 0.5])
    sex = rng.choice(["female", "male"], n)
    age = rng.normal(30, 14, n).clip(1, 80)
    age[rng.random(n) < 0.2] = np.nan
    fare = rng.gamma(2, 20, n)
    embarked = rng.choice(["S", "C", "Q", "-"], n, p=[0.7, 0.18, 0.1, 0.02])
    logit = 2.0 * (sex == "female") - 1.2 * (cls == "third") + 0.01 * fare - 0.03 * np.nan_to_num(age, nan=30)
    survived = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return [
        {"passenger": i + 1, "cabin_class": str(cls[i]), "sex": str(sex[i]),
         "age": None if np.isnan(age[i]) else round(float(age[i]), 1), "fare": round(float(fare[i]), 2),
         "embarked": None if embarked[i] == "-" else str(embarked[i]), "survived": str(survived[i])}
        for i in range(n)
    ]  # fmt: skip


def test_null_inputs_declared_nullable_are_served_like_the_batch(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "ship" / "data").mkdir(parents=True)
    rows = passengers()
    (root / "ship" / "data" / "passengers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "ship" / "system.yaml").write_text(SPEC)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    assert run_cli("compile", "ship/system.yaml", cwd=root).returncode == 0
    run = run_cli("run", "build/ship", "--quiet", cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr

    missing = [r for r in rows if r["age"] is None and r["embarked"] is None][:2] + [
        r for r in rows if r["age"] is None
    ][:3]
    batch = pd.DataFrame([{k: v for k, v in r.items() if k != "survived"} for r in missing])
    batch.to_json(tmp_path / "batch.jsonl", orient="records", lines=True)
    out = run_cli(
        "predict", "build/ship", "--input", str(tmp_path / "batch.jsonl"), "--output", str(tmp_path / "scored"),
        cwd=root,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    scored = pd.read_parquet(tmp_path / "scored").sort_values("row")

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlwright", "serve", "build/ship", "--port", str(port)], cwd=root)
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        with httpx.Client() as client:
            for i, r in enumerate(missing):
                body = {k: v for k, v in r.items() if k != "survived"}
                got = client.post(f"http://127.0.0.1:{port}/predict", json=body)
                assert got.status_code == 200, got.text
                assert got.json()["probability"] == pytest.approx(scored["probability"].iloc[i], abs=1e-6)
            body = {k: v for k, v in missing[0].items() if k != "survived"}
            refused = client.post(f"http://127.0.0.1:{port}/predict", json={**body, "fare": None})
            assert refused.status_code == 422 and refused.json()["field"] == "fare"  # nullable: false
            left_out = client.post(
                f"http://127.0.0.1:{port}/predict", json={k: v for k, v in body.items() if k != "age"}
            )
            assert left_out.status_code == 422 and left_out.json()["field"] == "age"  # null must be sent
    finally:
        proc.terminate()
        proc.wait(timeout=20)
