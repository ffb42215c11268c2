"""Serving under pressure: bounded concurrency answers 503 + Retry-After, and SIGTERM
lets an in-flight request finish and flushes its log line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..conftest import free_port, generate, make_project, run_cli, wait_http

pytestmark = pytest.mark.slow
BODY = json.dumps(
    {"customer_id": "C000001", "plan": "basic", "monthly_fee": 20.0, "support_tickets": 3, "country": "DE"}
).encode()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("limits"), "churn")
    generate(project, "churn", "--rows", "1500")
    assert (
        run_cli(
            "compile",
            "pipelines/churn/system.yaml",
            "training.hpo.trials=2",
            "serving.workers=1",
            "serving.max_concurrency=1",
            cwd=project,
        ).returncode
        == 0
    )
    assert run_cli("run", "build/churn", "--quiet", cwd=project).returncode == 0
    return project / "build" / "churn"


@pytest.fixture
def server(built: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlwright", "serve", str(built), "--port", str(port)])
    wait_http(f"http://127.0.0.1:{port}/health")
    yield proc, port
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=20)


def slow_post(port: int, hold: float, out: dict) -> None:
    """A request whose body arrives in two parts, `hold` seconds apart."""

    def body() -> Iterator[bytes]:
        yield BODY[:20]
        time.sleep(hold)
        yield BODY[20:]

    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/predict",
            content=body(),
            headers={"Content-Type": "application/json", "X-Request-ID": "slow"},
            timeout=30,
        )
        out["status"] = r.status_code
    except httpx.HTTPError as exc:
        out["error"] = repr(exc)


def test_saturated_server_answers_503_with_retry_after(server: tuple[subprocess.Popen[bytes], int]) -> None:
    _proc, port = server
    out: dict = {}
    t = threading.Thread(target=slow_post, args=(port, 2.0, out))
    t.start()
    time.sleep(0.5)  # the slow request holds the only slot
    r = httpx.post(f"http://127.0.0.1:{port}/predict", content=BODY, headers={"Content-Type": "application/json"})
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"
    t.join()
    assert out == {"status": 200}
    assert (
        httpx.post(
            f"http://127.0.0.1:{port}/predict", content=BODY, headers={"Content-Type": "application/json"}
        ).status_code
        == 200
    )


def test_sigterm_drains_in_flight_requests_and_flushes_the_log(
    server: tuple[subprocess.Popen[bytes], int], built: Path
) -> None:
    proc, port = server
    log = built / "logs" / "predictions.jsonl"
    before = len(log.read_text().splitlines()) if log.exists() else 0
    out: dict = {}
    t = threading.Thread(target=slow_post, args=(port, 1.5, out))
    t.start()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    t.join()
    assert out == {"status": 200}, out  # the in-flight request finished after SIGTERM
    assert proc.wait(timeout=20) in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM after draining
    lines = log.read_text().splitlines()
    assert len(lines) == before + 1 and json.loads(lines[-1])["request_id"] == "slow"
