"""The churn system with its online store in DynamoDB (a real moto server on 127.0.0.1):
featurize materialises into the table, the endpoint reads from it and answers as the
SQLite build does, and the gates measure retrieval on it (#21 item 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ..conftest import FAST, free_port, generate, make_project, run_cli, wait_http

pytestmark = pytest.mark.slow
ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


def test_churn_serves_from_dynamodb_as_from_sqlite(tmp_path: Path, moto_url: str) -> None:
    project = make_project(tmp_path, "churn")
    generate(project, "churn", "--rows", "1500")
    dynamo = ["features.store.online.backend=dynamodb", f"features.store.online.endpoint={moto_url}"]
    out = run_cli("compile", "pipelines/churn/system.yaml", *FAST, *dynamo, cwd=project)
    assert out.returncode == 0, out.stderr
    run = run_cli("run", "build/churn", "--quiet", cwd=project, env=ENV)
    assert run.returncode == 0, run.stdout + run.stderr
    build = project / "build" / "churn"
    written = json.loads((build / "features" / "online.json").read_text())
    assert written["backend"] == "dynamodb" and written["written"] == written["entities"] > 100
    again = run_cli("run", "build/churn", "--stage", "featurize", "--force", "--quiet", cwd=project, env=ENV)
    assert again.returncode == 0 and json.loads((build / "features" / "online.json").read_text())["written"] == 0
    gates = json.loads((build / "reports" / "gates.json").read_text())["gates"]
    assert gates[3]["verdict"] == "passed" and "real entities" in gates[3]["value"], gates[3]

    ids = [f"C{i:06d}" for i in range(5)]
    got = run_cli("features", "get", "build/churn", *ids, cwd=project, env=ENV)
    assert got.returncode in (0, 1), got.stderr
    features = json.loads(got.stdout)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlwright", "serve", "build/churn", "--port", str(port)],
        cwd=project,
        env={**os.environ, **ENV},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/ready")
        assert httpx.get(f"http://127.0.0.1:{port}/ready").status_code == 200
        known = next(i for i, f in features.items() if f is not None)
        body = {"customer_id": known, "plan": "pro", "monthly_fee": 50.0, "support_tickets": 1, "country": "US"}
        r = httpx.post(f"http://127.0.0.1:{port}/predict", json=body)
        assert r.status_code == 200 and not r.json().get("missing_features"), r.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
