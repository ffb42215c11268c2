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
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from mlwright.compiler import SpecError, compile_system
from mlwright.compiler.diff import changed_stages, rerun_stages
from mlwright.compiler.spec import SystemSpec
from mlwright.compiler.write import current_tree, write_tree

from ..conftest import generate, make_project, run_cli

pytestmark = pytest.mark.slow
FAST = [
    "training.hpo.trials=2",
    "training.cv.folds=3",
    "training.tracking.uri=none",
    "training.params.n_estimators=100",
]
SAMPLE = 28  # leaves per `make test` run, spread over the sorted list
MUST = ("monitoring.covariate.bins", "monitoring.concept.metric", "features.store.online.ttl")  # the cases
DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
SIZE = re.compile(r"^(\d+(?:\.\d+)?)(B|KB|MB|GB|TB|KiB|MiB|GiB)$")
SHARE = re.compile(r"^(\d+(?:\.\d+)?)%$")


def field_type(model: type[BaseModel], name: str) -> Any:
    for key, info in model.model_fields.items():
        if name in (key, info.alias):
            return info.annotation
    return None


def unwrap(tp: Any, part: str | None = None) -> Any:
    """The type inside Annotated/Optional; of a union of models, the one with `part`."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [unwrap(a) for a in typing.get_args(tp) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if models and part is not None:
            return next((m for m in models if field_type(m, part) is not None), models[0])
        return args[0] if len(args) == 1 else tp
    return tp


def leaf_type(path: list[str]) -> Any:
    tp: Any = SystemSpec
    for part in path:
        tp = unwrap(tp, part)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            tp = field_type(tp, part)
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    return unwrap(tp)


def other_values(value: Any, tp: Any) -> list[Any]:
    """Other valid-looking values of a leaf, most likely valid first."""
    if typing.get_origin(tp) is typing.Literal:
        return [c for c in typing.get_args(tp) if c != value]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1]
    if isinstance(value, float):
        return [round(value * 1.5, 6), round(value / 2, 6)] if value else [0.5]
    if isinstance(value, str):
        for pattern, unit_first in ((DURATION, False), (SIZE, False), (SHARE, True)):
            if m := pattern.match(value):
                n = float(m.group(1))
                suffix = "%" if unit_first else m.group(2)
                return [f"{n * 2:g}{suffix}", f"{n / 2:g}{suffix}"]
    return []


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
