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

from mlwright.contract.train import Tracking
from mlwright.runtime.context import UserError
from mlwright.runtime.stores.tracking import RunRecord, Tracker, Trial

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
    with Tracker(
        Tracking(**{"backend": "mlflow", "uri": "sqlite:///.mlwright/tracking.db", "experiment": "churn"}), tmp_path
    ) as tracker:
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
from mlwright.contract.train import Tracking
from mlwright.runtime.stores.tracking import RunRecord, Tracker
with Tracker(Tracking(backend="mlflow", uri="sqlite:///t.db", experiment="e"), Path({str(tmp_path)!r})) as t:
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
    with (
        Tracker(Tracking(**{"backend": "mlflow", "uri": "http://127.0.0.1:9", "experiment": "e"}), tmp_path) as tracker,
        unusable,
    ):
        tracker.publish(RunRecord("r", {}, {}, {}))


def test_a_worker_that_dies_is_reported_not_hung(tmp_path: Path) -> None:
    with Tracker(Tracking(**{"backend": "mlflow", "uri": "sqlite:///t.db", "experiment": "e"}), tmp_path) as tracker:
        tracker.warm_up()
        assert tracker._worker is not None
        tracker._worker.kill()
        tracker._worker.wait()
        with pytest.raises(UserError, match="unusable: the tracking worker exited"):
            tracker.publish(RunRecord("r", {}, {}, {}))


def test_tracking_off_starts_no_worker(tmp_path: Path) -> None:
    with Tracker(Tracking(**{"backend": "mlflow", "uri": "none", "experiment": "e"}), tmp_path) as tracker:
        tracker.warm_up()
        assert tracker._worker is None
        assert tracker.publish(RunRecord("r", {}, {}, {})) is None
    assert json.dumps(os.listdir(tmp_path)) == "[]"


def test_a_stashed_run_is_a_snapshot_published_once(tmp_path: Path) -> None:
    from mlwright.runtime.stores.outbox import OUTBOX, pending, publish_pending, stash

    model_dir = tmp_path / "candidate"
    model_dir.mkdir()
    (model_dir / "model.txt").write_text("first\n")
    record_id = stash(tmp_path, record(model_dir))
    (model_dir / "model.txt").write_text("a later train replaced it\n")  # before publishing
    assert [p.name for p in pending(tmp_path)] == [record_id]
    cfg = {"backend": "mlflow", "uri": "sqlite:///.mlwright/tracking.db", "experiment": "churn"}
    with Tracker(Tracking(**cfg), tmp_path) as tracker:
        published = publish_pending(tmp_path, tracker)
        assert list(published) == [record_id] and pending(tmp_path) == []
        assert tracker.run_for(record_id) == published[record_id]
        assert tracker.run_for("never-stashed") is None
    import mlflow

    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / '.mlwright' / 'tracking.db'}")
    run = client.get_run(published[record_id])
    assert run.data.tags["mlwright.record_id"] == record_id and run.info.status == "FINISHED"
    assert run.data.params["num_leaves"] == "31" and run.data.metrics["test_roc_auc"] == 0.85
    local = client.download_artifacts(run.info.run_id, "model/model.txt", str(tmp_path / "dl"))
    assert Path(local).read_text() == "first\n"
    children = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert len(children) == 2
    assert not list((tmp_path / OUTBOX).iterdir())


def test_publishing_a_record_again_finds_its_run_and_replaces_an_unfinished_one(tmp_path: Path) -> None:
    import mlflow

    model_dir = tmp_path / "candidate"
    model_dir.mkdir()
    (model_dir / "model.txt").write_text("tree\n")
    again = record(model_dir)
    again.tags["mlwright.record_id"] = "rec-1"
    cfg = {"backend": "mlflow", "uri": "sqlite:///t.db", "experiment": "e"}
    with Tracker(Tracking(**cfg), tmp_path) as tracker:
        first = tracker.publish(again)
        assert tracker.publish(again) == first  # crash between MLflow's commit and the outbox cleanup
    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 't.db'}")
    exp = client.get_experiment_by_name("e").experiment_id
    cut_off = client.create_run(exp, tags={"mlwright.record_id": "rec-2"}).info.run_id  # RUNNING: cut off
    again.tags["mlwright.record_id"] = "rec-2"
    with Tracker(Tracking(**cfg), tmp_path) as tracker:
        replaced = tracker.publish(again)
    assert replaced not in (first, cut_off)
    assert client.get_run(cut_off).info.lifecycle_stage == "deleted"
    parents = client.search_runs([exp], filter_string="tags.`mlwright.record_id` = 'rec-2'")
    assert [r.info.run_id for r in parents] == [replaced]


def test_waiting_records_stay_when_the_tracker_is_off_or_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlwright.runtime.stores.outbox import pending, publish_pending, stash

    stash(tmp_path, RunRecord("train", {}, {"a": 1}, {"m": 0.5}))
    with Tracker(Tracking(**{"backend": "mlflow", "uri": "none", "experiment": "e"}), tmp_path) as tracker:
        assert publish_pending(tmp_path, tracker) == {}
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with (
        Tracker(Tracking(**{"backend": "mlflow", "uri": "http://127.0.0.1:9", "experiment": "e"}), tmp_path) as tracker,
        pytest.raises(UserError),
    ):
        publish_pending(tmp_path, tracker)
    assert len(pending(tmp_path)) == 1


def test_a_damaged_record_is_one_line_naming_its_folder(tmp_path: Path) -> None:
    from mlwright.runtime.stores.outbox import load, pending, stash

    stash(tmp_path, RunRecord("train", {}, {"a": 1}, {"m": 0.5}))
    [folder] = pending(tmp_path)
    (folder / "record.json").write_text('{"name": "train"')
    with pytest.raises(UserError, match=rf"{folder}: unreadable run record"):
        load(folder)
    (folder / "record.json").write_text('{"name": "train"}')
    with pytest.raises(UserError, match="run record without"):
        load(folder)


def test_a_stash_cut_off_long_ago_is_cleared_and_never_published(tmp_path: Path) -> None:
    from mlwright.runtime.stores.outbox import OUTBOX, pending, stash

    box = tmp_path / OUTBOX
    (old := box / ".0-dead.staging").mkdir(parents=True)
    (fresh := box / ".1-busy.staging").mkdir()
    os.utime(old, (0, 0))
    stash(tmp_path, RunRecord("train", {}, {"a": 1}, {"m": 0.5}))
    assert not old.exists() and fresh.exists()  # another process may be writing that one
    assert len(pending(tmp_path)) == 1


# The same contract through Weights & Biases (offline), read back from its run files.
WANDB = {"backend": "wandb", "uri": "offline", "experiment": "churn"}


def wandb_runs(root: Path) -> list[dict[str, object]]:
    from ..wandb_log import records, run_files

    runs = []
    for path in run_files(root / ".mlwright" / "wandb"):
        run: dict[str, object] = {"artifacts": {}, "steps": 0, "summary": {}}
        for rec in records(path):
            kind = rec.WhichOneof("record_type")
            if kind == "run":
                run["job_type"], run["id"] = rec.run.job_type, rec.run.run_id
                run["config"] = {u.key: json.loads(u.value_json) for u in rec.run.config.update}
            elif kind == "history":
                run["steps"] = int(run["steps"]) + 1  # type: ignore[call-overload]
            elif kind == "summary":
                run["summary"].update({u.key: json.loads(u.value_json) for u in rec.summary.update if u.key})  # type: ignore[attr-defined]
            elif kind == "artifact":
                a = rec.artifact
                run["artifacts"][a.name] = (a.type, sorted(a.aliases), sorted(c.path for c in a.manifest.contents))  # type: ignore[index]
        runs.append(run)
    return runs


def test_run_trials_artifacts_and_registry_land_in_wandb_offline(tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    model_dir = tmp_path / "candidate"
    model_dir.mkdir()
    (model_dir / "model.txt").write_text("tree\n")
    with Tracker(Tracking(**WANDB), tmp_path) as tracker:
        run_id = tracker.publish(record(model_dir))
        assert run_id
        version = tracker.register("churn", run_id, "model", "1.2.0", {"dataset_version": "abc123"})
    assert version == "churn:1.2.0"
    train, registry = wandb_runs(tmp_path)
    assert train["job_type"] == "train" and train["id"] == run_id
    assert train["config"] == {"num_leaves": 31, "learning_rate": 0.1, "dataset_version": "abc123", "_wandb": {}}
    assert train["summary"]["test_roc_auc"] == 0.85 and "skipped_nan" not in train["summary"]  # type: ignore[index,operator]
    assert train["steps"] == 3  # a step per trial, then the trials table
    assert train["artifacts"]["churn-train-model"] == ("model", ["latest"], ["model.txt"])  # type: ignore[index]
    assert registry["job_type"] == "registry"
    assert registry["artifacts"]["churn"] == ("model", ["1.2.0", "champion", "latest"], ["model.txt"])  # type: ignore[index]


def test_a_stashed_run_is_published_once_in_wandb_and_the_stage_never_imports_it(tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    code = f"""
import sys
from pathlib import Path
from mlwright.runtime.stores.outbox import publish_pending, stash
from mlwright.contract.train import Tracking
from mlwright.runtime.stores.tracking import RunRecord, Tracker
root = Path({str(tmp_path)!r})
record_id = stash(root, RunRecord("train", {{"stage": "train"}}, {{"a": 1}}, {{"m": 0.5}}))
with Tracker(Tracking(**{WANDB!r}), root) as t:
    published = publish_pending(root, t)
    assert t.run_for(record_id) == published[record_id] and t.run_for("never") is None
with Tracker(Tracking(**{WANDB!r}), root) as t:  # a new worker: the index beside the runs remembers
    assert t.run_for(record_id) == published[record_id]
print("wandb" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    assert [r["job_type"] for r in wandb_runs(tmp_path)] == ["train"]


def test_a_wandb_record_published_again_is_not_a_second_run(tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    again = RunRecord("train", {"stage": "train", "mlwright.record_id": "rec-1"}, {"a": 1}, {"m": 0.5})
    with Tracker(Tracking(**WANDB), tmp_path) as tracker:
        first = tracker.publish(again)
        assert tracker.publish(again) == first  # crash between the run's end and the outbox cleanup
    assert len(wandb_runs(tmp_path)) == 1
