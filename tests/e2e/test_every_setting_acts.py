"""Every setting acts, and every stage declares what it reads (#16 item 2).

The churn pipeline runs twice with `MLWRIGHT_TRACK_READS` on: a first dataset version,
then a second one whose country mix moved (layer B runs against the first and the
spec's override, with its justification, lets the failure pass). Each stage process
records the params keys it read. Two rules, for every stage DVC runs:

- a stage reads nothing it does not declare to DVC (`params:` in dvc.yaml, a section
  or a dotted key): otherwise DVC would not re-run it when that setting changes;
- every setting a stage declares is read by some stage: otherwise it is a setting
  that does nothing (or a re-run for nothing when it changes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from ..conftest import FAST, generate, make_project, run_cli

pytestmark = pytest.mark.slow
# Not a setting but where the build folder finds the spec's folder: every stage resolves
# source files by it, and it changes only when the build folder moves.
LAYOUT = {"ingest.source_root"}
# Where the work runs, not what it computes: the outputs are the same bytes on any
# engine, scheduler and bucket count (tests/unit/test_compute.py holds that), so no
# stage declares these to DVC and pointing a build at a cluster re-runs nothing.
EXECUTION = "compute."


def leaves(value: Any, path: str) -> list[str]:
    """Dotted paths of every setting under `path` (list items as `[]`)."""
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in leaves(v, f"{path}.{k}")]
    if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        return sorted({leaf for v in value for leaf in leaves(v, f"{path}[]")})
    return [path]


def lookup(params: dict[str, Any], key: str) -> Any:
    node: Any = params
    for part in key.split("."):
        node = node[part]
    return node


def covered(leaf: str, reads: set[str]) -> bool:
    """Read itself, or taken whole with a mapping above it."""
    if leaf in reads:
        return True
    path = leaf
    while (cut := max(path.rfind("."), path.rfind("["))) > 0:
        path = path[:cut]
        if f"{path}.*" in reads:
            return True
    return False


def declares(key: str, read: str) -> bool:
    return read == key or read.startswith((f"{key}.", f"{key}["))


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    root = tmp_path_factory.mktemp("reads")
    project = make_project(root, "churn")
    generate(project, "churn", "--rows", "1500")
    log = root / "reads.jsonl"
    env = {"MLWRIGHT_TRACK_READS": str(log)}
    assert run_cli("compile", "pipelines/churn/system.yaml", *FAST, cwd=project).returncode == 0
    first = run_cli("run", "build/churn", "--quiet", cwd=project, env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    events = project / "pipelines" / "churn" / "data" / "events.csv"
    table = pd.read_csv(events, dtype=str, keep_default_na=False)
    table.loc[: len(table) // 3, "country"] = "JP"  # a new market: the override's reason
    table.to_csv(events, index=False)
    second = run_cli("run", "build/churn", "--new-data", "--quiet", cwd=project, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    validation = json.loads((project / "build" / "churn" / "reports" / "validation.json").read_text())
    assert any(e["status"] == "overridden" for e in validation["expectations"]), "layer B ran with the override"
    return project / "build" / "churn", [json.loads(line) for line in log.read_text().splitlines()]


def test_each_stage_reads_only_what_it_declares_to_dvc(tracked: tuple[Path, list[dict[str, Any]]]) -> None:
    build, records = tracked
    stages = yaml.safe_load((build / "dvc.yaml").read_text())["stages"]
    assert {r["stage"] for r in records} == set(stages), "every stage ran and recorded its reads"
    undeclared = {
        (r["stage"], read)
        for r in records
        for read in r["reads"]
        if read not in LAYOUT
        and not read.startswith(EXECUTION)
        and not any(declares(key, read) for key in stages[r["stage"]].get("params", []))
    }
    assert not undeclared, sorted(undeclared)


def test_every_declared_setting_is_read_by_a_stage(tracked: tuple[Path, list[dict[str, Any]]]) -> None:
    build, records = tracked
    stages = yaml.safe_load((build / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((build / "params.yaml").read_text())
    reads = {read for r in records for read in r["reads"]}
    declared = {
        leaf for s in stages.values() for key in s.get("params", []) for leaf in leaves(lookup(params, key), key)
    }
    assert len(declared) > 150, "the whole contract of the stages is enumerated"
    dead = sorted(leaf for leaf in declared if not covered(leaf, reads))
    assert not dead, dead
