"""Weights & Biases as the tracker: the churn pipeline's runs, trials and model, read
back from W&B's offline run files (what `wandb sync` would upload), and no MLflow."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from ..conftest import generate, make_project, run_cli
from ..wandb_log import records, run_files

pytestmark = pytest.mark.slow
pytest.importorskip("wandb")


def run_of(path: Path) -> dict[str, Any]:
    """One offline run as plain values: its run record, config, summary, history steps
    and artifacts (name, type, aliases, file -> md5 as base64)."""
    out: dict[str, Any] = {"config": {}, "summary": {}, "history": [], "artifacts": []}
    for rec in records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out["job_type"], out["name"], out["id"] = rec.run.job_type, rec.run.display_name, rec.run.run_id
            out["tags"] = list(rec.run.tags)
            out["config"].update({u.key: json.loads(u.value_json) for u in rec.run.config.update})
        elif kind == "config":
            out["config"].update({u.key: json.loads(u.value_json) for u in rec.config.update})
        elif kind == "summary":
            for u in rec.summary.update:
                key = u.key or "/".join(u.nested_key)
                out["summary"][key] = json.loads(u.value_json)
        elif kind == "history":
            out["history"].append(
                {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item}
            )
        elif kind == "artifact":
            a = rec.artifact
            files = {c.path: c.digest for c in a.manifest.contents}
            out["artifacts"].append({"name": a.name, "type": a.type, "aliases": set(a.aliases), "files": files})
    return out


def md5_b64(path: Path) -> str:
    return base64.b64encode(hashlib.md5(path.read_bytes()).digest()).decode()


def test_runs_trials_and_the_registered_model_are_written_as_wandb_offline_runs(tmp_path: Path) -> None:
    project = make_project(tmp_path, "churn")
    generate(project, "churn", "--rows", "600")
    spec = "pipelines/churn/system.yaml"
    overrides = ("training.tracking.backend=wandb", "training.tracking.uri=offline", "training.hpo.trials=4")
    compiled = run_cli("compile", spec, *overrides, cwd=project)
    assert compiled.returncode == 0, compiled.stderr
    params = (project / "build/churn/params.yaml").read_text()
    assert "backend: wandb" in params and "uri: offline" in params
    done = run_cli("run", "build/churn", "--quiet", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    build = project / "build/churn"
    assert not (build / ".mlwright/tracking.db").exists()

    runs = {r["job_type"]: r for r in map(run_of, run_files(build / ".mlwright/wandb"))}
    assert set(runs) == {"train", "register", "registry"}
    metrics = json.loads((build / "reports/metrics.json").read_text())
    train = runs["train"]
    assert train["config"]["dataset_version"] == metrics["dataset_version"]
    assert train["config"]["num_leaves"] == metrics["params"]["num_leaves"]
    for name, value in metrics["test"].items():
        if isinstance(value, float):
            assert train["summary"][f"test_{name}"] == pytest.approx(value)
    trial_steps = [h for h in train["history"] if any(k.startswith("trial/") for k in h)]
    assert len(trial_steps) == 4 and [h["_step"] for h in trial_steps] == [0, 1, 2, 3]
    model = next(a for a in train["artifacts"] if a["type"] == "model")
    assert model["name"] == "churn-train-model" and model["files"]
    assert any(a["type"] == "run_table" and a["name"].endswith("-trials") for a in train["artifacts"])

    register = json.loads((build / "reports/register.json").read_text())
    version = register["model_version"]
    assert register["registered"] and register["registry_version"] == f"churn:{version}"
    assert f"train_run_id={train['id']}" in runs["register"]["tags"]
    registered = runs["registry"]["artifacts"][0]
    assert (registered["name"], registered["type"]) == ("churn", "model")
    assert registered["aliases"] >= {version, "champion"}
    bundle = build / "models/registered"
    assert registered["files"]["bundle.json"] == md5_b64(bundle / "bundle.json")
    assert set(registered["files"]) == {str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file()}

    # nothing new to publish: a second run writes no second train run
    again = run_cli("run", "build/churn", "--quiet", cwd=project)
    assert again.returncode == 0 and len(run_files(build / ".mlwright/wandb")) == 3


def test_an_online_wandb_uri_is_refused_at_compile(tmp_path: Path) -> None:
    project = make_project(tmp_path, "churn")
    bad = run_cli(
        "compile",
        "pipelines/churn/system.yaml",
        "training.tracking.backend=wandb",
        "training.tracking.uri=https://api.wandb.ai",
        cwd=project,
    )
    assert bad.returncode == 2
    assert "training.tracking.uri: 'https://api.wandb.ai': the wandb backend writes offline runs" in bad.stderr
