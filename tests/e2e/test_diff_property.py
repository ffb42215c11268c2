"""`mlwright diff` tells the truth about what re-runs: a property, not a promise (#16 item 3).

On a fully run churn build, each leaf setting of the resolved spec (enumerated from
the spec models: booleans flipped, numbers moved, an enum's other choices, durations,
sizes and shares changed; names, paths and list items left alone) is changed to
another valid value. The stages `diff` says changed must equal the stages DVC then
finds stale (`dvc repro --dry`, which lists a stage whose own params or deps
changed; it cannot know which outputs will), and `diff`'s "Stages re-run" is those
plus everything downstream. A sample spread over every section runs in
`make test`; MLWRIGHT_DIFF_ALL=1 runs every leaf.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlwright.compiler import SpecError, compile_system
from mlwright.compiler.diff import changed_stages, rerun_stages
from mlwright.compiler.explain import leaf_type, other_values
from mlwright.compiler.write import current_tree, write_tree

from ..conftest import FAST, generate, make_project, run_cli

pytestmark = pytest.mark.slow
SAMPLE = 28  # leaves per `make test` run, spread over the sorted list
MUST = ("monitoring.covariate.bins", "monitoring.concept.metric", "features.store.online.ttl")  # the cases


def leaves(value: Any, path: list[str]) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in leaves(v, [*path, str(k)])]
    if isinstance(value, list):
        return []  # list items cannot be addressed by an override
    tp = leaf_type(path)
    return [(".".join(path), v) for v in other_values(value, tp)] if tp is not None else []


def dvc_would_run(project: Path) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "--dry", "build/churn/dvc.yaml"],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return sorted({m.split(":")[-1] for m in re.findall(r"Running stage '([^']+)'", out.stdout)})


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("diffprop"), "churn")
    generate(project, "churn", "--rows", "1200")
    assert run_cli("compile", "pipelines/churn/system.yaml", *FAST, cwd=project).returncode == 0
    run = run_cli("run", "build/churn", "--quiet", cwd=project)
    assert run.returncode == 0, run.stdout + run.stderr
    return project


def candidates(project: Path) -> list[tuple[str, Any]]:
    resolved = yaml.safe_load((project / "build" / "churn" / "spec.resolved.yaml").read_text())
    found: dict[str, list[Any]] = {}
    for key, value in leaves(resolved, []):
        found.setdefault(key, []).append(value)
    keys = sorted(found)
    if not os.environ.get("MLWRIGHT_DIFF_ALL"):
        step = max(1, len(keys) // SAMPLE)
        keys = sorted(set(keys[::step]) | {k for k in MUST if k in found})
    return [(k, found[k]) for k in keys]


def test_diff_names_the_stages_dvc_then_runs(built: Path) -> None:
    project = built
    spec = project / "pipelines" / "churn" / "system.yaml"
    out = project / "build" / "churn"
    baseline = compile_system(spec, FAST, out)
    assert dvc_would_run(project) == [], "the build is up to date before any change"
    checked, mismatches = [], []
    for key, values in candidates(project):
        for value in values:
            try:
                compiled = compile_system(spec, [*FAST, f"{key}={value}"], out)
            except SpecError:
                continue  # not a valid value for this key: try the next
            disk = current_tree(out, compiled.files)
            said = sorted(changed_stages(compiled.plan, disk, compiled.files))
            write_tree(compiled.files, out)
            try:
                stale = dvc_would_run(project)
            finally:
                write_tree(baseline.files, out)
            checked.append(key)
            if said != stale:
                mismatches.append(
                    f"{key}={value}: diff says {said or 'none'} changed, DVC finds {stale or 'none'} stale"
                )
            rerun = rerun_stages(compiled.plan, disk, compiled.files)
            assert rerun == compiled.plan.downstream(set(stale)), (key, rerun)  # and what follows from them
            break
    assert len(checked) >= min(20, len(candidates(project))), checked
    assert set(MUST) <= set(checked)
    assert not mismatches, "\n".join(mismatches)
