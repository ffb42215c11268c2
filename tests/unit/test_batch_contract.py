"""A batch row the endpoint would refuse is not scored silently (#15 item 9)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
import pytest

from mlwright.compiler import SpecError, compile_system
from mlwright.contract.serve import InputConstraint
from mlwright.runtime.context import UserError
from mlwright.runtime.serving.batch_contract import missing_inputs, refuse_if_any, row_problems, summary


def typed(rules: dict[str, dict[str, Any]]) -> dict[str, InputConstraint]:
    """The contract's constraints from the dicts these tests write them as."""
    return {name: InputConstraint.model_validate(rule) for name, rule in rules.items()}


INPUTS = {"who": "string", "mass": "float", "n": "int", "plan": "category", "ts": "timestamp"}
RULES = {"mass": {"min": 2700.0, "max": 6300.0}, "n": {"min": 0}, "plan": {"values": ["basic", "pro"]}}


def batch() -> pa.Table:
    return pa.table(
        {
            "who": ["a", "b", "c", "d", "e", "f", None],
            "mass": pa.array([3000.0, 4.2, None, float("nan"), 3100.0, 3200.0, 3300.0]),
            "n": pa.array([1, 2, 3, 4, -1, 5, 6], pa.int64()),
            "plan": ["basic", "pro", "basic", "pro", "basic", "gold", "pro"],
            "ts": pa.array([datetime(2024, 1, d) for d in range(1, 7)] + [None], pa.timestamp("us")),
        }
    )


def test_each_broken_rule_names_its_field_and_value() -> None:
    got = row_problems(batch(), INPUTS, typed(RULES))
    assert got[0] is None
    assert got[1] == "mass: 4.2 is below the schema's min 2700"
    assert got[2] == "mass: null (its column is not nullable in the spec's schema)"
    assert got[3] == "mass: nan is not a finite number"
    assert got[4] == "n: -1 is below the schema's min 0"
    assert got[5] == "plan: 'gold' is not one of ['basic', 'pro']"
    assert got[6] == "ts: null (its column is not nullable in the spec's schema)"


def test_nullable_inputs_may_be_null_and_the_event_time_never_on_the_as_of_path() -> None:
    rules = {**RULES, "mass": {**RULES["mass"], "nullable": True}, "ts": {"nullable": True}, "who": {"nullable": True}}
    got = row_problems(batch(), INPUTS, typed(rules), required=("ts",))
    assert got[2] is None, "null is allowed where the schema writes nullable: true"
    assert got[6] == "ts: no event time; features as of its time cannot be computed"


def test_absent_inputs_refuse_the_whole_batch_and_refuse_policy_stops_at_any_row() -> None:
    assert missing_inputs(batch().drop_columns(["plan"]), INPUTS) == ["plan"]
    problems = row_problems(batch(), INPUTS, typed(RULES))
    refuse_if_any(problems, "flag")
    with pytest.raises(UserError, match=r"6 row\(s\) out of the input contract, not scored: row 1 \(mass: 4.2"):
        refuse_if_any(problems, "refuse")
    assert summary(problems).endswith("; and 3 more")


@pytest.mark.parametrize("column", ["prediction", "probability_yes", "problem", "row"])
def test_a_pass_through_column_may_not_shadow_an_output_column(tmp_path, column: str) -> None:  # type: ignore[no-untyped-def]
    from .test_point_in_time import SPEC

    (tmp_path / "system.yaml").write_text(SPEC + f"serving:\n  batch:\n    pass_through: [x, {column}]\n")
    with pytest.raises(SpecError) as info:
        compile_system(tmp_path / "system.yaml", [], tmp_path / "build")
    assert "serving.batch.pass_through" in info.value.render() and "predict writes itself" in info.value.render()
