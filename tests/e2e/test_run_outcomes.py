"""How `mlwright run` ends, told truthfully: a crash is a crash (exit 3, its log kept),
never a failed gate; `--new-data` says ingest ran; `status` writes nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import generate, make_project, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("outcomes"), "churn")
    generate(project, "churn", "--rows", "2500")
    args = ("compile", "pipelines/churn/system.yaml", "training.hpo.trials=2", "training.cv.folds=2")
    assert run_cli(*args, cwd=project).returncode == 0
    return project


def test_status_before_any_run_writes_nothing(project: Path) -> None:
    out = run_cli("status", "build/churn", cwd=project)
    assert out.returncode == 0, out.stderr
    assert "ingest:\n  never run" in out.stdout
    assert not (project / ".dvc").exists(), "a read-only command made a DVC repository"


def test_new_data_says_ingest_ran(project: Path) -> None:
    assert run_cli("run", "build/churn", "--quiet", cwd=project).returncode == 0
    events = project / "pipelines" / "churn" / "data" / "events.csv"
    lines = events.read_text().splitlines(keepends=True)
    events.write_text("".join(lines[:-50]))  # the newest rows withdrawn: a new version of the data
    out = run_cli("run", "build/churn", "--new-data", "--quiet", cwd=project)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ingest: running" in out.stdout and "ingest: unchanged, skipped" not in out.stdout, out.stdout


def same_size_edit(path: Path, offset: int) -> None:
    """Change one byte in place and put the mtime back: only the bytes tell."""
    st = path.stat()
    body = bytearray(path.read_bytes())
    body[offset] = ord("7") if body[offset] != ord("7") else ord("3")
    path.write_bytes(bytes(body))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_new_data_after_a_same_size_edit_records_the_new_bytes(project: Path) -> None:
    events = project / "pipelines" / "churn" / "data" / "events.csv"
    text = events.read_text()
    same_size_edit(events, text.index(".", text.index("\n") + 1) + 1)  # a digit of the first row's fee
    out = run_cli("run", "build/churn", "--quiet", cwd=project)
    assert out.returncode == 1 and "modified: data/events.csv" in out.stderr, out.stderr
    assert run_cli("run", "build/churn", "--new-data", "--quiet", cwd=project).returncode == 0
    verified = run_cli("verify", "build/churn", cwd=project)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_tampered_snapshot_is_named_and_never_read(project: Path) -> None:
    snapshot = project / "build" / "churn" / "data" / "snapshots" / "events.parquet"
    same_size_edit(snapshot, snapshot.stat().st_size // 2)
    verified = run_cli("verify", "build/churn", cwd=project)
    assert verified.returncode == 1 and "modified: data/snapshots/events.parquet" in verified.stdout
    out = run_cli("run", "build/churn", "--stage", "featurize", "--force", cwd=project)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "data/snapshots/events.parquet modified" in out.stderr and "crashed" not in out.stderr
    assert "mlwright run --stage ingest --force" in out.stderr, out.stderr
    assert run_cli("run", "build/churn", "--stage", "ingest", "--force", cwd=project).returncode == 0
    verified = run_cli("verify", "build/churn", cwd=project)  # DVC removed featurize's outputs before it ran
    assert verified.returncode == 1 and "missing: features/offline/_metadata.json" in verified.stdout, verified.stdout
    assert run_cli("run", "build/churn", "--quiet", cwd=project).returncode == 0
    assert run_cli("verify", "build/churn", cwd=project).returncode == 0


def test_a_tampered_model_is_named_and_never_registered_or_served(project: Path, tmp_path: Path) -> None:
    """Past the snapshots: every output a later stage reads is held to the md5 DVC
    recorded (a byte flip with its mtime restored is invisible to DVC's own check), and
    the registered bundle to the sha256 register wrote into it (an image has no dvc.lock)."""
    assert run_cli("run", "build/churn", "--quiet", cwd=project).returncode == 0
    built = project / "build" / "churn"
    candidate = built / "models" / "candidate" / "model.txt"
    original = candidate.read_bytes()
    same_size_edit(candidate, len(original) // 2)
    verified = run_cli("verify", "build/churn", cwd=project)
    assert verified.returncode == 1 and "modified: models/candidate/model.txt" in verified.stdout, verified.stdout
    out = run_cli("run", "build/churn", "--stage", "register", "--force", cwd=project)
    assert out.returncode == 1 and "crashed" not in out.stderr, out.stdout + out.stderr
    assert "models/candidate/model.txt modified" in out.stderr and "--stage train --force" in out.stderr
    assert (
        run_cli("run", "build/churn", "--force", "--quiet", cwd=project).returncode == 0
    )  # DVC removed register's outputs

    registered = built / "models" / "registered" / "model.txt"
    same_size_edit(registered, registered.stat().st_size // 3)
    verified = run_cli("verify", "build/churn", cwd=project)
    assert "modified: models/registered/model.txt" in verified.stdout, verified.stdout
    batch = tmp_path / "batch.csv"
    batch.write_text("customer_id,event_time,plan,country,monthly_fee,support_tickets\nc1,2024-01-01,basic,DE,9.5,1\n")
    scored = run_cli("predict", "build/churn", "--input", str(batch), "--output", str(tmp_path / "out"), cwd=project)
    assert scored.returncode == 1 and "model.txt modified" in scored.stderr, scored.stdout + scored.stderr
    assert "Traceback" not in scored.stderr and not (tmp_path / "out").exists()
    assert run_cli("run", "build/churn", "--stage", "register", "--force", "--quiet", cwd=project).returncode == 0
    assert run_cli("verify", "build/churn", cwd=project).returncode == 0


def test_a_second_run_is_told_the_first_holds_the_lock_and_a_killed_run_leaves_no_orphans(project: Path) -> None:
    import psutil

    first = subprocess.Popen(
        [sys.executable, "-m", "mlwright", "run", "build/churn", "--force", "--quiet"],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        stage = None
        for _ in range(600):  # until DVC runs a stage under the first run
            kids = psutil.Process(first.pid).children(recursive=True)
            stage = next((k for k in kids if "mlwright.runtime." in " ".join(_cmdline(k))), None)
            if stage is not None:
                break
            time.sleep(0.1)
        assert stage is not None, "no stage started"
        second = run_cli("run", "build/churn", "--force", cwd=project)
        assert second.returncode == 2 and "holds DVC's lock" in second.stderr, second.stdout + second.stderr
        kids = psutil.Process(first.pid).children(recursive=True)
        first.kill()  # SIGKILL: the run itself gets no chance to clean up
        first.wait(timeout=10)
        gone, alive = psutil.wait_procs(kids, timeout=20)
        assert not alive, f"orphans left running: {[(p.pid, _cmdline(p)) for p in alive]}"
    finally:
        if first.poll() is None:
            first.kill()
    assert run_cli("run", "build/churn", "--quiet", cwd=project).returncode == 0  # and the next run works


def _cmdline(p: Any) -> list[str]:
    try:
        return list(p.cmdline())
    except Exception:  # the process just ended
        return []


def test_predict_defaults_to_the_specs_batch_input_and_output(project: Path) -> None:
    out = run_cli("predict", "build/churn", cwd=project)  # serving.batch: data/score/*.parquet -> predictions/
    assert out.returncode == 0, out.stdout + out.stderr
    assert list((project / "build" / "churn" / "predictions").glob("part-*.parquet")), out.stdout


def test_a_crashing_stage_is_reported_as_a_crash_with_its_log(project: Path) -> None:
    params = project / "build" / "churn" / "params.yaml"
    data = yaml.safe_load(params.read_text())
    # a value the contract admits (a backend parameter is any scalar) and the trainer then
    # fails on: a bug's shape, not a gate (a missing key is refused by the contract's parse)
    data["train"]["params"]["n_estimators"] = "many"
    params.write_text(yaml.safe_dump(data))
    out = run_cli("run", "build/churn", cwd=project)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "stage 'train' crashed (an internal error, not a failed gate)" in out.stderr
    assert "ValueError" in out.stderr and "gate" not in out.stderr.replace("not a failed gate", "")
    log = re.search(r"full output: (\S+)", out.stderr)
    assert log, out.stderr
    assert "Traceback (most recent call last)" in (project / log.group(1)).read_text()
