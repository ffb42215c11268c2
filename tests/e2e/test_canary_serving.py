"""Canary over real HTTP: a new version registered while another is deployed gets
`canary.traffic` of requests; operators promote and roll back; the log alone
gives the same verdict."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ..conftest import free_port, generate, make_project, run_cli, wait_http

pytestmark = pytest.mark.slow
BODY = {"customer_id": "C000001", "plan": "basic", "monthly_fee": 20.0, "support_tickets": 3, "country": "DE"}


def _serve(project: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlwright", "serve", "build/churn", "--port", str(port)], cwd=project
    )
    wait_http(f"http://127.0.0.1:{port}/health")
    return proc


def _send(port: int, n: int, prefix: str) -> dict[str, int]:
    seen: dict[str, int] = {}
    with httpx.Client() as c:
        for i in range(n):
            r = c.post(f"http://127.0.0.1:{port}/predict", json=BODY, headers={"X-Request-ID": f"{prefix}-{i}"})
            assert r.status_code == 200
            v = r.json()["model_version"]
            seen[v] = seen.get(v, 0) + 1
    return seen


def test_canary_routes_promotes_and_rolls_back(tmp_path: Path) -> None:
    project = make_project(tmp_path, "churn")
    generate(project, "churn", "--rows", "2000")
    common = [
        "training.hpo.trials=2",
        "serving.workers=1",
        "serving.canary.duration=1h",
        "serving.canary.min_requests=50",
    ]
    assert run_cli("compile", "pipelines/churn/system.yaml", *common, cwd=project).returncode == 0
    assert run_cli("run", "build/churn", "--quiet", cwd=project).returncode == 0
    port = free_port()
    first = _serve(project, port)  # deploys v1.0.0 as the stable model
    assert _send(port, 20, "warm") == {"v1.0.0": 20}
    first.terminate()
    first.wait(timeout=20)
    # retrained under the same version: clients could not tell the two apart, so no canary
    seed = ["training.seed=5"]
    assert run_cli("compile", "pipelines/churn/system.yaml", *common, *seed, cwd=project).returncode == 0
    assert run_cli("run", "build/churn", "--quiet", cwd=project).returncode == 0
    same = run_cli("serve", "build/churn", "--port", str(port), cwd=project, timeout=120)
    assert same.returncode == 2 and "registered as v1.0.0, the version already being served" in same.stderr
    assert "bump `version` in the spec" in same.stderr and "Traceback" not in same.stderr
    # a new version is trained and registered while v1.0.0 is deployed
    assert (
        run_cli(
            "compile", "pipelines/churn/system.yaml", *common, "version=1.1.0", "training.seed=9", cwd=project
        ).returncode
        == 0
    )
    assert run_cli("run", "build/churn", "--quiet", cwd=project).returncode == 0
    proc = _serve(project, port)
    try:
        status = json.loads(run_cli("canary", "status", "build/churn", cwd=project).stdout)
        assert status["status"] == "running" and status["weight"] == 0.05
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", status["window_started"]), status
        split = _send(port, 2000, "a")
        assert abs(split.get("v1.1.0", 0) - 100) <= 40, split
        assert run_cli("canary", "promote", "build/churn", cwd=project).stdout.strip() == (
            "canary: candidate now gets 25% of traffic (step 2)"
        )
        split = _send(port, 2000, "b")
        assert abs(split.get("v1.1.0", 0) - 500) <= 80, split
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'mlwright_canary_weight{system="churn"} 0.25' in metrics
        assert run_cli("canary", "rollback", "build/churn", cwd=project).stdout.strip() == (
            "canary: rolled back; the stable model gets all traffic"
        )
        assert _send(port, 300, "c") == {"v1.0.0": 300}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    time.sleep(0.2)
    analyze = run_cli("canary", "analyze", "build/churn/logs/predictions.jsonl", "--min-requests", "50", cwd=project)
    verdict = json.loads(analyze.stdout, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    assert (
        analyze.returncode == 0
        and verdict["verdict"] == "promote"
        and verdict["candidate"]["model_version"] == "v1.1.0"
    )
    assert verdict["candidate"]["failures"] == 0 and verdict["stable"]["requests"] > 2000
