"""Layer A of `validate`, over one table or one part of it: schema checks on Arrow data
(pyarrow.compute; DuckDB for text that must parse and for `cross_field` SQL).

Every outcome here is a count, a percent of the rows and the first failing examples in
row order, so the outcomes of contiguous parts add up to the whole table's (see
parts.py). Uniqueness is the exception: a key repeated across two parts is found only
by counting keys over all parts, which parts.py does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwright.contract.validate import ColumnCheck, CrossFieldCheck

MAX_EXAMPLES = 20
POSITION = "__position"  # a row's place in its snapshot, beside the key columns it counts
_TYPE_SQL = {"int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "timestamp": "TIMESTAMP"}
_EXPECTED_ARROW = {
    "int": pa.types.is_integer,
    "float": lambda t: pa.types.is_floating(t) or pa.types.is_integer(t),
    "bool": pa.types.is_boolean,
    "timestamp": pa.types.is_timestamp,
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    "category": lambda t: pa.types.is_string(t) or pa.types.is_dictionary(t) or pa.types.is_large_string(t),
}


@dataclass
class Outcome:
    id: str
    layer: str
    status: str  # passed | failed | overridden | skipped
    message: str = ""
    source: str = ""
    column: str = ""
    observed: dict[str, Any] = field(default_factory=dict)
    examples: list[Any] = field(default_factory=list)
    justification: str = ""


# What each type reads, said where a column does not parse as it: a date written
# "Jan 1 2000" is text until the file (or a conversion before ingest) writes ISO 8601.
TYPE_HINTS = {
    "timestamp": " (read as ISO 8601 text, e.g. 2024-01-31 or 2024-01-31T12:00:00[Z], or a Parquet timestamp)",
    "bool": " (read as true/false, 1/0, yes/no, t/f, y/n in any case)",
}


def _examples(values: pa.ChunkedArray | pa.Array, mask: Any) -> list[Any]:
    picked = pc.filter(values, mask)
    return [str(v) for v in picked.slice(0, MAX_EXAMPLES).to_pylist()]


def _fail(oid: str, source: str, column: str, count: int, total: int, message: str, examples: list[Any]) -> Outcome:
    pct = 100.0 * count / total if total else 0.0
    return Outcome(
        oid, "schema", "failed", message, source, column, {"count": count, "percent": round(pct, 4)}, examples
    )


def column_checks(source: str, table: pa.Table, column: str, spec: ColumnCheck) -> list[Outcome]:
    base = f"schema.{source}.{column}"
    n = table.num_rows
    if column not in table.column_names:
        return [
            Outcome(
                f"{base}.present",
                "schema",
                "failed",
                "column is missing",
                source,
                column,
                {"count": n, "percent": 100.0},
            )
        ]
    col = table.column(column)
    out: list[Outcome] = []
    kind = spec.type
    if not _EXPECTED_ARROW[kind](col.type):
        bad = _unparseable(col, kind)
        out.append(
            _fail(
                f"{base}.type",
                source,
                column,
                int(pc.sum(bad).as_py() or 0),
                n,
                f"values are not {kind}" + TYPE_HINTS.get(kind, ""),
                _examples(col, bad),
            )
        )
        return out
    out.append(Outcome(f"{base}.type", "schema", "passed", "", source, column, {"type": str(col.type)}))
    if not spec.nullable:
        null_count = col.null_count
        out.append(
            _fail(f"{base}.nullable", source, column, null_count, n, "null values in a non-nullable column", [])
            if null_count
            else _ok(f"{base}.nullable", source, column)
        )
    if spec.min is not None or spec.max is not None:
        out.append(_range(source, column, col, spec.min, spec.max, n))
    if spec.values is not None:
        out.append(_allowed(source, column, col, spec.values, n))
    return out


def unique_keys(table: pa.Table, column: str, spec: ColumnCheck) -> list[str]:
    """The key a uniqueness check counts (the column and its `unique_with`), or none: no
    check declared, a key column missing, or the column not of its type (which
    `column_checks` reports instead)."""
    keys = [column, *(spec.unique_with or [])] if spec.unique or spec.unique_with else []
    if not keys or not all(k in table.column_names for k in keys):
        return []
    return keys if _EXPECTED_ARROW[spec.type](table.column(column).type) else []


def key_counts(table: pa.Table, keys: list[str], first_row: int) -> pa.Table:
    """Each key's count in `table` and the row it first appears at (`first_row`: the
    position of `table`'s first row in the snapshot), to be summed over parts."""
    positions = pa.array(np.arange(first_row, first_row + table.num_rows, dtype=np.int64))
    rows = table.select(keys).append_column(POSITION, positions)
    return rows.group_by(keys).aggregate([([], "count_all"), (POSITION, "min")])


def unique_outcome(source: str, column: str, keys: list[str], counts: list[pa.Table], rows: int) -> Outcome:
    """The uniqueness check over every part's key counts: the rows beyond each key's first,
    and the first repeated keys in the order they first appear."""
    oid = f"schema.{source}.{column}.unique"
    whole = pa.concat_tables(counts).group_by(keys).aggregate([("count_all", "sum"), (f"{POSITION}_min", "min")])
    repeated = whole.filter(pc.greater(whole.column("count_all_sum"), 1))
    if not repeated.num_rows:
        return _ok(oid, source, column)
    repeated = repeated.sort_by(f"{POSITION}_min_min")
    extra = int(pc.sum(repeated.column("count_all_sum")).as_py()) - repeated.num_rows
    shown = repeated.select(keys).slice(0, MAX_EXAMPLES).to_pylist()
    examples: list[Any] = [", ".join(f"{k}={r[k]}" for k in keys) for r in shown]
    return _fail(oid, source, column, extra, rows, f"duplicate rows on ({', '.join(keys)})", examples)


def _range(source: str, column: str, col: pa.ChunkedArray, lo: float | None, hi: float | None, n: int) -> Outcome:
    """min/max first (one pass); a mask and examples only when something is out of range."""
    oid = f"schema.{source}.{column}.range"
    mm = pc.min_max(col)
    mn, mx = mm["min"].as_py(), mm["max"].as_py()
    if mn is None or ((lo is None or mn >= lo) and (hi is None or mx <= hi)):
        return _ok(oid, source, column)
    low = pc.less(col, lo) if lo is not None else None
    high = pc.greater(col, hi) if hi is not None else None
    bad = pc.fill_null(
        pc.or_(low, high) if low is not None and high is not None else (low if low is not None else high), False
    )
    shown = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
    return _fail(oid, source, column, int(pc.sum(bad).as_py() or 0), n, f"values outside {shown}", _examples(col, bad))


def _allowed(source: str, column: str, col: pa.ChunkedArray, values: tuple[str, ...], n: int) -> Outcome:
    """Distinct values first; a mask and examples only for values outside the set."""
    oid = f"schema.{source}.{column}.values"
    allowed = set(values)
    unseen = [u for u in pc.unique(col).to_pylist() if u is not None and u not in allowed]
    if not unseen:
        return _ok(oid, source, column)
    bad = pc.fill_null(pc.is_in(col, value_set=pa.array(unseen, col.type)), False)
    return _fail(oid, source, column, int(pc.sum(bad).as_py() or 0), n, f"values outside {values}", _examples(col, bad))


def _ok(oid: str, source: str, column: str) -> Outcome:
    return Outcome(oid, "schema", "passed", "", source, column)


def _unparseable(col: pa.ChunkedArray, kind: str) -> pa.ChunkedArray:
    """Non-null values that do not parse as `kind` (the column arrived as text)."""
    import duckdb

    text = pc.cast(col, pa.string())
    con = duckdb.connect()
    tbl = pa.table({"v": text})
    con.register("t", tbl)
    sql_type = _TYPE_SQL.get(kind, "VARCHAR")
    res = con.sql(f"SELECT v IS NOT NULL AND TRY_CAST(v AS {sql_type}) IS NULL AS bad FROM t").to_arrow_table()
    con.close()
    return res.column("bad")


def cross_field(source_tables: dict[str, pa.Table], checks: tuple[CrossFieldCheck, ...]) -> list[Outcome]:
    import duckdb

    out = []
    con = duckdb.connect()
    for name, tbl in source_tables.items():
        con.register(name, tbl)
    for cf in checks:
        oid = f"cross_field.{cf.name}"
        total = source_tables[cf.table].num_rows
        bad = con.sql(f'SELECT * FROM "{cf.table}" WHERE NOT ({cf.check})').to_arrow_table()
        if bad.num_rows:
            examples = [json.dumps(r, default=str) for r in bad.slice(0, MAX_EXAMPLES).to_pylist()]
            o = _fail(oid, cf.table, "", bad.num_rows, total, f"rows violate {cf.check}", examples)
            o.layer = "cross_field"
            out.append(o)
        else:
            out.append(Outcome(oid, "cross_field", "passed", "", cf.table))
    con.close()
    return out
