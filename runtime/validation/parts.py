"""What `validate` learns from one part of a snapshot, and the sum of the parts (#18).

A part is a contiguous row range (data/snapshot_parts.py). Over its rows a task runs
layer A's checks, counts every uniqueness key, draws the numeric columns' sample
candidates (stats/sample.py), counts categories and target classes, and notes the
column summary's rows, nulls, extremes and distinct values. The driver adds them up:
counts add, the first examples of the first failing parts are the first in file
order, and the parts' smallest sample keys hold the table's. So a snapshot in any
number of parts, in this process or on a cluster, gives the same report as the whole
table, bit for bit (tests/unit/test_validate_parts.py). The driver holds one entry
per uniqueness key and per distinct value of a summarised text column, never the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwright.contract.validate import ValidateParams
from mlwright.runtime.data.snapshot_parts import RowRange, read_range
from mlwright.runtime.stats.sample import SamplePart, merged_sample, sample_part
from mlwright.runtime.stats.two_sample import added_counts, categorical_profile, profile_of_sample
from mlwright.runtime.validation.checks import (
    MAX_EXAMPLES,
    Outcome,
    column_checks,
    cross_field,
    key_counts,
    unique_keys,
    unique_outcome,
)

PROFILE_BINS = 10


@dataclass(frozen=True)
class PartJob:
    """One row range of one source's snapshot: a self-contained task."""

    source: str
    rows: RowRange
    cfg: ValidateParams


@dataclass(frozen=True)
class Counts:
    """Category counts of a column part; `n` counts its nulls too, as the profile does."""

    n: int
    counts: dict[str, int]


@dataclass(frozen=True)
class NumericPart:
    n: int  # non-null values, NaN included, as the profile counts them
    sample: SamplePart


@dataclass(frozen=True)
class SummaryPart:
    rows: int
    nulls: int
    extremes: pa.Array | None  # [min, max] of a number or time column
    distinct: pa.Array | None  # distinct values of any other column


@dataclass(frozen=True)
class PartFacts:
    source: str
    rows: int
    checks: dict[str, list[Outcome]]  # by declared column
    cross: list[Outcome]  # this source's cross-field checks, in spec order
    keys: dict[str, tuple[list[str], pa.Table]]  # by column with a uniqueness check
    numeric: dict[str, NumericPart]
    categorical: dict[str, Counts]
    target: Counts | None
    summary: dict[str, SummaryPart]


@dataclass(frozen=True)
class Facts:
    """The whole snapshot's: layer A's outcomes in report order, the profile, the summary."""

    outcomes: list[Outcome]
    profile: dict[str, Any]
    summary: list[dict[str, Any]]


def profiled_columns(cfg: ValidateParams) -> dict[str, dict[str, str]]:
    """Columns compared in layer B: declared numeric and categorical columns, not keys; a
    class target is layer C's (class shares), a regression target is compared here like
    any number (it has no classes: every distinct value would be one)."""
    skip = {cfg.entity, cfg.timestamp} | ({cfg.target} if cfg.task != "regression" else set())
    out: dict[str, dict[str, str]] = {}
    for source, cols in cfg.schema_.items():
        for col, spec in cols.items():
            if col in skip or spec.unique or spec.unique_with:
                continue
            if spec.type in ("int", "float"):
                out.setdefault(source, {})[col] = "numeric"
            elif spec.type in ("category", "bool"):
                out.setdefault(source, {})[col] = "categorical"
    return out


def part_facts(job: PartJob) -> PartFacts:
    """Everything validate needs from one row range (a Dask task)."""
    return facts_of_table(job.source, read_range(job.rows), job.rows.start, job.cfg)


def facts_of_table(source: str, table: pa.Table, first_row: int, cfg: ValidateParams) -> PartFacts:
    """The facts of `table`, whose first row is row `first_row` of its snapshot."""
    columns = cfg.schema_.get(source, {})
    keys = {}
    for column, spec in sorted(columns.items()):
        key = unique_keys(table, column, spec)
        if key:
            keys[column] = (key, key_counts(table, key, first_row))
    numeric, categorical = _profile_parts(source, table, first_row, cfg)
    target = None
    if cfg.task != "regression" and source == cfg.label_source and cfg.target in table.column_names:
        target = _counts(table.column(cfg.target))
    return PartFacts(
        source=source,
        rows=table.num_rows,
        checks={column: column_checks(source, table, column, spec) for column, spec in sorted(columns.items())},
        cross=cross_field({source: table}, tuple(cf for cf in cfg.cross_field if cf.table == source)),
        keys=keys,
        numeric=numeric,
        categorical=categorical,
        target=target,
        summary={column: _summary_part(table.column(column)) for column in columns if column in table.column_names},
    )


def _counts(data: pa.ChunkedArray) -> Counts:
    profile = categorical_profile(data.to_pylist())
    return Counts(profile["n"], profile["counts"])


def _profile_parts(
    source: str, table: pa.Table, first_row: int, cfg: ValidateParams
) -> tuple[dict[str, NumericPart], dict[str, Counts]]:
    numeric: dict[str, NumericPart] = {}
    categorical: dict[str, Counts] = {}
    for column, kind in profiled_columns(cfg).get(source, {}).items():
        if column not in table.column_names:
            continue
        data = table.column(column)
        if kind == "numeric" and (pa.types.is_integer(data.type) or pa.types.is_floating(data.type)):
            present = np.asarray(data.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
            values = pc.drop_null(data).to_numpy().astype(np.float64)
            positions = np.flatnonzero(present) + first_row
            numeric[column] = NumericPart(len(values), sample_part(values, positions))
        elif kind == "categorical":
            categorical[column] = _counts(data)
    return numeric, categorical


def _summary_part(col: pa.ChunkedArray) -> SummaryPart:
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_timestamp(col.type):
        mm = pc.min_max(col)
        return SummaryPart(len(col), col.null_count, pa.array([mm["min"], mm["max"]], type=col.type), None)
    distinct = pc.unique(col)
    if pa.types.is_dictionary(distinct.type):
        distinct = distinct.dictionary_decode()
    return SummaryPart(len(col), col.null_count, None, distinct)


# --- the driver: adding the parts up ---------------------------------------------
def facts(parts: Sequence[PartFacts], cfg: ValidateParams) -> Facts:
    """The snapshot's facts from its parts, given in row order per source."""
    by_source: dict[str, list[PartFacts]] = {}
    for p in parts:
        by_source.setdefault(p.source, []).append(p)
    return Facts(_outcomes(by_source, cfg), _profile(by_source, cfg), _summary(by_source, cfg))


def _outcomes(by_source: dict[str, list[PartFacts]], cfg: ValidateParams) -> list[Outcome]:
    """Layer A in the order one process reports it: source, then column, each column's
    checks with its uniqueness check last; then the cross-field checks in spec order."""
    out: list[Outcome] = []
    rows = {source: sum(p.rows for p in ps) for source, ps in by_source.items()}
    for source, columns in sorted(cfg.schema_.items()):
        ps = by_source.get(source, [])
        for column in sorted(columns):
            if not ps:
                continue
            out.extend(merged_outcomes([p.checks[column] for p in ps], rows[source]))
            if column in ps[0].keys:
                key = ps[0].keys[column][0]
                out.append(unique_outcome(source, column, key, [p.keys[column][1] for p in ps], rows[source]))
    seen: dict[str, int] = {}
    for cf in cfg.cross_field:
        i = seen[cf.table] = seen.get(cf.table, -1) + 1
        ps = by_source.get(cf.table, [])
        if ps:
            out.extend(merged_outcomes([[p.cross[i]] for p in ps], rows[cf.table]))
    return out


def merged_outcomes(parts: list[list[Outcome]], rows: int) -> list[Outcome]:
    """Outcomes of the same checks over contiguous parts, as over their rows together:
    failed where any part failed, counts added, the first examples in row order."""
    out = []
    for same in zip(*parts, strict=True):
        if len({o.id for o in same}) != 1:
            raise RuntimeError(f"validate: parts checked different expectations: {sorted({o.id for o in same})}")
        failed = [o for o in same if o.status == "failed"]
        if not failed:
            out.append(same[0])
            continue
        count = sum(int(o.observed["count"]) for o in failed)
        percent = round(100.0 * count / rows, 4) if rows else failed[0].observed["percent"]
        examples = [e for o in failed for e in o.examples][:MAX_EXAMPLES]
        out.append(replace(failed[0], observed={"count": count, "percent": percent}, examples=examples))
    return out


def _profile(by_source: dict[str, list[PartFacts]], cfg: ValidateParams) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for source, wanted in profiled_columns(cfg).items():
        ps = by_source.get(source, [])
        for column in wanted:
            if ps and column in ps[0].numeric:
                parts = [p.numeric[column] for p in ps]
                sample = merged_sample([n.sample for n in parts])
                cols[f"{source}.{column}"] = profile_of_sample(sum(n.n for n in parts), sample, PROFILE_BINS)
            elif ps and column in ps[0].categorical:
                counted = _summed([p.categorical[column] for p in ps])
                cols[f"{source}.{column}"] = {"kind": "categorical", "n": counted.n, "counts": counted.counts}
    labels = by_source.get(cfg.label_source, [])
    target = _summed([p.target for p in labels if p.target is not None]).counts if labels and labels[0].target else None
    return {"columns": cols, "target": target}


def _summed(parts: list[Counts]) -> Counts:
    return Counts(sum(p.n for p in parts), added_counts(p.counts for p in parts))


def _summary(by_source: dict[str, list[PartFacts]], cfg: ValidateParams) -> list[dict[str, Any]]:
    """Rows, nulls, range and distinct values of every declared column: what a first
    version (with no reference to compare against) is shown instead of drift."""
    out = []
    for source, columns in sorted(cfg.schema_.items()):
        ps = by_source.get(source, [])
        for column in sorted(columns):
            if not ps or column not in ps[0].summary:
                continue
            parts = [p.summary[column] for p in ps]
            row: dict[str, Any] = {
                "column": f"{source}.{column}",
                "rows": sum(s.rows for s in parts),
                "nulls": sum(s.nulls for s in parts),
            }
            extremes = [s.extremes for s in parts if s.extremes is not None]
            if extremes:
                mm = pc.min_max(pa.concat_arrays(extremes))
                row["min"], row["max"] = str(mm["min"].as_py()), str(mm["max"].as_py())
            else:
                distinct = [s.distinct for s in parts if s.distinct is not None]
                row["distinct"] = int(pc.count_distinct(pa.concat_arrays(distinct)).as_py())
            out.append(row)
    return out
