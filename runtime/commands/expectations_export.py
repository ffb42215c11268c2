"""`mlwright export expectations DIR --to pandera|great-expectations`: the spec's
layer-A schema as the validation suites teams already run (#21 item 5).

The same rules `validate` checks (types, nulls, ranges, allowed values, unique and
compound-unique keys), written for the tables ingest writes
(`data/snapshots/<source>.parquet`, columns named after `rename`):
- pandera: a Python module with one `DataFrameSchema` per source in `SCHEMAS` and a
  `frame(path)` that reads a snapshot with pandas' nullable dtypes, so an int column
  with gaps stays an int column;
- Great Expectations: one suite per source, in GX 1.x's JSON shape
  (`{"name", "expectations": [{"type", "kwargs"}]}`).
Cross-field SQL checks are not exported (neither tool runs DuckDB SQL); they stay in
`mlwright validate`. Nothing here imports either tool: the files are text.
"""

from __future__ import annotations

import json
from typing import Any

from mlwright.contract.validate import ColumnCheck
from mlwright.runtime.context import StageContext, UserError

PANDERA_DTYPES = {
    "string": "string",
    "category": "string",
    "int": "Int64",
    "float": "Float64",
    "bool": "boolean",
    "timestamp": "datetime64[ns]",
}


def pandera_module(ctx: StageContext) -> str:
    cfg = ctx.params.validate_
    lines = [
        f'"""Layer-A expectations of {cfg.name!r} as pandera schemas (written by `mlwright export`).',
        "",
        "Validate a table as ingest writes it: SCHEMAS[source].validate(frame(path)).",
        'Cross-field SQL checks are not here: they run in `mlwright validate`."""',
        "",
        "import pandas as pd",
        "import pandera.pandas as pa",
        "import pyarrow as pyarrow_",
        "import pyarrow.parquet as pq",
        "",
        "",
        "def frame(path):",
        '    """A snapshot as pandas, with nullable dtypes (an int column with gaps stays Int64)."""',
        "    mapping = {pyarrow_.int64(): pd.Int64Dtype(), pyarrow_.string(): pd.StringDtype(),",
        "               pyarrow_.bool_(): pd.BooleanDtype(), pyarrow_.float64(): pd.Float64Dtype()}",
        "    return pq.read_table(path).to_pandas(types_mapper=mapping.get)",
        "",
        "",
        "SCHEMAS = {",
    ]
    for source, columns in sorted(cfg.schema_.items()):
        lines.append(f"    {source!r}: pa.DataFrameSchema(")
        lines.append("        {")
        compound = []
        for column, rules in sorted(columns.items()):
            lines.append(f"            {column!r}: {_pandera_column(rules)},")
            if rules.unique_with:
                compound.append([column, *rules.unique_with])
        lines.append("        },")
        if compound:
            lines.append(f"        unique={compound[0]!r},")
        lines.append("        strict=False,  # columns the schema does not declare are allowed, as in `validate`")
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _pandera_column(rules: ColumnCheck) -> str:
    checks = []
    if rules.min is not None:
        checks.append(f"pa.Check.ge({rules.min!r})")
    if rules.max is not None:
        checks.append(f"pa.Check.le({rules.max!r})")
    if rules.values:
        checks.append(f"pa.Check.isin({list(rules.values)!r})")
    args = [repr(PANDERA_DTYPES[rules.type])]
    if checks:
        args.append(f"checks=[{', '.join(checks)}]")
    args.append(f"nullable={rules.nullable!r}")
    if rules.unique:
        args.append("unique=True")
    args.append("coerce=True")  # a value that parses as the type passes, as ingest casts it
    return f"pa.Column({', '.join(args)})"


def gx_suites(ctx: StageContext) -> dict[str, Any]:
    cfg = ctx.params.validate_
    suites = [
        {"name": f"{cfg.name}.{source}", "expectations": _gx_expectations(columns), "meta": {"source": source}}
        for source, columns in sorted(cfg.schema_.items())
    ]
    return {"suites": suites}


def _gx_expectations(columns: dict[str, ColumnCheck]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for column, rules in sorted(columns.items()):
        out.append({"type": "expect_column_to_exist", "kwargs": {"column": column}})
        if not rules.nullable:
            out.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column}})
        if rules.min is not None or rules.max is not None:
            bounds = {"column": column, "min_value": rules.min, "max_value": rules.max}
            out.append({"type": "expect_column_values_to_be_between", "kwargs": bounds})
        if rules.values:
            out.append(
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": column, "value_set": list(rules.values)},
                }
            )
        if rules.unique:
            out.append({"type": "expect_column_values_to_be_unique", "kwargs": {"column": column}})
        if rules.unique_with:
            out.append(
                {
                    "type": "expect_compound_columns_to_be_unique",
                    "kwargs": {"column_list": [column, *rules.unique_with]},
                }
            )
    return out


def export(ctx: StageContext, to: str) -> str:
    """The suite text for `to`."""
    if to == "pandera":
        return pandera_module(ctx)
    if to == "great-expectations":
        return json.dumps(gx_suites(ctx), indent=2, sort_keys=True) + "\n"
    raise UserError(f"--to: {to!r} is not one of: pandera, great-expectations")
