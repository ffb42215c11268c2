"""Feature and check expressions: parsed (never executed) at compile time.

Expressions are DuckDB SQL. sqlglot parses them in pure Python so the compile path
never imports duckdb; we learn which columns an expression reads, whether it
aggregates, and refuse anything that is not a scalar expression (subqueries,
statements, table references).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

_FORBIDDEN = (
    exp.Select,
    exp.Subquery,
    exp.Table,
    exp.Command,
    exp.Create,
    exp.Insert,
    exp.Delete,
    exp.Update,
    exp.Drop,
)


@dataclass(frozen=True)
class ParsedExpr:
    sql: str  # normalised DuckDB SQL
    columns: tuple[str, ...]
    aggregate: bool
    counts: bool  # a count: zero (not NULL) when a window holds no rows


class ExpressionError(ValueError):
    pass


def _why(description: str) -> str:
    """sqlglot's reason, unless it only names its own internals."""
    if not description or "<class" in description or "Required keyword" in description:
        return " (incomplete or invalid syntax)"
    return f": {description.splitlines()[0]}"


def parse_expression(text: str) -> ParsedExpr:
    """Parse one scalar DuckDB expression; raise ExpressionError saying why not."""
    try:
        tree = sqlglot.parse_one(text, read="duckdb")
    except ParseError as exc:
        errors = exc.errors[0] if exc.errors else {}
        raise ExpressionError(
            f"cannot parse SQL expression '{text}'{_why(str(errors.get('description', '')))}"
        ) from None
    except Exception as exc:  # sqlglot raises a few non-ParseError types on junk
        raise ExpressionError(f"cannot parse SQL expression '{text}'{_why(str(exc))}") from None
    if tree is None:
        raise ExpressionError("empty expression")
    bad = tree.find(*_FORBIDDEN)
    if bad is not None or isinstance(tree, _FORBIDDEN):
        raise ExpressionError("only a scalar expression is allowed here (no SELECT, subquery or table)")
    qualified = [c for c in tree.find_all(exp.Column) if c.table]
    if qualified:
        raise ExpressionError(f"column '{qualified[0].sql()}' must not name a table")
    columns = tuple(sorted({c.name for c in tree.find_all(exp.Column)}))
    aggregate = tree.find(exp.AggFunc) is not None
    counts = isinstance(tree, exp.Count)
    return ParsedExpr(tree.sql(dialect="duckdb"), columns, aggregate, counts)
