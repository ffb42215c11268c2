"""End to end for images: DICOM in, base64 requests served, scanner upgrade refused."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pydicom
import pytest

from ..conftest import free_port, generate, make_project, run_cli

pytestmark = pytest.mark.slow
# A smoke-sized model: the mechanics are under test here, not the CNN's skill.
FAST = ["training.hpo.trials=2", "training.params.epochs=4", "training.register.min_metric=0.0"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("ct"), "brain_ct")
    generate(project, "brain_ct", "--rows", "160")
    assert run_cli("compile", "pipelines/brain_ct/system.yaml", *FAST, cwd=project).returncode == 0
    run = run_cli("run", "build/brain_ct", "--quiet", cwd=project)
    assert run.returncode == 0, run.stdout + run.stderr
    return project


def _incoming(project: Path) -> list[Path]:
    return sorted((project / "pipelines" / "brain_ct" / "data" / "brain_ct" / "incoming").rglob("*.dcm"))


def test_pipeline_outputs(project: Path) -> None:
    built = project / "build" / "brain_ct"
    rows = (built / "data" / "manifest.csv").read_text().splitlines()
    assert len(rows) == 1 + 160 + 1 and any(r.startswith("data/brain_ct/slices/p0000/s00000.dcm,") for r in rows)
    offline = json.loads((built / "features" / "offline" / "_metadata.json").read_text())
    assert offline["images"] == "images.npy" and offline["rows"] == 160
    bundle = json.loads((built / "models" / "registered" / "bundle.json").read_text())
    assert (
        bundle["backend"] == "torch" and bundle["model_version"] == "v2.1.0" and bundle["image"]["size"] == [128, 128]
    )
    profile = json.loads((built / "models" / "registered" / "reference" / "profile.json").read_text())
    assert {"image_mean", "image_std", "patient_age", "scanner_model"} <= set(profile)
    gates = {g["stage"]: g for g in json.loads((built / "reports" / "gates.json").read_text())["gates"]}
    assert sorted(gates) == [1, 2, 3, 4, 5, 6, 7]  # the acceptance table, written at the end of the run
    assert gates[3]["verdict"] == "passed" and gates[4]["verdict"] == "passed", gates
    assert all(g["verdict"] in ("passed", "failed", "not measured") for g in gates.values())


def wait_ready(url: str, timeout: float = 120.0) -> None:
    """Until /ready says 200: the model has answered once (warm-up) before it does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlwright", "serve", "build/brain_ct", "--port", str(port)], cwd=project
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/ready")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_served_image_prediction_equals_batch(server: str, project: Path, tmp_path: Path) -> None:
    files = _incoming(project)[:6]
    served = []
    for f in files:
        ds = pydicom.dcmread(f)
        body = {
            "image": base64.b64encode(f.read_bytes()).decode(),
            "patient_age": int(str(ds.PatientAge)[:3]),
            "scanner_model": str(ds.ManufacturerModelName),
        }
        r = httpx.post(f"{server}/predict", json=body, timeout=30)
        assert r.status_code == 200, r.text  # the first one too: no cold first call past the 1 s timeout
        assert set(r.json()) == {"prediction", "probability", "model_version", "latency_ms", "request_id"}
        served.append(r.json()["probability"])
    bad = httpx.post(
        f"{server}/predict", json={"image": "not base64!!", "patient_age": 40, "scanner_model": "Revolution CT"}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "image"
    junk = httpx.post(
        f"{server}/predict",
        json={"image": base64.b64encode(b"not a dicom").decode(), "patient_age": 40, "scanner_model": "Revolution CT"},
    )
    assert junk.status_code == 422 and junk.json()["field"] == "image"
    out = run_cli(
        "predict",
        "build/brain_ct",
        "--input",
        "pipelines/brain_ct/data/brain_ct/incoming/**/*.dcm",
        "--output",
        str(tmp_path / "pred"),
        cwd=project,
    )
    assert out.returncode == 0, out.stderr
    batch = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "pred").glob("part-*.parquet"))])
    assert len(batch) == len(_incoming(project))
    for prob, want in zip(batch.probability[:6], served, strict=True):
        assert prob == pytest.approx(want, abs=1e-6)


def test_scanner_upgrade_is_refused_by_validation_and_alerts_in_monitoring(project: Path, tmp_path: Path) -> None:
    upgraded = tmp_path / "upgraded"
    generate(project, "brain_ct", "--rows", "160", "--scanner-upgrade", "--out", str(upgraded))
    # the new scanner's incoming batch drifts on intensity
    out = run_cli(
        "monitor",
        "build/brain_ct",
        "--current",
        str(upgraded / "incoming" / "**" / "*.dcm"),
        "--fail-on-alert",
        cwd=project,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "ALERT covariate: image_mean" in out.stdout
    table = run_cli("gates", "build/brain_ct", "--fail", cwd=project)
    assert table.returncode == 1 and "7 observability failed" in table.stdout, table.stdout  # the alert turns row 7 red
    # and a training batch from it stops the pipeline at validation, naming pixel_mean
    data = project / "pipelines" / "brain_ct" / "data" / "brain_ct"
    shutil.rmtree(data / "slices")
    shutil.copytree(upgraded / "slices", data / "slices")
    shutil.copy(upgraded / "labels.csv", data / "labels.csv")
    refused = run_cli("run", "build/brain_ct", "--quiet", cwd=project)
    assert refused.returncode == 1 and "modified" in refused.stderr  # tampering is refused first
    run = run_cli("run", "build/brain_ct", "--new-data", "--quiet", cwd=project)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "stage 'validate' failed" in run.stderr and "distribution.slices.pixel_mean" in run.stderr
    report = json.loads((project / "build" / "brain_ct" / "reports" / "validation.json").read_text())
    pixel = next(e for e in report["expectations"] if e["id"] == "distribution.slices.pixel_mean")
    assert pixel["status"] == "failed" and 1.5 < pixel["observed"]["mean_shift_sd"] < 2.2
    gates = run_cli("gates", "build/brain_ct", cwd=project)
    assert gates.returncode == 0 and "3 validation    failed" in gates.stdout, gates.stdout  # and row 3 now
    assert os.path.exists(
        project / "build" / "brain_ct" / "models" / "registered" / "bundle.json"
    )  # the old model still serves
