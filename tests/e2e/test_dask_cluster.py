"""The churn pipeline against a real Dask scheduler and two worker processes (#18 item 7).

`dask scheduler` and two `dask worker` processes are started on 127.0.0.1, as a
user's cluster would be (here on one machine). The churn system runs first on one
process; recompiled with `profile=cluster` (the scheduler address read from
MLWRIGHT_DASK_SCHEDULER when a stage starts), DVC finds only train and what follows
stale (the engine decides whether the final fit is distributed), never the data or
the features, and the
stages forced onto the cluster write the same bytes: the offline feature store, the
model's metrics and the batch scores.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from ..conftest import FAST, free_port, generate, make_project, run_cli, venv_tool

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    dask = venv_tool("dask")
    if dask is None:
        pytest.fail("the `dask` command is missing: install mlwright with the dask extra (make install-dev)")
    logs = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
            stdout=subprocess.DEVNULL,
            stderr=(logs / "scheduler.log").open("wb"),
        )
    ]
    time.sleep(1.0)
    for i in range(2):
        procs.append(
            subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--nworkers", "1", "--no-dashboard", "--name", f"w{i}"],
                stdout=subprocess.DEVNULL,
                stderr=(logs / f"worker-{i}.log").open("wb"),
            )
        )
    try:
        wait_for_workers(address, 2)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def wait_for_workers(address: str, n: int, timeout: float = 60.0) -> None:
    from distributed import Client

    with Client(address, timeout=timeout) as client:  # type: ignore[no-untyped-call]
        client.wait_for_workers(n, timeout=timeout)


def offline_digests(build: Path) -> dict[str, str]:
    meta = json.loads((build / "features" / "offline" / "_metadata.json").read_text())
    return dict(meta["sha256"])


def test_the_churn_pipeline_on_a_real_scheduler_writes_the_same_bytes(scheduler: str, tmp_path: Path) -> None:
    project = make_project(tmp_path, "churn")
    generate(project, "churn", "--rows", "2500")
    build = project / "build" / "churn"
    assert run_cli("compile", "pipelines/churn/system.yaml", *FAST, cwd=project).returncode == 0
    local = run_cli("run", "build/churn", "--quiet", cwd=project)
    assert local.returncode == 0, local.stdout + local.stderr
    features, metrics = offline_digests(build), json.loads((build / "reports" / "metrics.json").read_text())
    validation = (build / "reports" / "validation.json").read_text()
    batch = "pipelines/churn/data/score/*.parquet"
    one = run_cli("predict", "build/churn", "--input", batch, "--output", str(tmp_path / "one"), cwd=project)
    assert one.returncode == 0, one.stdout + one.stderr

    prediction_log(project, project / "predictions.jsonl")  # relative below: workers run elsewhere
    labels = "pipelines/churn/data/labels/delayed.csv"
    watch = ("monitor", "build/churn", "--current", "predictions.jsonl", "--labels", labels)
    watched = run_cli(*watch, cwd=project)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    drift = json.loads((build / "reports" / "drift.json").read_text())

    compiled = run_cli("compile", "pipelines/churn/system.yaml", *FAST, "profile=cluster", cwd=project)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    env = {"MLWRIGHT_DASK_SCHEDULER": scheduler}
    status = run_cli("status", "build/churn", cwd=project, env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    stale = {line.rstrip(":") for line in status.stdout.splitlines() if line and not line.startswith(" ")}
    assert stale == {"train", "register", "package"}, status.stdout
    assert "changed param: compute.engine" in status.stdout

    forced = run_cli("run", "build/churn", "--stage", "featurize", "--force", cwd=project, env=env)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert f"Dask scheduler {scheduler}, 2 workers" in forced.stdout
    assert "bucket 8/8 done" in forced.stdout
    assert offline_digests(build) == features
    checked = run_cli("run", "build/churn", "--stage", "validate", "--force", cwd=project, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"validate: Dask scheduler {scheduler}" in checked.stdout, checked.stdout
    assert re.search(r"validate: part (\d+)/\1 done", checked.stdout), checked.stdout
    assert (build / "reports" / "validation.json").read_text() == validation

    trained = run_cli("run", "build/churn", cwd=project, env=env)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert "ran train, register;" in trained.stdout  # the same model: DVC finds the package unchanged
    assert f"train: Dask scheduler {scheduler}" in trained.stdout
    again = json.loads((build / "reports" / "metrics.json").read_text())
    assert again["test"] == metrics["test"] and again["search"] == metrics["search"]

    two = run_cli("predict", "build/churn", "--input", batch, "--output", str(tmp_path / "two"), cwd=project, env=env)
    assert two.returncode == 0, two.stdout + two.stderr
    assert f"Dask scheduler {scheduler}" in two.stdout

    def scores(folder: Path) -> pd.DataFrame:
        return pd.concat([pd.read_parquet(p) for p in sorted(folder.glob("part-*.parquet"))]).reset_index(drop=True)

    pd.testing.assert_frame_equal(scores(tmp_path / "one"), scores(tmp_path / "two"))

    # the log read in byte ranges on the workers, its counts added up here: the same report
    again = run_cli(*watch, cwd=project, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"monitor: Dask scheduler {scheduler}" in again.stdout, again.stdout
    on_cluster = json.loads((build / "reports" / "drift.json").read_text())
    assert on_cluster["concept"]["overall"]["labels"] > 0 and len(on_cluster["windows"]) > 2
    assert {**on_cluster, "alerts_sent_now": 0} == {**drift, "alerts_sent_now": 0}
    assert list(build.glob(".monitor-parts-*")) == []


def prediction_log(project: Path, path: Path) -> Path:
    """The score batch as the endpoint logs answered requests (with a refused one)."""
    batch = pd.concat([pd.read_parquet(p) for p in sorted((project / "pipelines/churn/data/score").glob("*.parquet"))])
    lines = []
    for i, row in enumerate(batch.to_dict("records")):
        when = row["event_time"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        inputs = {k: (v.strftime("%Y-%m-%dT%H:%M:%S") if hasattr(v, "strftime") else v) for k, v in row.items()}
        record = {"request_id": f"r{i}", "timestamp": when, "status": 200 if i % 97 else 422, "inputs": inputs}
        lines.append(json.dumps({**record, "prediction": i % 2, "probability": (i % 100) / 100}))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_an_unreachable_scheduler_fails_the_stage_in_one_line(tmp_path: Path) -> None:
    project = make_project(tmp_path, "churn")
    generate(project, "churn", "--rows", "600")
    assert run_cli("compile", "pipelines/churn/system.yaml", *FAST, "profile=cluster", cwd=project).returncode == 0
    env = {"MLWRIGHT_DASK_SCHEDULER": f"tcp://127.0.0.1:{free_port()}"}
    started = time.monotonic()
    out = run_cli("run", "build/churn", cwd=project, env=env)
    assert out.returncode != 0
    assert "validate: compute.scheduler: cannot reach the Dask scheduler at tcp://127.0.0.1:" in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    assert time.monotonic() - started < 120
