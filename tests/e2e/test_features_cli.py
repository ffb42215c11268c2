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
