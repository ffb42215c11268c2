"""`mlwright features get`: online values by entity id, exit 1 for unknown ids."""

from __future__ import annotations

import json

import pytest

from ..conftest import generate, make_project, run_cli

pytestmark = pytest.mark.slow


def test_features_get(tmp_path) -> None:  # type: ignore[no-untyped-def]
    project = make_project(tmp_path, "churn")
    generate(project, "churn", "--rows", "600")
    assert run_cli("compile", "pipelines/churn/system.yaml", cwd=project).returncode == 0
    run = run_cli("run", "build/churn", "--stage", "featurize", cwd=project)
    assert run.returncode != 0  # a single stage needs its upstream outputs first
    assert run_cli("run", "build/churn", "--quiet", cwd=project).returncode == 0
    ok = run_cli("features", "get", "build/churn", "C000001", cwd=project)
    assert ok.returncode == 0, ok.stderr
    row = json.loads(ok.stdout)["C000001"]
    assert set(row) == {
        "plan",
        "monthly_fee",
        "support_tickets",
        "country",
        "fee_per_ticket",
        "spend_90d",
        "payments_90d",
    }
    missing = run_cli("features", "get", "build/churn", "C000001", "nobody", cwd=project)
    assert missing.returncode == 1 and json.loads(missing.stdout)["nobody"] is None


def test_a_delta_offline_store_keeps_each_dataset_version_and_trains_as_of_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Through DVC: a second dataset version is a second Delta version (the folder is a
    persisted out, so DVC keeps the history), `features history` lists both, and
    training `as_of` the first reads its rows: the same metrics as the first run."""
    from mlwright.runtime.stages.featurize import load_offline

    project = make_project(tmp_path, "churn")
    generate(project, "churn", "--rows", "600")
    spec = "pipelines/churn/system.yaml"
    delta = "features.store.offline.format=delta"
    assert run_cli("compile", spec, delta, cwd=project).returncode == 0
    assert "persist: true" in (project / "build/churn/dvc.yaml").read_text()
    stages = ("ingest", "validate", "featurize", "train")

    def through_train(*flags: str) -> None:
        for stage in stages:
            done = run_cli("run", "build/churn", "--stage", stage, "--quiet", *flags, cwd=project)
            assert done.returncode == 0, done.stdout + done.stderr

    def scored() -> dict[str, object]:
        report = json.loads((project / "build/churn/reports/metrics.json").read_text())
        keys = ("dataset_version", "feature_set_hash", "params", "threshold", "validation", "test", "split_rows")
        return {k: report[k] for k in keys}

    through_train()
    first_metrics = scored()
    assert (
        first_metrics["dataset_version"]
        == json.loads((project / "build/churn/data/version.json").read_text())["version_id"]
    )
    first = json.loads((project / "build/churn/data/version.json").read_text())["version_id"]
    delta_table, _ = load_offline(project / "build/churn", "features/offline", "delta")

    # the same data through the Parquet store: the same training table, value for value
    assert run_cli("compile", spec, "-o", "build/pq", cwd=project).returncode == 0
    for stage in stages[:3]:
        assert run_cli("run", "build/pq", "--stage", stage, "--quiet", cwd=project).returncode == 0
    parquet_table, _ = load_offline(project / "build/pq", "features/offline", "parquet")
    assert delta_table.equals(parquet_table) and delta_table.schema == parquet_table.schema

    events = project / "pipelines/churn/data/events.csv"  # another version: the newest 60 events withdrawn
    events.write_text("".join(events.read_text().splitlines(keepends=True)[:-60]))
    through_train("--new-data")
    second = json.loads((project / "build/churn/data/version.json").read_text())["version_id"]
    assert second != first
    listed = run_cli("features", "history", "build/churn", cwd=project)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 and f"dataset {second}" in lines[0] and f"dataset {first}" in lines[1]
    assert scored() != first_metrics

    assert run_cli("compile", spec, delta, f"features.store.offline.as_of={first[:12]}", cwd=project).returncode == 0
    done = run_cli("run", "build/churn", "--stage", "train", "--quiet", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert scored() == first_metrics

    parquet = run_cli("features", "history", "build/pq", cwd=project)
    assert parquet.returncode == 2 and "keeps only its last table" in parquet.stderr
