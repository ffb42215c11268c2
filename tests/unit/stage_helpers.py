"""Small example projects compiled into temp folders, for stage-level tests."""

from __future__ import annotations

from pathlib import Path

from mlwright.compiler import compile_system
from mlwright.compiler.write import write_tree
from mlwright.runtime.context import StageContext, load_context

from ..conftest import generate, make_project

FAST = [
    "training.hpo.trials=2",
    "training.cv.folds=3",
    "training.tracking.uri=none",
    "training.params.n_estimators=200",
]


def churn_build(tmp: Path, *overrides: str, rows: int = 1500, seed: int = 7) -> StageContext:
    project = make_project(tmp, "churn")
    generate(project, "churn", "--rows", str(rows), "--seed", str(seed))
    compiled = compile_system(
        project / "pipelines" / "churn" / "system.yaml", [*FAST, *overrides], project / "build" / "churn"
    )
    write_tree(compiled.files, compiled.out_dir)
    return load_context(compiled.out_dir)


def recompile(ctx: StageContext, *overrides: str) -> StageContext:
    spec = ctx.source_root() / "system.yaml"
    compiled = compile_system(spec, [*FAST, *overrides], ctx.root)
    write_tree(compiled.files, compiled.out_dir)
    return load_context(ctx.root)
