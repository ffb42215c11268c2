"""`mlwright init DATA... --target COL`: a starter system.yaml inferred from the files.

Most of a new user's first hour went into writing a schema the data already implies.
Here each file (or glob) becomes a source; each column is read the way ingest will read
it (the same CSV null strings, the same casts), so a type written here is a type ingest
parses. The label source is the one holding the target; every other source joins by
the entity, as of its own time column where it has one. Every inferred choice carries
a comment saying what it was inferred from. Big files are sampled (evenly spaced
blocks, not just the head), and the comments say so.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlwright.runtime.context import UserError

SAMPLE_BYTES = 16 * 1024 * 1024  # files above this are sampled (~200k rows of a typical table)
BLOCKS = 32  # evenly spaced blocks read from a sampled file
MAX_CATEGORIES = 20  # a text column with at most this many values is a category
FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}


@dataclass
class ColumnProfile:
    name: str
    kind: str  # int | float | bool | timestamp | string | category
    rows: int
    nulls: int
    distinct: int
    low: float | None = None
    high: float | None = None
    values: list[str] = field(default_factory=list)
    example: str = ""


@dataclass
class FileProfile:
    name: str  # the source's name
    uri: str  # as written in the spec, relative to it
    format: str
    rows: int
    sampled: bool
    columns: dict[str, ColumnProfile]
    table: pa.Table = field(repr=False, default=None)  # the rows read (all, or the sample)


def identifier(header: str) -> str:
    """A header as the identifier the spec uses ("Mean Radius (mm)" -> mean_radius_mm)."""
    text = re.sub(r"[^0-9A-Za-z_]+", "_", header.strip()).strip("_").lower() or "column"
    return f"c_{text}" if text[0].isdigit() else text


def files_of(pattern: str) -> list[Path]:
    found = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    if not found:
        raise UserError(f"{pattern}: no files match")
    formats = {FORMATS.get(p.suffix.lower()) for p in found}
    if None in formats or len(formats) != 1:
        raise UserError(
            f"{pattern}: files of one format please (.csv, .parquet or .jsonl); found {sorted(p.suffix for p in found)}"
        )
    return found


def read_sample(path: Path, fmt: str) -> tuple[pa.Table, bool]:
    """The file, or evenly spaced blocks of it when it is bigger than SAMPLE_BYTES."""
    from mlwright.runtime.data.sources import read_jsonl, read_parquet

    size = path.stat().st_size
    if fmt == "parquet":
        import pyarrow.parquet as pq

        if size <= SAMPLE_BYTES:
            return read_parquet(path, str(path)), False
        pf = pq.ParquetFile(path)
        groups = sorted({round(i * (pf.num_row_groups - 1) / max(BLOCKS - 1, 1)) for i in range(BLOCKS)})
        return pf.read_row_groups(groups), len(groups) < pf.num_row_groups
    if size <= SAMPLE_BYTES:
        return (_csv(path.read_bytes()) if fmt == "csv" else read_jsonl(path, str(path))), False
    return _sampled_text(path, fmt, size), True


def _sampled_text(path: Path, fmt: str, size: int) -> pa.Table:
    block = SAMPLE_BYTES // BLOCKS
    with path.open("rb") as fh:
        head = fh.readline() if fmt == "csv" else b""
        chunks = []
        for i in range(BLOCKS):
            fh.seek(max(len(head), i * (size - block) // max(BLOCKS - 1, 1)))
            if i:
                fh.readline()  # to the start of the next whole line
            data = fh.read(block)
            chunks.append(data[: data.rfind(b"\n") + 1])
    body = head + b"".join(chunks)
    if fmt == "csv":
        return _csv(body)
    import io

    import pyarrow.json as pj

    return pj.read_json(io.BytesIO(body))


def _csv(body: bytes) -> pa.Table:
    import csv
    import io

    import pyarrow.csv as pcsv

    header = next(csv.reader([body.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")]), [])
    try:
        # every column as text, as ingest reads it, then typed below exactly as ingest casts it
        convert = pcsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True)
        table = pcsv.read_csv(io.BytesIO(body), convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise UserError(f"malformed CSV: {str(exc).splitlines()[0]}") from None
    return table


def column_profile(name: str, col: pa.ChunkedArray) -> ColumnProfile:
    from mlwright.runtime.data.sources import _cast

    text = pc.cast(col, pa.string()) if not pa.types.is_string(col.type) else col
    kind = "string"
    typed = text
    for candidate in ("bool", "int", "float", "timestamp"):
        if pa.types.is_floating(col.type) and candidate == "int":
            continue  # 1.0, 2.5: a float column stays one even where its sample holds whole numbers
        head = pc.drop_null(text).slice(0, 200)  # a cheap look first: most columns fail most casts at once
        trial = _cast(pa.chunked_array([head], pa.string()), candidate)
        if trial.type == pa.string() or trial.null_count:
            continue
        attempt = _cast(text, candidate)
        if attempt.type != pa.string() and attempt.null_count == text.null_count:
            kind, typed = candidate, attempt
            break
    nulls = typed.null_count
    present = pc.drop_null(typed)
    distinct = len(pc.unique(present)) if len(present) else 0
    prof = ColumnProfile(
        name, kind, len(typed), nulls, distinct, example=str(present[0].as_py()) if len(present) else ""
    )
    if kind in ("int", "float") and len(present):
        prof.low, prof.high = float(pc.min(present).as_py()), float(pc.max(present).as_py())
    if kind == "string" and 0 < distinct <= MAX_CATEGORIES and distinct < len(present):
        prof.kind = "category"
        prof.values = sorted(str(v) for v in pc.unique(present).to_pylist())
    return prof


def profile(pattern: str, spec_dir: Path) -> FileProfile:
    files = files_of(pattern)
    fmt = FORMATS[files[0].suffix.lower()]
    tables, sampled = [], False
    for f in files:
        table, was_sampled = read_sample(f, fmt)
        tables.append(table)
        sampled = sampled or was_sampled
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    uri = os.path.relpath(os.path.abspath(pattern), spec_dir.resolve()).replace(os.sep, "/")
    stem = files[0].stem if len(files) == 1 else Path(pattern).parent.name
    columns = {c: column_profile(c, table.column(c)) for c in table.column_names}
    return FileProfile(identifier(stem), uri, fmt, table.num_rows, sampled, columns, table)


# --- the spec -----------------------------------------------------------------------
@dataclass(frozen=True)
class InitChoices:
    target: str
    entity: str | None = None
    timestamp: str | None = None
    task: str | None = None
    name: str | None = None


def by_identifier(p: FileProfile) -> dict[str, ColumnProfile]:
    return {
        identifier(c) if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", c) else c: prof for c, prof in p.columns.items()
    }


def task_of(target: ColumnProfile) -> tuple[str, str]:
    if target.kind == "bool" or target.distinct == 2:
        return "binary_classification", f"the target has 2 values ({target.distinct} distinct)"
    if target.kind in ("category", "string") or (target.kind == "int" and target.distinct <= MAX_CATEGORIES):
        return "multiclass_classification", f"the target has {target.distinct} distinct {target.kind} values"
    return "regression", f"the target is a {target.kind} with {target.distinct} distinct values"


def entity_of(label: dict[str, ColumnProfile], choices: InitChoices) -> str:
    if choices.entity:
        if choices.entity not in label:
            raise UserError(f"--entity: {choices.entity!r} is not a column of the target's file (have {sorted(label)})")
        return choices.entity
    unique = [c for c, p in label.items() if p.nulls == 0 and p.distinct == p.rows and p.kind in ("int", "string")]
    if not unique:
        raise UserError(
            "--entity: no column of the target's file is unique, so none is a row id; name the entity the "
            "model predicts for (a customer, a patient) with --entity COL"
        )
    return unique[0]


def timestamp_of(label: dict[str, ColumnProfile], choices: InitChoices) -> str | None:
    if choices.timestamp is None:
        return None
    col = label.get(choices.timestamp)
    if col is None:
        raise UserError(
            f"--timestamp: {choices.timestamp!r} is not a column of the target's file (have {sorted(label)})"
        )
    if col.kind != "timestamp":
        raise UserError(
            f"--timestamp: {choices.timestamp} holds values like {col.example!r}, which ingest does not read as times "
            "(ISO 8601 text, e.g. 2024-01-31 or 2024-01-31T12:00:00, or a Parquet timestamp); convert the column first"
        )
    return choices.timestamp


def nice(value: float, up: bool) -> float:
    """A bound with a margin, rounded outward to 3 significant digits."""
    if value == 0:
        return 0.0
    digits = 3 - int(math.floor(math.log10(abs(value)))) - 1
    scale = 10.0**digits
    return (math.ceil if up else math.floor)(value * scale) / scale


def column_rules(prof: ColumnProfile, key: bool, unique: bool) -> tuple[dict[str, Any], str]:
    """(schema rules, comment) of one column."""
    kind = "category" if prof.kind == "category" else prof.kind
    rules: dict[str, Any] = {"type": kind}
    why = [f"{prof.nulls} null(s) in {prof.rows} rows"] if prof.nulls else []
    if key and prof.nulls == 0:
        rules["nullable"] = False
    if unique:
        rules["unique"] = True
    if prof.low is not None and prof.high is not None and not key:
        margin = 0.1 * (prof.high - prof.low)
        low = max(prof.low - margin, 0.0) if prof.low >= 0 else prof.low - margin  # never negative where none was
        high = prof.high + margin
        if prof.kind == "int":  # whole bounds for whole numbers
            low, high = math.floor(low), math.ceil(high)
        rules["min"] = nice(low, up=False)
        rules["max"] = nice(high, up=True)
        why.append(f"observed {prof.low:g}..{prof.high:g}, 10% margin")
    if prof.values and not key:
        rules["values"] = prof.values
        why.append(f"{len(prof.values)} values seen")
    return rules, "; ".join(why)


def _flow(value: Any) -> str:
    """A YAML flow value (JSON is YAML; plain where that reads the same)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else json.dumps(str(value))
    if (
        isinstance(value, str)
        and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_./*-]*", value)
        and value.lower()
        not in (
            "true",
            "false",
            "null",
            "yes",
            "no",
            "on",
            "off",
        )
    ):
        return value
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Inferred:
    """What `init` read off the files: the label source and its columns, and the problem."""

    profiles: list[FileProfile]
    named: dict[str, dict[str, ColumnProfile]]  # source -> identifier -> profile
    label: FileProfile  # the source holding the target
    entity: str
    timestamp: str | None
    task: str
    task_why: str
    inputs: list[str]

    @property
    def cols(self) -> dict[str, ColumnProfile]:
        return self.named[self.label.name]


def starter_yaml(profiles: list[FileProfile], choices: InitChoices) -> str:
    """The starter spec as commented YAML text."""
    found = inferred(profiles, choices)
    lines = [
        *_head_lines(found, choices),
        "data:",
        "  sources:",
        *(_source_line(found, p) for p in profiles),
        "expectations:",
        "  schema:",
        *_schema_lines(found, choices),
        "features:",
        "  definitions:",
        *_feature_lines(found, choices),
        "training:",
        "  hpo: {trials: 20}  # a cross-validated search over LightGBM's usual space",
    ]
    return "\n".join(lines) + "\n"


def inferred(profiles: list[FileProfile], choices: InitChoices) -> Inferred:
    named = {p.name: by_identifier(p) for p in profiles}
    holders = [p for p in profiles if choices.target in named[p.name]]
    if not holders:
        raise UserError(
            f"--target: {choices.target!r} is in none of the files (columns: {sorted({c for n in named.values() for c in n})})"
        )
    label = holders[0]
    cols = named[label.name]
    entity = entity_of(cols, choices)
    timestamp = timestamp_of(cols, choices)
    task, task_why = (choices.task, "--task") if choices.task else task_of(cols[choices.target])
    inputs = [entity] + [
        c
        for c, prof in cols.items()
        if c not in (entity, choices.target, timestamp) and not _id_like(prof) and prof.kind != "timestamp"
    ]
    return Inferred(profiles, named, label, entity, timestamp, task, task_why, inputs)


def _head_lines(found: Inferred, choices: InitChoices) -> list[str]:
    label, task = found.label, found.task
    metric = {"binary_classification": "roc_auc", "multiclass_classification": "f1", "regression": "rmse"}[task]
    lines = [
        f"# Starter system spec written by `mlwright init` from {', '.join(p.uri for p in found.profiles)}.",
        "# Every inferred choice says what it came from; read them, then compile and run:",
        "#   mlwright compile system.yaml && mlwright run build/<name>",
        f"name: {_flow(choices.name or identifier(label.name).replace('_', '-'))}",
        "version: 0.1.0",
        "spec:",
        f"  task: {task}  # {found.task_why}",
        f"  target: {choices.target}",
        f"  entity: {found.entity}  # {'--entity' if choices.entity else 'the first unique column of ' + label.uri}",
    ]
    if found.timestamp:
        lines.append(f"  timestamp: {found.timestamp}  # --timestamp: time-aware split, features as of each row's time")
    return [
        *lines,
        f"  inputs: {_flow(found.inputs)}  # every column of {label.uri} but the target, the time and other ids",
        f"  metric: {{name: {metric}}}  # the usual metric for {task.replace('_', ' ')}",
    ]


def _source_line(found: Inferred, p: FileProfile) -> str:
    """One source: its rename of headers that are no identifiers, and the time column its
    rows are joined as of (refused when that is not clear)."""
    entity, timestamp = found.entity, found.timestamp
    renames = {
        c: identifier(c) for c in p.columns if identifier(c) != c and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", c)
    }
    entry: dict[str, Any] = {"name": p.name, "uri": p.uri, "format": p.format}
    if renames:
        entry["rename"] = renames
    src_cols = found.named[p.name]
    if p is not found.label:
        if entity not in src_cols:
            raise UserError(f"{p.uri}: has no {entity!r} column, so its rows cannot be joined to the target's rows")
        times = [c for c, prof in src_cols.items() if prof.kind == "timestamp"]
        if len(times) > 1 and timestamp not in times:
            raise UserError(
                f"{p.uri}: several time columns ({', '.join(times)}); which one dates its rows is not clear"
            )
        if times and timestamp is None:
            raise UserError(
                f"{p.uri}: its rows have times ({times[0]}): name the target's time column with --timestamp"
            )
        if times:
            entry["time_column"] = timestamp if timestamp in times else times[0]
    sampled = f"  # sampled: {p.rows} rows read in evenly spaced blocks" if p.sampled else f"  # {p.rows} rows"
    return f"    - {_flow(entry)}{sampled}"


def _schema_lines(found: Inferred, choices: InitChoices) -> list[str]:
    lines = []
    for p in found.profiles:
        lines.append(f"    {p.name}:")
        for c, prof in found.named[p.name].items():
            key = c in (found.entity, found.timestamp, choices.target) and p is found.label or c == found.entity
            unique = p is found.label and c == found.entity and prof.distinct == prof.rows and prof.nulls == 0
            rules, why = column_rules(prof, key and c != choices.target, unique)
            if c == choices.target and prof.nulls == 0:
                rules["nullable"] = False  # a row without its label cannot train
            lines.append(f"      {c}: {_flow(rules)}" + (f"  # {why}" if why else ""))
    return lines


def _feature_lines(found: Inferred, choices: InitChoices) -> list[str]:
    """Each input as a feature; a timed regression's own trailing mean; every other
    source's columns as of each row's time."""
    label, cols = found.label, found.cols
    definitions = [f"    - {_flow(_feature(c, label.name, cols[c]))}" for c in found.inputs[1:]]
    if found.timestamp and found.task == "regression":  # the target's own past, strictly before each row's time
        window = trailing_window(label, found.entity, found.timestamp)
        expr = {"name": f"{choices.target}_mean_{window}", "from": label.name, "expr": f"avg({choices.target})"}
        definitions.append(
            f"    - {_flow({**expr, 'window': window, 'time_column': found.timestamp})}  # 3 typical gaps between an entity's rows"
        )
    for p in found.profiles:
        if p is label:
            continue
        for c, prof in found.named[p.name].items():
            if c == found.entity or prof.kind == "timestamp" or _id_like(prof):
                continue
            name = c if c not in cols else f"{p.name}_{c}"
            definitions.append(f"    - {_flow(_feature(name, p.name, prof, c))}  # as of each row's time")
    if not definitions:
        raise UserError(
            f"{label.uri}: no column besides the entity, the target and the time to learn from; add one, or a "
            "second source with --timestamp"
        )
    return definitions


def trailing_window(label: FileProfile, entity: str, timestamp: str) -> str:
    """Three times the median gap between an entity's consecutive rows, in whole days
    (30 days when no entity has two rows)."""
    from mlwright.runtime.data.sources import _cast

    raw = {ident: prof.name for ident, prof in by_identifier(label).items()}
    table = label.table
    ts = (
        _cast(pc.cast(table.column(raw[timestamp]), pa.string()), "timestamp")
        .cast(pa.int64())
        .to_numpy(zero_copy_only=False)
    )
    ids = table.column(raw[entity]).to_pylist()
    import numpy as np

    order = sorted(range(len(ids)), key=lambda i: (str(ids[i]), ts[i]))
    gaps = [ts[b] - ts[a] for a, b in zip(order, order[1:], strict=False) if ids[a] == ids[b] and ts[b] > ts[a]]
    seconds = float(np.median(gaps)) / 1e6 if gaps else 10 * 86_400
    return f"{max(1, math.ceil(3 * seconds / 86_400))}d"


def _id_like(prof: ColumnProfile) -> bool:
    """Text unique in every row: an id or free text, no use as a feature."""
    return prof.kind == "string" and prof.distinct == prof.rows - prof.nulls and prof.rows > MAX_CATEGORIES


def _feature(name: str, source: str, prof: ColumnProfile, column: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "from": source, "expr": column or name}
    if prof.kind in ("category", "string", "bool"):
        out["encoding"] = "category"
    return out
