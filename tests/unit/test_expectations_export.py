"""The spec's layer-A rules exported for pandera and Great Expectations, run by those
tools on the tables ingest wrote (#21 item 5): clean data passes in both; each
planted violation (a fee below the schema's min, a plan not in its values, a
duplicate (customer, time) key, a null customer id) fails in both, as it fails
`mlwright validate`."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlwright.runtime.commands.expectations_export import export
from mlwright.runtime.context import GateFailed
from mlwright.runtime.stages import ingest, validate

from .stage_helpers import churn_build

PLANTS = {
    "monthly_fee": ("monthly_fee", -5.0),
    "plan": ("plan", "gold"),
    "customer_id": ("customer_id", None),
}


def pandera_module(ctx: Any, tmp_path: Path) -> Any:
    path = tmp_path / "expectations_pandera.py"
    path.write_text(export(ctx, "pandera"))
    spec = importlib.util.spec_from_file_location("expectations_pandera", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gx_failures(suites: dict[str, Any], frames: dict[str, pd.DataFrame]) -> dict[str, list[str]]:
    """Failed expectation types per source, validated by Great Expectations itself."""
    warnings.filterwarnings("ignore")
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("snapshots")
    out: dict[str, list[str]] = {}
    for s in suites["suites"]:
        name = s["meta"]["source"]
        batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
        suite = context.suites.add(gx.ExpectationSuite(name=s["name"], expectations=s["expectations"], meta=s["meta"]))
        run = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
        result = run.run(batch_parameters={"dataframe": frames[name]})
        out[name] = sorted(r.expectation_config.type for r in result.results if not r.success)
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Any:
    ctx = churn_build(tmp_path_factory.mktemp("export"), rows=600)
    ingest.run(ctx)
    return ctx


def test_clean_snapshots_pass_in_pandera_and_great_expectations(built: Any, tmp_path: Path) -> None:
    module = pandera_module(built, tmp_path)
    frames = {s: module.frame(built.path(f"data/snapshots/{s}.parquet")) for s in module.SCHEMAS}
    for source, schema in module.SCHEMAS.items():
        schema.validate(frames[source], lazy=True)
    suites = json.loads(export(built, "great-expectations"))
    assert gx_failures(suites, frames) == {"events": [], "payments": []}
    assert {e["type"] for s in suites["suites"] for e in s["expectations"]} >= {
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_null",
        "expect_compound_columns_to_be_unique",
    }


@pytest.mark.parametrize("plant", [*sorted(PLANTS), "duplicate_key"])
def test_a_planted_violation_fails_in_both_tools_and_in_validate(built: Any, tmp_path: Path, plant: str) -> None:
    import pandera.errors
    import pyarrow as pa
    import pyarrow.parquet as pq

    module = pandera_module(built, tmp_path)
    path = built.path("data/snapshots/events.parquet")
    original = path.read_bytes()
    frame = module.frame(path)
    if plant == "duplicate_key":
        frame = pd.concat([frame, frame.iloc[[5]]], ignore_index=True)
    else:
        column, value = PLANTS[plant]
        frame.loc[5, column] = value
    with pytest.raises(pandera.errors.SchemaErrors):
        module.SCHEMAS["events"].validate(frame, lazy=True)
    frames = {"events": frame, "payments": module.frame(built.path("data/snapshots/payments.parquet"))}
    failed = gx_failures(json.loads(export(built, "great-expectations")), frames)
    assert failed["events"] and not failed["payments"], failed
    try:  # the same table through mlwright's own validate stage
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
        from mlwright.runtime.stages.ingest import VERSION

        version = json.loads(built.path(VERSION).read_text())
        import hashlib

        version["snapshots"]["events"] = hashlib.sha256(path.read_bytes()).hexdigest()
        built.path(VERSION).write_text(json.dumps(version))
        with pytest.raises(GateFailed):
            validate.run(built)
    finally:
        path.write_bytes(original)
        ingest.run(built)
