"""A system written from scratch, not one of ours: regression on a JSONL source,
no event time (random split, k-fold CV), one-hot encoding, a derived feature,
through the documented commands only."""

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
name: housing
version: 0.1.0
spec:
  task: regression
  target: price
  entity: house_id
  inputs: [house_id, area, rooms, city]
  metric: {name: rmse}
data:
  sources:
    - {name: houses, uri: data/houses.jsonl, format: jsonl}
expectations:
  schema:
    houses:
      house_id: {type: string, nullable: false, unique: true}
      area: {type: float, min: 10, max: 1000}
      rooms: {type: int, min: 0}
      city: {type: category, values: [paris, lyon, lille, nice]}
      price: {type: float, min: 0}
features:
  entity: house_id
  definitions:
    - {name: area, from: houses, expr: area}
    - {name: rooms, from: houses, expr: rooms}
    - {name: city, from: houses, expr: city, encoding: one_hot}
    - {name: area_per_room, from: houses, expr: "area / greatest(rooms, 1)"}
training:
  backend: lightgbm
  split: {strategy: random}
  cv: {folds: 3, strategy: kfold}
  hpo: {trials: 3, space: {num_leaves: {type: int, low: 8, high: 64}}}
  register: {min_metric: 100000}
serving: {workers: 1}
monitoring:
  concept: {metric: rmse, max_relative_drop: 0.1}
"""
BASE = {"paris": 9000, "lyon": 5000, "lille": 3500, "nice": 6000}


def houses(n: int, seed: int, scale: float = 1.0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        area, rooms, city = float(rng.uniform(30, 250)), int(rng.integers(1, 7)), str(rng.choice(list(BASE)))
        price = area * BASE[city] * (1 + 0.03 * rooms) + rng.normal(0, 20000)
        out.append(
            {
                "house_id": f"H{i:05d}",
                "area": round(area * scale, 1),
                "rooms": rooms,
                "city": city,
                "price": round(price, 0),
            }
        )
    return out


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_regression_system_from_scratch(tmp_path: Path) -> None:
    project = tmp_path / "repo"
    write_jsonl(project / "housing" / "data" / "houses.jsonl", houses(3000, 3))
    (project / "housing" / "system.yaml").write_text(SPEC)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    assert run_cli("compile", "housing/system.yaml", cwd=project).returncode == 0
    run = run_cli("run", "build/housing", "--quiet", cwd=project)
    assert run.returncode == 0, run.stdout + run.stderr
    metrics = json.loads((project / "build/housing/reports/metrics.json").read_text())
    assert metrics["threshold"] is None and metrics["test"]["rmse"] < 60_000  # noise sd is 20k; prices up to ~2.5M
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlwright", "serve", "build/housing", "--port", str(port)], cwd=project
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        r = httpx.post(
            f"http://127.0.0.1:{port}/predict", json={"house_id": "x", "area": 80.0, "rooms": 3, "city": "lyon"}
        )
        assert r.status_code == 200 and r.json()["probability"] is None
        assert 300_000 < r.json()["prediction"] < 600_000  # 80 m2 in Lyon at ~5,000/m2
        bad = httpx.post(
            f"http://127.0.0.1:{port}/predict", json={"house_id": "x", "area": 80.0, "rooms": 3, "city": "marseille"}
        )
        assert bad.status_code == 422 and bad.json()["field"] == "city"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    out = run_cli("predict", "build/housing", "--input", "housing/data/houses.jsonl", "--output", "scored", cwd=project)
    assert out.returncode == 0, out.stderr
    assert len(pd.read_parquet(project / "scored")) == 3000
    # later: bigger areas and a new price level -> covariate and concept alerts
    write_jsonl(project / "later.jsonl", [{**h, "price": h["price"] * 0.7} for h in houses(1500, 4, scale=1.5)])
    mon = run_cli(
        "monitor",
        "build/housing",
        "--current",
        "later.jsonl",
        "--labels",
        "later.jsonl",
        "--fail-on-alert",
        cwd=project,
    )
    assert mon.returncode == 1, mon.stdout + mon.stderr
    assert "ALERT covariate: area" in mon.stdout and "ALERT concept: all" in mon.stdout
    clean = run_cli(
        "monitor",
        "build/housing",
        "--current",
        "housing/data/houses.jsonl",
        "--labels",
        "housing/data/houses.jsonl",
        "--fail-on-alert",
        cwd=project,
    )
    assert clean.returncode == 0, clean.stdout
