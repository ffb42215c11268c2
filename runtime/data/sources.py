"""Reading sources into Arrow tables with the declared column types.

Values that do not parse as their declared type are not an ingest error: the
column stays as text and the validation stage reports how many values failed
and which (layer A). Unreadable files are ingest errors naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from mlwright.runtime.context import UserError
from mlwright.runtime.data.source_paths import source_files
from mlwright.runtime.stats.truth import FALSE_WORDS, TRUE_WORDS

__all__ = [
    "apply_rename",
    "cast_declared",
    "concat",
    "event_times_us",
    "read_csv",
    "read_jsonl",
    "read_parquet",
    "read_table_file",
    "source_files",
]

ARROW_TYPES = {
    "string": pa.string(),
    "category": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us"),
}


def cast_declared(table: pa.Table, columns: dict[str, str]) -> pa.Table:
    """Cast each declared column to its type; keep text where values do not parse."""
    for name, kind in columns.items():
        if name not in table.column_names:
            continue
        idx = table.column_names.index(name)
        table = table.set_column(idx, name, _cast(table.column(name), kind))
    return table


def _cast(col: pa.ChunkedArray, kind: str) -> pa.ChunkedArray:
    target = ARROW_TYPES[kind]
    if col.type == target:
        return col
    if pa.types.is_large_string(col.type):  # pandas and Polars write these; one text type below
        col = pc.cast(col, pa.string())
    try:
        if kind == "bool" and pa.types.is_string(col.type):
            return _parse_bool(col)
        if kind == "timestamp" and pa.types.is_string(col.type):
            return pc.cast(pc.strptime(_iso(col), format="%Y-%m-%dT%H:%M:%S", unit="us"), target)
        if kind == "timestamp" and pa.types.is_timestamp(col.type):
            # pandas writes nanoseconds: keep the microsecond (a safe cast refuses to drop
            # the rest and the column would fall back to text); an aware time is the
            # instant in UTC, then the zone is dropped
            utc = pc.cast(col, pa.timestamp("us", tz="UTC"), safe=False) if col.type.tz is not None else col
            return pc.cast(utc, target, safe=False)
        if kind in ("string", "category"):
            return pc.cast(col, pa.string())
        return pc.cast(col, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return col if pa.types.is_string(col.type) else pc.cast(col, pa.string())


def event_times_us(col: pa.ChunkedArray, where: str) -> pa.ChunkedArray:
    """An event-time column of a file handed to `monitor` as int64 microseconds (UTC
    for zoned times), parsed as ingest parses it: ISO text, or any timestamp unit."""
    parsed = _cast(col, "timestamp")
    if not pa.types.is_timestamp(parsed.type):
        raise UserError(f"{where}: event times are not timestamps (e.g. {parsed[0].as_py()!r})")
    return parsed.cast(pa.int64())


def _parse_bool(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """`true`/`1`/`yes` and `false`/`0`/`no` (any case); anything else keeps the column as text."""
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(col))
    is_true = pc.is_in(lowered, value_set=pa.array(TRUE_WORDS))
    known = pc.or_(is_true, pc.is_in(lowered, value_set=pa.array(FALSE_WORDS)))
    if not pc.all(pc.or_kleene(known, pc.is_null(col))).as_py():
        return col
    return pc.if_else(pc.is_null(col), pa.scalar(None, pa.bool_()), is_true)


def _iso(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Normalise `2024-01-02`, `2024-01-02 03:04:05`, `...Z` and fractions to one format."""
    s = pc.utf8_trim_whitespace(col)
    s = pc.replace_substring_regex(s, r"Z$|[+-]00:?00$", "")
    s = pc.replace_substring_regex(s, r"^(\d{4}-\d{2}-\d{2})$", r"\1T00:00:00")
    s = pc.replace_substring_regex(s, r"^(\d{4}-\d{2}-\d{2}) ", r"\1T")
    s = pc.replace_substring_regex(s, r"\.\d+$", "")
    return s


def read_csv(path: Path, columns: dict[str, str], delimiter: str, shown: str) -> pa.Table:
    import pyarrow.csv as pcsv

    try:
        convert = pcsv.ConvertOptions(column_types={c: pa.string() for c in columns}, strings_can_be_null=True)
        table = pcsv.read_csv(path, parse_options=pcsv.ParseOptions(delimiter=delimiter), convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise UserError(f"{shown}: malformed CSV: {_csv_message(str(exc))}") from None
    except OSError as exc:
        raise UserError(f"{shown}: cannot read: {exc}") from None
    return table


def apply_rename(table: pa.Table, rename: dict[str, str], shown: str, *, strict: bool = True) -> pa.Table:
    """File columns -> the spec's names. Strict (ingest): every renamed column must be
    in the file. Lenient (batch files to score): rename what is there, in case the
    file already uses the spec's names."""
    if not rename:
        return table
    have = set(table.column_names)
    missing = sorted(raw for raw in rename if raw not in have)
    if strict and missing:
        raise UserError(f"{shown}: rename: no column {missing[0]!r} in the file (columns: {sorted(have)[:12]})")
    names = []
    for name in table.column_names:
        new = rename.get(name, name)
        if new != name and new in have and new not in rename:
            if strict:
                raise UserError(f"{shown}: rename: '{name}' -> '{new}', but the file already has a '{new}' column")
            new = name
        names.append(new)
    return table.rename_columns(names)


def read_table_file(path: Path, text_columns: Iterable[str] = ()) -> pa.Table:
    """One tabular file by its suffix (files handed to `predict` and `monitor`); the
    CSV `text_columns` stay text (ids like "007")."""
    if path.suffix == ".parquet":
        return read_parquet(path, str(path))
    if path.suffix in (".jsonl", ".json"):
        return read_jsonl(path, str(path))
    if path.suffix == ".csv":
        return read_csv(path, dict.fromkeys(text_columns, "string"), ",", str(path))
    raise UserError(f"{path}: unsupported format (use .parquet, .csv or .jsonl)")


def _csv_message(text: str) -> str:
    text = text.strip().splitlines()[0]
    m = re.search(r"Row #(\d+)", text)
    return f"line {m.group(1)}: {text}" if m else text


def read_parquet(path: Path, shown: str) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"{shown}: not a readable Parquet file: {str(exc).splitlines()[0]}") from None


def read_jsonl(path: Path, shown: str) -> pa.Table:
    import pyarrow.json as pj

    try:
        return pj.read_json(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise UserError(f"{shown}: malformed JSONL: {str(exc).splitlines()[0]}") from None


def concat(tables: list[pa.Table]) -> pa.Table:
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")
