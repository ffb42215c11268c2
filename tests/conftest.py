"""Shared fixtures: example projects in temp folders, free ports, real servers.

`pytest --update-golden` rewrites the golden trees and expected error messages
from the current output; review the resulting diff like code.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files from current output")


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


# A churn-sized pipeline in seconds: two trials, three folds, no tracker, fewer trees.
FAST = [
    "training.hpo.trials=2",
    "training.cv.folds=3",
    "training.tracking.uri=none",
    "training.params.n_estimators=100",
]


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """The real `mlwright` command, as a user runs it."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mlwright", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make_project(tmp: Path, *names: str) -> Path:
    """A git repository holding copies of example pipelines (without generated data)."""
    project = tmp / "project"
    for name in names:
        shutil.copytree(
            PIPELINES / name, project / "pipelines" / name, ignore=shutil.ignore_patterns("data", "__pycache__")
        )
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    return project


def generate(project: Path, name: str, *args: str) -> None:
    subprocess.run(
        [sys.executable, str(project / "pipelines" / name / "generate.py"), *args],
        cwd=project,
        check=True,
        capture_output=True,
    )


def venv_tool(name: str) -> str | None:
    """A console script of the running interpreter's environment, else from PATH.

    `make test PYTHON=venv/bin/python` need not put the venv on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


@pytest.fixture
def server_process() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        p.terminate()
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server (Debian package) on a free loopback port."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run installs it)")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def chromium_screenshot(html: Path, png: Path) -> str:
    """Render a page in headless Chromium; return the DOM it produced."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={png.parent / 'chrome-profile'}",
    ]
    subprocess.run(
        [exe, *flags, f"--screenshot={png}", "--window-size=1200,1600", html.as_uri()],
        capture_output=True,
        timeout=120,
        check=False,
    )
    dom = subprocess.run(
        [exe, *flags, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120, check=False
    )
    return dom.stdout


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A real moto server (AWS APIs over HTTP) on 127.0.0.1, for the whole session."""
    pytest.importorskip("moto")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(150):
        try:
            httpx.get(url, timeout=0.5)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """A real GCS emulator (PyPI gcp-storage-emulator) on 127.0.0.1, for the whole session."""
    exe = venv_tool("gcp-storage-emulator")
    if exe is None:
        pytest.skip("gcp-storage-emulator is not installed (the gcs extra)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(url, timeout=30)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def gcs_bucket(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty bucket `mlwright-test` in the emulator; gcsfs (and DVC through it) find
    the emulator by STORAGE_EMULATOR_HOST."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    import fsspec

    fs = fsspec.filesystem("gs", skip_instance_cache=True)
    if fs.exists("mlwright-test"):
        fs.rm("mlwright-test", recursive=True)
    fs.mkdir("mlwright-test")
    return "gs://mlwright-test"


# Azurite's documented development account (public, for emulators only)
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@pytest.fixture(scope="session")
def azurite() -> Iterator[str]:
    """A real Azure Blob emulator (npm azurite) on 127.0.0.1; its connection string."""
    exe = shutil.which("azurite-blob")
    if exe is None:
        pytest.skip("azurite is not installed (npm install -g azurite; `make system-deps` does)")
    port = free_port()
    proc = subprocess.Popen(
        [
            exe,
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--loose",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_http(f"http://127.0.0.1:{port}/devstoreaccount1?comp=list", timeout=30)
    yield (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def azure_container(azurite: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty container `mlwright-test`; adlfs and DVC read AZURE_STORAGE_CONNECTION_STRING."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite)
    import fsspec

    fs = fsspec.filesystem("az", connection_string=azurite, skip_instance_cache=True)
    if fs.exists("mlwright-test"):
        fs.rm("mlwright-test", recursive=True)
    fs.mkdir("mlwright-test")
    return "azure://mlwright-test"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials a local AWS emulator accepts (never real ones)."""
    for var, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(var, value)


@pytest.fixture
def s3_server(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> str:
    """The session's moto server as S3, with an empty bucket `mlwright-test` for this test."""
    pytest.importorskip("dvc_s3")
    for var, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_S3": moto_url,
    }.items():
        monkeypatch.setenv(var, value)
    import boto3

    s3 = boto3.resource("s3", endpoint_url=moto_url)
    bucket = s3.Bucket("mlwright-test")
    if bucket.creation_date is None:
        bucket.create()
    bucket.objects.all().delete()  # what an earlier test left is not this test's
    return moto_url


def identifier(column: str) -> str:
    """A file header as the spec's name for it ("mean radius" -> mean_radius)."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", column).strip("_").lower()


def request_body(row: Any, leave_out: str) -> dict[str, Any]:
    """A table row (pandas Series) as a /predict body under the spec's names."""
    return {identifier(k): (v.item() if hasattr(v, "item") else v) for k, v in row.items() if k != leave_out}
