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


# Aggregates whose floating-point result depends on the order the values are added in.
_ORDER_SENSITIVE = (exp.Sum, exp.Avg, exp.Stddev, exp.StddevSamp, exp.StddevPop, exp.Variance, exp.VariancePop)


def in_fixed_order(sql: str, time_column: str) -> str:
    """`sum(x)` -> `SUM(x ORDER BY "time", x)`: an aggregate over floats adds its values
    in a fixed order, so a window feature has the same bits on 1 thread or 8 (DuckDB's
    parallel hash aggregation otherwise changes the last bit of ~30% of sums between
    runs). Rows tied on time and value add the same number either way."""
    tree = sqlglot.parse_one(sql, read="duckdb")

    def order(node: exp.Expression) -> exp.Expression:
        if isinstance(node, _ORDER_SENSITIVE) and isinstance(node.this, exp.Expression):
            if isinstance(node.this, exp.Order):
                return node
            arg = node.this
            keys = [exp.Ordered(this=exp.column(time_column, quoted=True)), exp.Ordered(this=arg.copy())]
            node.set("this", exp.Order(this=arg.copy(), expressions=keys))
        return node

    return tree.transform(order).sql(dialect="duckdb")
