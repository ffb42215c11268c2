"""Serving under pressure: slow uploads wait outside the concurrency limit and get 408
past their deadline; keys and media types are compared as bytes and as media types;
SIGTERM lets an in-flight request finish and flushes its log line."""

from __future__ import annotations

import json
import os
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
HEADERS: dict[str, str | bytes] = {"Content-Type": "application/json", "X-API-Key": "clé-secrète".encode()}
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
            "serving.timeout_ms=2500",  # the body deadline: max(timeout, 1 s)
            cwd=project,
        ).returncode
        == 0
    )
    assert run_cli("run", "build/churn", "--quiet", cwd=project).returncode == 0
    return project / "build" / "churn"


@pytest.fixture
def server(built: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    env = {**os.environ, "MLWRIGHT_API_KEY": "clé-secrète"}  # a non-ASCII key, sent as its UTF-8 bytes
    proc = subprocess.Popen([sys.executable, "-m", "mlwright", "serve", str(built), "--port", str(port)], env=env)
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
            headers={**HEADERS, "X-Request-ID": "slow"},
            timeout=30,
        )
        out["status"] = r.status_code
    except httpx.HTTPError as exc:
        out["error"] = repr(exc)


def post(port: int, headers: dict[str, str | bytes], body: bytes = BODY) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}/predict", content=body, headers=headers, timeout=10)


def test_slow_uploads_wait_outside_the_concurrency_limit(server: tuple[subprocess.Popen[bytes], int]) -> None:
    _proc, port = server
    out: list[dict] = [{}, {}, {}]
    threads = [threading.Thread(target=slow_post, args=(port, 1.5, o)) for o in out]
    for t in threads:
        t.start()
    time.sleep(0.5)  # three uploads in progress, one slot
    assert [post(port, HEADERS).status_code for _ in range(10)] == [200] * 10
    for t in threads:
        t.join()
    assert out == [{"status": 200}] * 3


def test_an_upload_past_its_deadline_is_408_and_logged(
    server: tuple[subprocess.Popen[bytes], int], built: Path
) -> None:
    _proc, port = server
    out: dict = {}
    slow_post(port, 3.5, out)
    assert out == {"status": 408}, out
    for _ in range(50):  # the log is written by a background thread
        last = json.loads((built / "logs" / "predictions.jsonl").read_text().splitlines()[-1])
        if last["status"] == 408:
            break
        time.sleep(0.1)
    assert last["status"] == 408


def test_keys_and_media_types_are_compared_exactly(server: tuple[subprocess.Popen[bytes], int], built: Path) -> None:
    _proc, port = server
    log = built / "logs" / "predictions.jsonl"
    before = len(log.read_text().splitlines()) if log.exists() else 0
    wrong_key = {**HEADERS, "X-API-Key": "clé-fausse".encode()}
    assert post(port, wrong_key).status_code == 401  # not a 500
    assert post(port, {**HEADERS, "X-API-Key": "clé-secrète".encode("latin-1")}).status_code == 401  # other bytes
    assert post(port, {**HEADERS, "Content-Type": "APPLICATION/JSON; charset=utf-8"}).status_code == 200
    assert post(port, {**HEADERS, "Content-Type": "application/jsonx"}).status_code == 415
    for _ in range(50):  # the log is written by a background thread
        codes = [json.loads(line)["status"] for line in log.read_text().splitlines()[before:]]
        if len(codes) >= 4:
            break
        time.sleep(0.1)
    assert codes == [401, 401, 200, 415], "every answer is logged"


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
