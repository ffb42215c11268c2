"""The online expression evaluator agrees with DuckDB on the same rows."""

from __future__ import annotations

import math

import duckdb
import pytest

from mlwright.runtime.data.expr_eval import Unsupported, compile_expression

EXPRESSIONS = [
    "monthly_fee / (support_tickets + 1)",
    "a - b * 2",
    "a / 0",
    "-a % 3",
    "a // 2",
    "coalesce(n, a, 0)",
    "CASE WHEN a > 2 THEN 'hi' WHEN a > 0 THEN 'mid' ELSE 'lo' END",
    "CASE kind WHEN 'x' THEN 1 ELSE 0 END",
    "greatest(a, b, 1)",
    "least(a, b)",
    "abs(b - a)",
    "CAST(a AS DOUBLE) / 3",
    "lower(kind) || '_' || upper(kind)",
    "a > b AND b > 0",
    "a > b OR n IS NULL",
    "NOT (a = b)",
    "n + 1",
    "ln(a + 1)",
]
ROWS = [
    {"monthly_fee": 20.0, "support_tickets": 3, "a": 5, "b": 2, "n": None, "kind": "x"},
    {"monthly_fee": 0.0, "support_tickets": 0, "a": -7, "b": 4, "n": 1, "kind": "Y"},
    {"monthly_fee": 99.5, "support_tickets": 10, "a": 0, "b": 0, "n": None, "kind": "z"},
]


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_evaluator_equals_duckdb(expr: str) -> None:
    fn = compile_expression(expr)
    con = duckdb.connect()
    for row in ROWS:
        cols = ", ".join(
            f"{v!r}::{'DOUBLE' if isinstance(v, float) else 'BIGINT' if isinstance(v, int) else 'VARCHAR'} AS {k}"
            if v is not None
            else f"NULL::BIGINT AS {k}"
            for k, v in row.items()
        )
        want = con.sql(f"SELECT {expr} FROM (SELECT {cols})").fetchall()[0][0]
        got = fn(row)
        if isinstance(want, float) or isinstance(got, float):
            assert (
                (want is None and got is None) or (math.isnan(want) and math.isnan(got)) or want == pytest.approx(got)
            ), (expr, row)
        else:
            assert want == got, (expr, row, want, got)


def test_unsupported_is_refused_not_guessed() -> None:
    with pytest.raises(Unsupported):
        compile_expression("regexp_matches(kind, 'x')")
