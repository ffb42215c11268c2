"""Tracking into an MLflow tracking server, the "any tracking URI the spec names"
case: a real `mlflow server` on 127.0.0.1 with its own store and proxied artifacts.
The run, its trials, its artifacts (uploaded through the server) and a registry
version with its alias must land there; MLflow's console output for remote runs
must not disturb the worker's protocol."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mlwright.contract.train import Tracking
from mlwright.runtime.stores.tracking import RunRecord, Tracker, Trial

from ..conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def start_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
            "--artifacts-destination", str(folder / "server-artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/2.0/mlflow/experiments/search?max_results=1", timeout=5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise TimeoutError("mlflow server did not answer")


def test_runs_artifacts_and_registry_land_on_a_tracking_server(tmp_path: Path) -> None:
    proc, url = start_server(tmp_path)
    try:
        model = tmp_path / "build" / "candidate"
        model.mkdir(parents=True)
        (model / "model.txt").write_text("tree\n")
        with Tracker(
            Tracking(**{"backend": "mlflow", "uri": url, "experiment": "churn"}), tmp_path / "build"
        ) as tracker:
            run_id = tracker.publish(
                RunRecord(
                    "train",
                    {"stage": "train"},
                    {"num_leaves": 31},
                    {"test_roc_auc": 0.85},
                    {"model": model},
                    [Trial("trial-0", {"num_leaves": 15}, {"cv_mean": 0.8})],
                )
            )
            assert run_id
            assert tracker.register("churn", run_id, "model", "1.0.0", {}) == "1"
        import mlflow

        client = mlflow.tracking.MlflowClient(tracking_uri=url)
        run = client.get_run(run_id)
        assert run.data.params["num_leaves"] == "31" and run.data.metrics["test_roc_auc"] == 0.85
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # the server's store, not a local path
        assert [a.path for a in client.list_artifacts(run_id, "model")] == ["model/model.txt"]
        assert list((tmp_path / "server-artifacts").rglob("model.txt"))
        assert not (tmp_path / "build" / ".mlwright").exists()
        assert str(client.get_model_version_by_alias("churn", "champion").version) == "1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
