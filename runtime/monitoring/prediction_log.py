"""The endpoint's JSONL prediction log, read as columns (what `monitor` compares).

DuckDB's JSON reader parses the log in parallel into typed columns, so a log of a
million requests takes about a second and a few hundred MB instead of a Python
object per record (measured in benchmarks/monitor_log.py). Only answered requests
(`status` 200 with an `inputs` object) count; a line that is not JSON (a write cut
by a crash) is skipped, as before. Values keep the meaning the record-by-record
reader gave them: a numeric input that is text or missing is NaN, `true` is 1.0;
a categorical input is its text (`true`/`false` for booleans, `3.0` for 3.0); an
entity or label key that is not a JSON string is converted in Python, exactly as
`str()` and `key_text` do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwright.runtime.context import UserError
from mlwright.runtime.monitoring.current import Current, class_code, key_text

NUMBER = "('BIGINT', 'UBIGINT', 'DOUBLE')"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _numeric(field: str) -> str:
    """A JSON input as DOUBLE: numbers as they are, booleans 1/0, anything else NULL (NaN)."""
    kind = f"json_type(inputs, {_lit(field)})"
    value = f"(inputs -> {_lit(field)})"
    return (
        f"CASE WHEN {kind} IN {NUMBER} THEN CAST({value} AS DOUBLE) "
        f"WHEN {kind} = 'BOOLEAN' THEN CAST(CAST({value} AS BOOLEAN) AS DOUBLE) END"
    )


def _aliases(names: list[str], texts: list[str]) -> list[tuple[str, str]]:
    return [*((n, f"v_{i}") for i, n in enumerate(names)), *((c, f"t_{j}") for j, c in enumerate(texts))]


def _text_columns(field: str, alias: str) -> str:
    """An input's JSON type, its text when it is a string, and its raw JSON when it is not."""
    kind = f"json_type(inputs, {_lit(field)})"
    return (
        f'{kind} AS "{alias}_kind", inputs ->> {_lit(field)} AS "{alias}_text", '
        f"CASE WHEN {kind} NOT IN ('VARCHAR', 'NULL') THEN CAST(inputs -> {_lit(field)} AS VARCHAR) END "
        f'AS "{alias}_raw"'
    )


def _as_text(table: pa.Table, name: str, convert: Callable[[Any], str | None]) -> list[str | None]:
    """`{name}_kind`/`{name}_text`/`{name}_raw` columns as Python text: JSON strings as
    they are, other values through `convert` (on the parsed JSON), missing as None."""
    texts = table.column(f"{name}_text")
    raws = table.column(f"{name}_raw")
    if raws.null_count == len(raws):  # strings only (JSON null and absent are NULL text already)
        return _shared_strings(texts)
    return [
        t if r is None else convert(json.loads(r)) for t, r in zip(texts.to_pylist(), raws.to_pylist(), strict=True)
    ]


def _shared_strings(column: pa.ChunkedArray) -> list[str | None]:
    """The column as a list in which equal values are one str object: a million rows of
    a few categories (or ids) cost a pointer each, not a string each."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    values: list[str | None] = [*encoded.dictionary.to_pylist(), None]
    indices = encoded.indices.fill_null(len(values) - 1).to_numpy(zero_copy_only=False)
    return [values[i] for i in indices.tolist()]


def _category(v: Any) -> str:
    return "true" if v is True else "false" if v is False else str(v)


def read_log(
    path: Path,
    reference: dict[str, Any],
    entity: str,
    classes: list[Any] | None = None,
    key: list[str] | None = None,
    name: str | None = None,
    part: bool = False,
) -> Current:
    """The answered requests of a prediction log as a `Current` (errors name `name`, the
    log a `part` was cut from, or else `path`)."""
    import duckdb

    shown = name or str(path)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    try:
        names, texts = list(reference), [entity, *(key or [])]
        select = [
            "request_id",
            "COALESCE(epoch_us(TRY_CAST(timestamp AS TIMESTAMPTZ)), 0) AS ts",
            "(timestamp IS NOT NULL AND timestamp <> '' AND TRY_CAST(timestamp AS TIMESTAMPTZ) IS NULL) AS bad_ts",
            "CAST(prediction AS VARCHAR) AS prediction_raw",
            f"CASE WHEN json_type(probability) IN {NUMBER} THEN CAST(probability AS DOUBLE) END AS probability",
            *(
                f'{_numeric(n)} AS "v_{i}", json_type(inputs, {_lit(n)}) AS "v_{i}_kind"'
                if reference[n]["kind"] == "numeric"
                else _text_columns(n, f"v_{i}")
                for i, n in enumerate(names)
            ),
            *(_text_columns(c, f"t_{j}") for j, c in enumerate(texts)),
        ]
        table = con.sql(
            "SELECT " + ", ".join(select) + f" FROM read_json({_lit(str(path))}, format='newline_delimited', "
            "ignore_errors=true, columns={request_id: 'VARCHAR', timestamp: 'VARCHAR', status: 'VARCHAR', "
            "prediction: 'JSON', probability: 'JSON', inputs: 'JSON'}) "
            "WHERE TRY_CAST(status AS DOUBLE) = 200 AND json_type(inputs) = 'OBJECT'"
        ).to_arrow_table()
    except duckdb.Error as exc:
        raise UserError(f"{shown}: not a readable prediction log ({str(exc).splitlines()[0]})") from None
    finally:
        con.close()
    bad = int(np.count_nonzero(table.column("bad_ts").to_numpy(zero_copy_only=False)))
    if bad:
        raise UserError(
            f"{shown}: {bad} answered request(s) carry a timestamp that is not ISO 8601; the log is damaged"
        )
    # a field some answered request carries (a request log carries the inputs, not store features)
    present = {n: table.column(f"{alias}_kind").null_count < table.num_rows for n, alias in _aliases(names, texts)}
    columns: dict[str, Any] = {}
    for i, n in enumerate(names):
        if not present[n]:
            continue
        if reference[n]["kind"] == "numeric":
            columns[n] = table.column(f"v_{i}").to_numpy(zero_copy_only=False).astype(np.float64)
        else:
            columns[n] = _as_text(table, f"v_{i}", _category)
    entities = _as_text(table, "t_0", str)
    keys = None
    seen = tuple(present[c] for c in key or [])
    # a declared label key the requests carry (else labels join by request_id); a part of
    # the log keys every row, as the driver decides by what all parts saw
    if key and (part or all(seen)):
        parts = [_as_text(table, f"t_{j + 1}", key_text) for j in range(len(key))]
        keys = [tuple(key_text(v) for v in row) for row in zip(*parts, strict=True)]
    return Current(
        columns,
        table.column("ts").to_numpy(zero_copy_only=False).astype(np.int64),
        entities,
        table.column("request_id").to_pylist(),
        predictions(table, classes),
        table.column("probability").to_numpy(zero_copy_only=False).astype(np.float64),
        table.num_rows,
        keys,
        seen,
    )


@dataclass(frozen=True)
class LogRange:
    """Bytes [start, stop) of a log: whole lines, so every record is in one range."""

    path: str
    start: int
    stop: int


def log_ranges(path: Path, parts: int) -> list[LogRange]:
    """At most `parts` ranges of near-equal size, each cut at a line's start."""
    size = path.stat().st_size
    cuts = {0, size}
    with path.open("rb") as fh:
        for i in range(1, parts):
            at = size * i // parts
            if at == 0:  # a log smaller than the count of parts
                continue
            fh.seek(at - 1)
            fh.readline()  # to the end of the line holding the byte before the cut
            cuts.add(min(fh.tell(), size))
    bounds = sorted(cuts)
    return [LogRange(str(path), a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a] or [
        LogRange(str(path), 0, 0)
    ]


@dataclass(frozen=True)
class LogPart:
    """One range of the log to read on a worker: a self-contained task."""

    index: int
    rows: LogRange
    folder: str  # where the range is copied to for DuckDB's reader (seen by every worker)
    reference: dict[str, Any]  # feature -> {"kind": ...}: what the reader needs of the profile
    entity: str
    classes: list[Any] | None
    key: list[str] | None


def read_log_part(job: LogPart) -> Any:
    """The range's answered requests as a `covariate.Part`, errors naming the log."""
    from mlwright.runtime.monitoring.covariate import Part

    copy = Path(job.folder) / f"part-{job.index}.jsonl"
    try:
        with open(job.rows.path, "rb") as src, copy.open("wb") as out:
            src.seek(job.rows.start)
            left = job.rows.stop - job.rows.start
            while left > 0:
                chunk = src.read(min(left, 1 << 24))
                if not chunk:
                    break
                out.write(chunk)
                left -= len(chunk)
        cur = read_log(copy, job.reference, job.entity, job.classes, job.key, name=job.rows.path, part=True)
    finally:
        copy.unlink(missing_ok=True)
    return Part(job.index, cur)


def predictions(table: pa.Table, classes: list[Any] | None) -> np.ndarray:
    """Each logged prediction as `class_code` gives it, computed once per distinct value."""
    raws = table.column("prediction_raw").to_pylist()
    codes = {raw: class_code(None if raw is None else json.loads(raw), classes) for raw in set(raws)}
    return np.array([codes[raw] for raw in raws], dtype=np.float64)


def is_prediction_log(path: str) -> bool:
    """A JSONL file whose records carry `request_id` and `inputs` is a log of our endpoint;
    any other file (or glob) is a batch of inputs."""
    p = Path(path)
    if p.suffix != ".jsonl" or not p.is_file():
        return False
    with p.open(encoding="utf-8") as fh:
        first = fh.readline()
    try:
        record = json.loads(first)
    except ValueError:
        return False
    return isinstance(record, dict) and "request_id" in record and "inputs" in record
