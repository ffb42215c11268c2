"""The request schema of the endpoint, generated from `spec.inputs` and their types.

Strict: unknown fields, missing fields, wrong types, NaN/Infinity and
out-of-range numbers are 422s that name the field; nothing is coerced silently.
An explicit `null` passes only for inputs whose column the schema writes `nullable: true`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from mlwright.contract.serve import InputConstraint
from mlwright.runtime.serving.predictor import BadInput

MAX_ABS = 1e15


def _field(kind: str, rules: InputConstraint) -> Any:
    """The pydantic type of one input: its declared type, range and allowed values;
    `null` too where the spec's schema writes `nullable: true` (a value the model saw
    missing in training). A field left out is still a 422: null must be sent."""
    base = _base_field(kind, rules)
    return base | None if rules.nullable else base


def _base_field(kind: str, rules: InputConstraint) -> Any:
    lo = -MAX_ABS if rules.min is None else rules.min
    hi = MAX_ABS if rules.max is None else rules.max
    if kind in ("string", "category"):
        if rules.values:
            return Literal[tuple(rules.values)]
        return Annotated[str, Field(min_length=1, max_length=256, strict=True)]
    if kind == "int":
        # 3.0 is an integer to JSON Schema (and to the OpenAPI document clients read): accepted
        # as 3; 3.5, "3" and true are still refused
        return Annotated[int, Field(strict=True, ge=max(lo, -(2**53)), le=min(hi, 2**53)), BeforeValidator(_whole)]
    if kind == "float":
        return Annotated[float, Field(strict=True, allow_inf_nan=False, ge=lo, le=hi)]
    if kind == "bool":
        return Annotated[bool, Field(strict=True)]
    if kind == "timestamp":
        return datetime
    return Annotated[str, Field(min_length=1, strict=True)]  # image: base64 text


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53 else value


def request_adapter(inputs: dict[str, str], constraints: dict[str, InputConstraint] | None = None) -> TypeAdapter[Any]:
    fields: dict[str, Any] = {
        name: (_field(kind, (constraints or {}).get(name, InputConstraint())), ...) for name, kind in inputs.items()
    }
    model = create_model("PredictRequest", __config__=ConfigDict(extra="forbid"), **fields)
    return TypeAdapter(model)


def validate_request(adapter: TypeAdapter[Any], data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadInput("body", "expected a JSON object")
    try:
        out: dict[str, Any] = adapter.validate_python(data).model_dump()
        return out
    except ValidationError as exc:
        problems = [_problem(err) for err in exc.errors()]
        raise BadInput(problems[0][0], problems[0][1], problems) from None


def _problem(err: Any) -> tuple[str, str]:
    """(field, message) of one validation error, in the words a client can act on."""
    loc = ".".join(str(p) for p in err["loc"])
    field = loc if loc else ('""' if err["loc"] else "body")  # a field whose name is empty is still a field
    kind = err["type"]
    if err.get("input", 0) is None and kind not in ("missing", "extra_forbidden"):
        return field, "may not be null (its column is not nullable in the spec's schema)"
    return field, {"missing": "field required", "extra_forbidden": "unknown field"}.get(kind, err["msg"])


def error_body(field: str, message: str, problems: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """A 422 body: every problem in `detail` (FastAPI's shape), the first one's field in `field`."""
    listed = problems or [(field, message)]
    return {
        "detail": [{"loc": ["body", f], "msg": m, "type": "value_error"} for f, m in listed],
        "field": field,
    }
