"""The endpoint's input contract, applied to a batch: which rows it would refuse, and why.

The endpoint answers a body mass of 4.2 (kg, where the schema says grams, min 2700)
with a 422. A batch must not score that row silently either: `predict` checks every
row against the same declared ranges, allowed values and nullability (vectorised,
one pass per input), plus an event time where features are computed as of it. A
row out of contract gets no score and a `problem` saying which field broke which
rule; `serving.batch.out_of_contract: refuse` stops the batch instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwright.contract.serve import InputConstraint
from mlwright.runtime.context import UserError

PROBLEM = "problem"


def missing_inputs(table: pa.Table, inputs: dict[str, str]) -> list[str]:
    """Request inputs the batch does not carry at all (a whole-batch error, not a row's)."""
    return sorted(name for name, kind in inputs.items() if kind != "image" and name not in table.column_names)


def row_problems(
    table: pa.Table,
    inputs: dict[str, str],
    constraints: dict[str, InputConstraint],
    required: tuple[str, ...] = (),
) -> list[str | None]:
    """For each row, the first broken rule as "field: what is wrong", or None.

    `required` names columns that may never be null here (the event time on the
    as-of path), whatever the schema says about requests."""
    found: list[str | None] = [None] * table.num_rows
    for name in [*required, *sorted(inputs)]:
        if name not in table.column_names or inputs.get(name) == "image":
            continue
        rules = InputConstraint() if name in required else constraints.get(name, InputConstraint())
        nullable = name not in required and bool(rules.nullable)
        for mask, message in _column_breaks(table.column(name), rules, nullable, name in required):
            for i in np.flatnonzero(mask):
                if found[i] is None:
                    found[i] = f"{name}: {message(int(i))}"
    return found


def _column_breaks(column: pa.ChunkedArray, rules: InputConstraint, nullable: bool, is_time: bool) -> list[Any]:
    """(row mask, message for row i) for each rule the column can break."""
    values = column.to_pylist() if column.num_chunks else []
    nulls = pc.is_null(column, nan_is_null=False).to_numpy(zero_copy_only=False)
    out: list[Any] = []
    if not nullable:
        why = (
            "no event time; features as of its time cannot be computed"
            if is_time
            else "null (its column is not nullable in the spec's schema)"
        )
        out.append((nulls, lambda i, why=why: why))
    if pa.types.is_floating(column.type):
        arr = column.to_numpy(zero_copy_only=False).astype(float)
        bad = ~np.isfinite(arr) & ~nulls
        out.append((bad, lambda i: f"{values[i]} is not a finite number"))
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        arr = np.where(nulls, 0.0, column.to_numpy(zero_copy_only=False).astype(float))
        if rules.min is not None:
            lo = rules.min
            out.append((~nulls & (arr < lo), lambda i, lo=lo: f"{values[i]} is below the schema's min {lo:g}"))
        if rules.max is not None:
            hi = rules.max
            out.append((~nulls & (arr > hi), lambda i, hi=hi: f"{values[i]} is above the schema's max {hi:g}"))
    if rules.values:
        allowed = list(rules.values)
        inside = pc.is_in(pc.cast(column, pa.string()), value_set=pa.array([str(v) for v in allowed])).to_numpy(
            zero_copy_only=False
        )
        out.append((~nulls & ~inside.astype(bool), lambda i: f"{values[i]!r} is not one of {allowed}"))
    return out


def summary(problems: list[str | None], first: int = 3) -> str:
    """ "3 rows out of the input contract: row 7 (x: ...), ..." for the console."""
    rows = [(i, p) for i, p in enumerate(problems) if p is not None]
    shown = "; ".join(f"row {i} ({p})" for i, p in rows[:first])
    more = f"; and {len(rows) - first} more" if len(rows) > first else ""
    return f"{len(rows)} row(s) out of the input contract, not scored: {shown}{more}"


def refuse_if_any(problems: list[str | None], policy: str) -> None:
    if policy == "refuse" and any(p is not None for p in problems):
        raise UserError(
            f"--input: {summary(problems)}; fix them, or set serving.batch.out_of_contract: flag to score the rest"
        )
