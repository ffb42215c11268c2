"""The request schema of the endpoint, generated from `spec.inputs` and their types.

Strict: unknown fields, missing fields, wrong types, NaN/Infinity and
out-of-range numbers are 422s that name the field; nothing is coerced silently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, create_model

from .predictor import BadInput

MAX_ABS = 1e15

_TYPES: dict[str, Any] = {
    "string": Annotated[str, Field(min_length=1, max_length=256, strict=True)],
    "category": Annotated[str, Field(max_length=256, strict=True)],
    "int": Annotated[int, Field(strict=True, ge=-(2**53), le=2**53)],
    "float": Annotated[float, Field(allow_inf_nan=False, ge=-MAX_ABS, le=MAX_ABS)],
    "bool": Annotated[bool, Field(strict=True)],
    "timestamp": datetime,
    "image": Annotated[str, Field(min_length=1, strict=True)],
}


def request_adapter(inputs: dict[str, str]) -> TypeAdapter[Any]:
    fields: dict[str, Any] = {name: (_TYPES.get(kind, _TYPES["string"]), ...) for name, kind in inputs.items()}
    model = create_model("PredictRequest", __config__=ConfigDict(extra="forbid"), **fields)
    return TypeAdapter(model)


def validate_request(adapter: TypeAdapter[Any], data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadInput("body", "expected a JSON object")
    try:
        return adapter.validate_python(data).model_dump()
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        kind = err["type"]
        msg = {"missing": "field required", "extra_forbidden": "unknown field"}.get(kind, err["msg"])
        raise BadInput(loc, msg) from None


def error_body(field: str, message: str) -> dict[str, Any]:
    return {"detail": [{"loc": ["body", field], "msg": message, "type": "value_error"}], "field": field}
