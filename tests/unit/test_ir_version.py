"""A build folder compiled by another mlwright (or edited by hand) is refused by the
runtime, naming the fix: the IR version first, then the contract's own parse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mlwright.contract import IR_VERSION as RUNTIME_IR
from mlwright.runtime.context import UserError, load_context

from .stage_helpers import churn_build


def test_an_older_build_folder_is_refused_with_the_fix(tmp_path: Path) -> None:
    ctx = churn_build(tmp_path, rows=200)
    lock = ctx.root / "mlwright.lock.json"
    body = json.loads(lock.read_text())
    assert body["ir_version"] == RUNTIME_IR
    lock.write_text(json.dumps({**body, "ir_version": RUNTIME_IR - 1}))
    expected = f"compiled for IR version {RUNTIME_IR - 1}, and this mlwright reads version {RUNTIME_IR}; recompile"
    with pytest.raises(UserError, match=expected):
        load_context(ctx.root)


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (
            lambda p: p["monitor"]["covariate"].update(bins="ten"),
            r"monitor\.covariate\.bins: Input should be a valid integer",
        ),
        (lambda p: p["train"].update(n_estimators=10), r"train\.n_estimators: Extra inputs are not permitted"),
        (lambda p: p.pop("featurize"), r"featurize: Field required"),
        (lambda p: p["ingest"]["sources"][0].update(format="xlsx"), r"ingest\.sources\.0: Input tag 'xlsx'"),
    ],
)
def test_a_params_file_that_does_not_fit_the_contract_is_refused_naming_the_key(
    tmp_path: Path, edit: object, named: str
) -> None:
    """A hand edit (or a key another compiler wrote) stops the stage before anything runs,
    instead of a runtime reading a key it ignores or failing later with a KeyError."""
    ctx = churn_build(tmp_path, rows=200)
    params_file = ctx.root / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    edit(params)  # type: ignore[operator]
    params_file.write_text(yaml.safe_dump(params))
    with pytest.raises(UserError, match=rf"params\.yaml: {named}.*recompile the spec"):
        load_context(ctx.root)
