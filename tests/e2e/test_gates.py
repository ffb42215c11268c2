"""The seed's acceptance table on the churn reference system (#20 item 1).

After a clean run every row is green or honestly "not measured" (no image built, no
canary run, no rebuild timed, no monitor run): never "passed" without a measurement.
Timing a rebuild from the remote fills row 2; a monitor run fills row 7, red when the
drifted-fee batch raises alerts; a retrieval limit the store cannot meet turns row 4
red; `--fail` makes a red row exit 1 for CI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import FAST, chromium_screenshot, generate, make_project, run_cli

pytestmark = pytest.mark.slow


def rows(build: Path) -> dict[int, dict[str, str]]:
    return {g["stage"]: g for g in json.loads((build / "reports" / "gates.json").read_text())["gates"]}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("gates"), "churn")
    generate(project, "churn", "--rows", "2000", "--drift-batch-fee", "80")
    assert run_cli("compile", "pipelines/churn/system.yaml", *FAST, cwd=project).returncode == 0
    run = run_cli("run", "build/churn", "--quiet", cwd=project)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "gates (" in run.stdout and "4 features      passed" in run.stdout, run.stdout
    return project


def test_a_clean_run_is_green_or_honestly_not_measured(project: Path, tmp_path: Path) -> None:
    build = project / "build" / "churn"
    out = run_cli("gates", "build/churn", "--fail", cwd=project)
    assert out.returncode == 0, out.stdout + out.stderr
    got = rows(build)
    assert sorted(got) == [1, 2, 3, 4, 5, 6, 7]
    for stage in (1, 3, 4, 5):
        assert got[stage]["verdict"] == "passed", got[stage]
    for stage, why in ((2, "no rebuild timed"), (6, "no canary finished"), (7, "no monitor run yet")):
        assert got[stage]["verdict"] == "not measured" and why in got[stage]["value"], got[stage]
    assert "at threshold" in got[1]["value"] and "vs" in got[1]["value"]  # the chosen threshold's cost, and 0.5's
    assert "real entities" in got[4]["value"]
    dom = chromium_screenshot(build / "reports" / "gates.html", tmp_path / "gates.png")
    assert "acceptance gates" in dom and dom.count("<tr>") == 8
    assert (tmp_path / "gates.png").stat().st_size > 10_000
    page = chromium_screenshot(build / "reports" / "index.html", tmp_path / "index.png")
    assert 'href="gates.html"' in page and 'href="validation.html"' in page and 'href="model_card.md"' in page
    assert "not yet (mlwright monitor)" in page  # drift: not run yet, and the page says how to get it
    for href in ("gates.html", "validation.html", "model_card.md", "metrics.json", "register.json", "../ml_spec.md"):
        assert (build / "reports" / href).resolve().is_file(), href


def test_a_timed_rebuild_fills_the_data_row(project: Path, tmp_path: Path) -> None:
    assert run_cli("push", "build/churn", cwd=project).returncode == 0
    out = run_cli("rebuild", "build/churn", "--into", str(tmp_path / "rebuilt"), cwd=project)
    assert out.returncode == 0, out.stdout + out.stderr
    assert run_cli("gates", "build/churn", cwd=project).returncode == 0
    data = rows(project / "build" / "churn")[2]
    assert data["verdict"] == "passed" and data["value"].startswith("rebuilt ")


def test_monitoring_verdicts_and_strict_limits_turn_rows_red(project: Path) -> None:
    build = project / "build" / "churn"
    batch = "pipelines/churn/data/score/*.parquet"
    mon = run_cli("monitor", "build/churn", "--current", batch, cwd=project)
    assert mon.returncode == 0, mon.stdout + mon.stderr
    out = run_cli("gates", "build/churn", "--fail", cwd=project)
    drift = json.loads((build / "reports" / "drift.json").read_text())
    row = rows(build)[7]
    assert drift["alerts"], "the drifted-fee batch raises alerts"
    assert row["verdict"] == "failed" and f"{len(drift['alerts'])} alert(s)" in row["value"]
    assert out.returncode == 1  # --fail: a red row fails CI
    strict = run_cli(
        "compile", "pipelines/churn/system.yaml", *FAST, "features.store.retrieval_p99_ms=0.0001", cwd=project
    )
    assert strict.returncode == 0
    run_cli("gates", "build/churn", cwd=project)
    assert rows(build)[4]["verdict"] == "failed"  # no real store answers in 0.1 microseconds
    assert run_cli("compile", "pipelines/churn/system.yaml", *FAST, cwd=project).returncode == 0
