"""A build folder compiled by another mlwright is refused by the runtime, naming the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlwright.compiler.plan import IR_VERSION as COMPILER_IR
from mlwright.runtime.context import IR_VERSION as RUNTIME_IR
from mlwright.runtime.context import UserError, load_context

from .stage_helpers import churn_build


def test_compiler_and_runtime_agree_on_the_ir_version() -> None:
    assert COMPILER_IR == RUNTIME_IR


def test_an_older_build_folder_is_refused_with_the_fix(tmp_path: Path) -> None:
    ctx = churn_build(tmp_path, rows=200)
    lock = ctx.root / "mlwright.lock.json"
    body = json.loads(lock.read_text())
    assert body["ir_version"] == RUNTIME_IR
    lock.write_text(json.dumps({**body, "ir_version": RUNTIME_IR - 1}))
    expected = f"compiled for IR version {RUNTIME_IR - 1}, and this mlwright reads version {RUNTIME_IR}; recompile"
    with pytest.raises(UserError, match=expected):
        load_context(ctx.root)
