"""Experiment tracking through the worker process, against a real MLflow SQLite store:
what lands in MLflow (run, nested trials, params, metrics, artifacts, registry version
with its alias), that the stage process never imports MLflow, and that an unusable
tracker is a one-line error naming the URI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlwright.runtime.context import UserError
from mlwright.runtime.tracking import RunRecord, Tracker, Trial

# MLflow, imported here only to read back what the worker wrote, warns about its own SQLAlchemy use
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def record(model_dir: Path) -> RunRecord:
    return RunRecord(
        "train",
        {"stage": "train", "dataset_version": "abc123"},
        {"num_leaves": 31, "learning_rate": 0.1, "dataset_version": "abc123"},
        {"test_roc_auc": 0.85, "cv_mean": 0.8, "skipped_nan": float("nan")},
        {"model": model_dir},
        [
            Trial("trial-0", {"num_leaves": 15}, {"cv_mean": 0.78}),
            Trial("trial-1", {"num_leaves": 63}, {"cv_mean": 0.8}),
        ],
    )


def test_run_trials_artifacts_and_registry_land_in_mlflow(tmp_path: Path) -> None:
    model_dir = tmp_path / "candidate"
    model_dir.mkdir()
    (model_dir / "model.txt").write_text("tree\n")
    with Tracker({"uri": "sqlite:///.mlwright/tracking.db", "experiment": "churn"}, tmp_path) as tracker:
        tracker.warm_up()
        run_id = tracker.publish(record(model_dir))
        assert run_id
        version = tracker.register("churn", run_id, "model", "1.2.0", {"dataset_version": "abc123"})
    assert version == "1"
    import mlflow

    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / '.mlwright' / 'tracking.db'}")
    run = client.get_run(run_id)
    assert run.data.params["num_leaves"] == "31" and run.data.metrics["test_roc_auc"] == 0.85
    assert "skipped_nan" not in run.data.metrics and run.data.tags["dataset_version"] == "abc123"
    children = client.search_runs([run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'")
    assert sorted(r.data.params["num_leaves"] for r in children) == ["15", "63"]
    assert [a.path for a in client.list_artifacts(run_id, "model")] == ["model/model.txt"]
    mv = client.get_model_version_by_alias("churn", "champion")
    assert str(mv.version) == "1" and mv.tags["model_version"] == "1.2.0" and mv.run_id == run_id


def test_the_stage_process_never_imports_mlflow(tmp_path: Path) -> None:
    code = f"""
import sys
from pathlib import Path
from mlwright.runtime.tracking import RunRecord, Tracker
with Tracker({{"uri": "sqlite:///t.db", "experiment": "e"}}, Path({str(tmp_path)!r})) as t:
    assert t.publish(RunRecord("r", {{}}, {{"a": 1}}, {{"m": 0.5}}))
print("mlflow" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    assert (tmp_path / "t.db").is_file()


def test_an_unreachable_tracking_server_is_one_line_naming_the_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    unusable = pytest.raises(UserError, match=r"experiment tracker at http://127\.0\.0\.1:9 is unusable")
    with Tracker({"uri": "http://127.0.0.1:9", "experiment": "e"}, tmp_path) as tracker, unusable:
        tracker.publish(RunRecord("r", {}, {}, {}))


def test_a_worker_that_dies_is_reported_not_hung(tmp_path: Path) -> None:
    with Tracker({"uri": "sqlite:///t.db", "experiment": "e"}, tmp_path) as tracker:
        tracker.warm_up()
        assert tracker._worker is not None
        tracker._worker.kill()
        tracker._worker.wait()
        with pytest.raises(UserError, match="unusable: the tracking worker exited"):
            tracker.publish(RunRecord("r", {}, {}, {}))


def test_tracking_off_starts_no_worker(tmp_path: Path) -> None:
    with Tracker({"uri": "none", "experiment": "e"}, tmp_path) as tracker:
        tracker.warm_up()
        assert tracker._worker is None
        assert tracker.publish(RunRecord("r", {}, {}, {})) is None
    assert json.dumps(os.listdir(tmp_path)) == "[]"
