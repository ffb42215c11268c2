"""The committed JSON Schema of the system YAML is the one the compiler prints."""

from __future__ import annotations

import json
from pathlib import Path

from mlwright.compiler import json_schema

SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "system.schema.json"


def test_committed_schema_is_current(update_golden: bool) -> None:
    current = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if update_golden:
        SCHEMA.write_text(current)
    assert SCHEMA.read_text() == current, "schema/system.schema.json is stale: pytest --update-golden"


def test_resolved_reference_specs_validate_against_the_schema() -> None:
    """Editors using the schema accept what the compiler accepts (the resolved golden specs)."""
    import jsonschema
    import yaml

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    for case in ("churn", "brain_ct", "churn_prod"):
        resolved = yaml.safe_load((SCHEMA.parents[1] / "tests" / "golden" / case / "spec.resolved.yaml").read_text())
        errors = [e.message for e in validator.iter_errors(resolved)]
        assert errors == [], (case, errors[:3])
    bad = yaml.safe_load((SCHEMA.parents[1] / "tests" / "golden" / "churn" / "spec.resolved.yaml").read_text())
    bad["training"]["split"]["strategy"] = "tme"
    assert list(validator.iter_errors(bad))
