"""The emitted Dockerfile, built and run with a real engine on a locally made base.

Public registries are out of reach here, so the test makes the base image with
`debootstrap --variant=minbase` and imports it; dockerd runs with its own data
root and host networking; the CA bundle reaches the build as a BuildKit secret.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..conftest import free_port, generate, make_project, run_cli, wait_http

pytestmark = pytest.mark.slow
CA = "/etc/ssl/certs/ca-certificates.crt"


def _client() -> str | None:
    """A docker client that can build with BuildKit by itself (Debian's 20.10 one)."""
    for exe in ("/usr/bin/docker", shutil.which("docker")):
        if exe and os.path.exists(exe):
            version = subprocess.run(
                [exe, "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True
            ).stdout.strip()
            if version.split(".")[0].isdigit() and int(version.split(".")[0]) < 23:
                return exe
    return None


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    dockerd, client, debootstrap = shutil.which("dockerd"), _client(), shutil.which("debootstrap")
    if not (dockerd and client and debootstrap):
        pytest.skip("no container engine: apt-get install docker.io debootstrap (.ci/run installs them)")
    root = tmp_path_factory.mktemp("engine")
    sock = root / "d.sock"
    log = (root / "dockerd.log").open("w")
    proc = subprocess.Popen(
        [
            dockerd,
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "--pidfile",
            str(root / "pid"),
            "-H",
            f"unix://{sock}",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_BUILDKIT": "1"}
    for _ in range(100):
        if subprocess.run([client, "info"], env=env, capture_output=True).returncode == 0:
            break
        time.sleep(0.3)
    else:
        proc.terminate()
        pytest.skip(f"dockerd did not start here: {(root / 'dockerd.log').read_text()[-300:]}")
    rootfs = root / "rootfs"
    boot = subprocess.run(
        [
            debootstrap,
            "--variant=minbase",
            "--include=python3,python3-venv,ca-certificates",
            "bookworm",
            str(rootfs),
            "http://deb.debian.org/debian",
        ],
        capture_output=True,
        text=True,
    )
    assert boot.returncode == 0, boot.stdout[-500:] + boot.stderr[-500:]
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(
        [client, "import", "-", "mlwright-base:bookworm"], stdin=tar.stdout, env=env, check=True, capture_output=True
    )
    tar.wait()
    shutil.rmtree(rootfs, ignore_errors=True)
    try:
        yield {"client": client, **env}
    finally:
        subprocess.run([client, "rm", "-f", "mlwright-e2e"], env=env, capture_output=True)
        proc.terminate()
        proc.wait(timeout=30)
        with open("/proc/mounts") as fh:  # dockerd leaves its netns (and overlay) mounts behind
            mounts = [line.split()[1] for line in fh if line.split()[1].startswith(str(root))]
        for mount in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_emitted_dockerfile_builds_and_serves(engine: dict[str, str], tmp_path: Path) -> None:
    client = engine.pop("client")
    env = engine
    port = free_port()
    project = make_project(tmp_path, "churn")
    generate(project, "churn", "--rows", "2000")
    assert (
        run_cli(
            "compile", "pipelines/churn/system.yaml", "training.hpo.trials=2", f"serving.port={port}", cwd=project
        ).returncode
        == 0
    )
    run = run_cli("run", "build/churn", "--quiet", cwd=project)
    assert run.returncode == 0, run.stderr
    dist = project / "build" / "churn" / "dist"
    build = subprocess.run(
        [
            client,
            "build",
            "--network",
            "host",
            "--build-arg",
            "BASE_IMAGE=mlwright-base:bookworm",
            "--secret",
            f"id=ca,src={CA}",
            "-t",
            "churn:e2e",
            str(dist),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    assert (
        "ca-certificates.crt"
        not in subprocess.run(
            [client, "history", "--no-trunc", "churn:e2e"], env=env, capture_output=True, text=True
        ).stdout
    )
    started = subprocess.run(
        [client, "run", "-d", "--network", "host", "--name", "mlwright-e2e", "churn:e2e"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert started.returncode == 0, started.stderr
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", timeout=90)
    body = {"customer_id": "C000001", "plan": "basic", "monthly_fee": 20.0, "support_tickets": 3, "country": "DE"}
    r = httpx.post(f"{url}/predict", json=body, timeout=10)
    assert r.status_code == 200 and set(r.json()) == {
        "prediction",
        "probability",
        "model_version",
        "latency_ms",
        "request_id",
    }
    uid = subprocess.run(
        [client, "exec", "mlwright-e2e", "id", "-u"], env=env, capture_output=True, text=True
    ).stdout.strip()
    assert uid == "10001"
    health = ""
    for _ in range(60):
        health = subprocess.run(
            [client, "inspect", "-f", "{{.State.Health.Status}}", "mlwright-e2e"],
            env=env,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if health == "healthy":
            break
        time.sleep(1)
    assert health == "healthy"
    size = int(
        subprocess.run(
            [client, "image", "inspect", "-f", "{{.Size}}", "churn:e2e"], env=env, capture_output=True, text=True
        ).stdout.strip()
    )
    limit = json.loads((project / "build" / "churn" / "reports" / "package.json").read_text())["max_size_bytes"]
    print(f"image size {size / 1e9:.2f} GB (limit {limit / 1e9:.1f} GB)", file=sys.stderr)
    assert size < limit
