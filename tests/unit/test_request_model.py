"""The endpoint's request schema: strict types, ranges and values, and `null` only
where the spec's schema writes `nullable: true` for the input's column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlwright.compiler.api import build_plan
from mlwright.contract.serve import InputConstraint
from mlwright.runtime.serving.predictor import BadInput
from mlwright.runtime.serving.request_model import request_adapter, validate_request


def typed(rules: dict[str, dict[str, Any]]) -> dict[str, InputConstraint]:
    """The contract's constraints from the dicts these tests write them as."""
    return {name: InputConstraint.model_validate(rule) for name, rule in rules.items()}


INPUTS = {"customer_id": "string", "plan": "category", "monthly_fee": "float", "tickets": "int"}
RULES = {
    "plan": {"values": ["basic", "pro"], "nullable": True},
    "monthly_fee": {"min": 0.0, "max": 1000.0, "nullable": True},
    "tickets": {"min": 0},
}
GOOD = {"customer_id": "C1", "plan": "pro", "monthly_fee": 20.0, "tickets": 2}


def refusal(body: dict) -> str:
    with pytest.raises(BadInput) as err:
        validate_request(request_adapter(INPUTS, typed(RULES)), body)
    return f"{err.value.field}: {err.value.message}"


def test_null_is_accepted_where_the_schema_writes_nullable() -> None:
    body = {**GOOD, "plan": None, "monthly_fee": None}
    assert validate_request(request_adapter(INPUTS, typed(RULES)), body) == body


def test_null_elsewhere_a_missing_field_and_bad_values_are_still_refused_by_name() -> None:
    assert refusal({**GOOD, "tickets": None}).startswith("tickets: ")
    assert refusal({**GOOD, "customer_id": None}).startswith("customer_id: ")
    assert refusal({k: v for k, v in GOOD.items() if k != "monthly_fee"}) == "monthly_fee: field required"
    assert refusal({**GOOD, "plan": "gold"}).startswith("plan: ")
    assert refusal({**GOOD, "monthly_fee": -1.0}).startswith("monthly_fee: ")
    assert refusal({**GOOD, "monthly_fee": "20"}).startswith("monthly_fee: ")


def test_every_problem_is_reported_and_null_is_called_null() -> None:
    with pytest.raises(BadInput) as err:
        validate_request(request_adapter(INPUTS, typed(RULES)), {})
    assert [f for f, _ in err.value.problems] == ["customer_id", "plan", "monthly_fee", "tickets"]
    assert (
        refusal({**GOOD, "tickets": None})
        == "tickets: may not be null (its column is not nullable in the spec's schema)"
    )
    assert refusal({**GOOD, "": 1}) == '"": unknown field'


def test_only_a_written_nullable_reaches_the_endpoint(tmp_path: Path) -> None:
    """Columns are nullable by default for data; a request must still carry a value
    unless the spec says `nullable: true` (the reference systems keep null a 422)."""
    (tmp_path / "data").mkdir()
    (tmp_path / "system.yaml").write_text(
        """\
name: ship
version: 0.1.0
spec:
  task: binary_classification
  target: survived
  entity: passenger
  inputs: [passenger, age, fare]
data:
  sources:
    - {name: passengers, uri: data/passengers.jsonl, format: jsonl}
expectations:
  schema:
    passengers:
      passenger: {type: int, unique: true, nullable: true}
      age: {type: float, min: 0, nullable: true}
      fare: {type: float, min: 0}
      survived: {type: bool}
"""
    )
    plan, _ = build_plan(tmp_path / "system.yaml")
    assert plan.params.as_yaml_data()["serve"]["input_constraints"] == {
        "age": {"min": 0.0, "nullable": True},
        "fare": {"min": 0.0},
    }  # the entity never takes null: the online store is looked up by it


def test_a_whole_float_is_an_integer_as_json_schema_says() -> None:
    """3.0 is an integer to JSON Schema and to the OpenAPI document clients read (a
    schemathesis finding); 3.5, "3" and true are still refused, and bounds still hold."""
    from mlwright.runtime.serving.predictor import BadInput
    from mlwright.runtime.serving.request_model import request_adapter, validate_request

    adapter = request_adapter({"n": "int"}, typed({"n": {"min": 0, "max": 10}}))
    assert validate_request(adapter, {"n": 3.0}) == {"n": 3}
    for bad in (3.5, "3", True, -1.0, 11):
        with pytest.raises(BadInput):
            validate_request(adapter, {"n": bad})
    schema = adapter.json_schema()["properties"]["n"]
    assert schema["type"] == "integer" and schema["minimum"] == 0 and schema["maximum"] == 10
