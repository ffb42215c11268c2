"""Row-level feature expressions evaluated in Python, for one request at a time.

Offline, DuckDB computes every feature from `features.sql`. Online, a request
carries raw fields, and derived row-level features (`monthly_fee /
(support_tickets + 1)`) must be computed from them with the same definition.
Running DuckDB per request costs milliseconds; this evaluator walks the parsed
expression (sqlglot) with DuckDB's semantics for the operators it supports:
NULL propagation, float `/` (x/0 = ±inf), truncating `//` and `%`. `featurize`
checks on real rows that it agrees with DuckDB, so skew fails the stage rather
than reaching serving. Anything unsupported is refused when compiled, never
guessed; spec strings are never executed as Python.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Row = dict[str, Any]
Fn = Callable[[Row], Any]


class Unsupported(ValueError):
    pass


def _div(a: Any, b: Any) -> float:
    a, b = float(a), float(b)
    if b == 0.0:
        return math.nan if a == 0.0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1.0, b)
    quotient: float = a / b
    return quotient


def _intdiv(a: Any, b: Any) -> Any:
    if b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b >= 0) else -q
    return float(math.trunc(a / b))


def _mod(a: Any, b: Any) -> Any:
    if b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        return int(math.fmod(a, b))
    return math.fmod(a, b)


def _ln(x: Any) -> float:
    x = float(x)
    return -math.inf if x == 0 else math.nan if x < 0 else math.log(x)


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "Add": lambda a, b: a + b,
    "Sub": lambda a, b: a - b,
    "Mul": lambda a, b: a * b,
    "Div": _div,
    "IntDiv": _intdiv,
    "Mod": _mod,
    "EQ": lambda a, b: a == b,
    "NEQ": lambda a, b: a != b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
    "DPipe": lambda a, b: f"{a}{b}",
    "Pow": lambda a, b: float(a) ** float(b),
}
_UNARY: dict[str, Callable[[Any], Any]] = {
    "Abs": abs,
    "Ln": _ln,
    "Sqrt": lambda x: math.sqrt(x) if x >= 0 else math.nan,
    "Lower": lambda s: str(s).lower(),
    "Upper": lambda s: str(s).upper(),
    "Length": lambda s: len(str(s)),
    "Floor": lambda x: math.floor(x) if isinstance(x, int) else float(math.floor(x)),
    "Ceil": lambda x: math.ceil(x) if isinstance(x, int) else float(math.ceil(x)),
    "Exp": lambda x: math.exp(x),
}


def compile_expression(sql: str) -> Fn:
    """Parse a DuckDB scalar expression into a function of one row (a dict)."""
    import sqlglot

    return _compile(sqlglot.parse_one(sql, read="duckdb"))


def _compile(node: Any) -> Fn:
    from sqlglot import exp

    kind = type(node).__name__
    if isinstance(node, exp.Paren):
        return _compile(node.this)
    if isinstance(node, exp.Column):
        name = node.name
        return lambda row: row.get(name)
    if isinstance(node, exp.Null):
        return lambda row: None
    if isinstance(node, exp.Boolean):
        value = node.this
        return lambda row: value
    if isinstance(node, exp.Literal):
        if node.is_string:
            text = node.this
            return lambda row: text
        num = float(node.this) if any(c in node.this for c in ".eE") else int(node.this)
        return lambda row: num
    if isinstance(node, exp.Neg):
        inner = _compile(node.this)
        return lambda row: None if (v := inner(row)) is None else -v
    if isinstance(node, exp.Not):
        inner = _compile(node.this)
        return lambda row: None if (v := inner(row)) is None else not v
    if isinstance(node, exp.And | exp.Or):
        return _logic(node)
    if kind in _BINARY:
        fn = _BINARY[kind]
        left, right = _compile(node.left), _compile(node.right)

        def binary(row: Row) -> Any:
            a, b = left(row), right(row)
            return None if a is None or b is None else fn(a, b)

        return binary
    if kind in _UNARY:
        fn1 = _UNARY[kind]
        inner = _compile(node.this)
        return lambda row: None if (v := inner(row)) is None else fn1(v)
    if isinstance(node, exp.Coalesce):
        parts = [_compile(node.this), *(_compile(e) for e in node.expressions)]
        return lambda row: next((v for p in parts if (v := p(row)) is not None), None)
    if isinstance(node, exp.Greatest | exp.Least):
        parts = [_compile(node.this), *(_compile(e) for e in node.expressions)]
        pick = max if isinstance(node, exp.Greatest) else min
        return lambda row: (lambda vs: pick(vs) if vs else None)([v for p in parts if (v := p(row)) is not None])
    if isinstance(node, exp.Case):
        return _case(node)
    if isinstance(node, exp.If):
        cond, then, other = (
            _compile(node.this),
            _compile(node.args["true"]),
            _compile(node.args["false"]) if node.args.get("false") else (lambda row: None),
        )
        return lambda row: then(row) if cond(row) else other(row)
    if isinstance(node, exp.Cast | exp.TryCast):
        return _cast(node)
    if isinstance(node, exp.Is):
        inner = _compile(node.this)
        if isinstance(node.expression, exp.Null):
            return lambda row: inner(row) is None
    raise Unsupported(
        f"'{node.sql(dialect='duckdb')}' ({kind}) cannot be computed online; precompute it offline or use a window feature"
    )


def _logic(node: Any) -> Fn:
    from sqlglot import exp

    left, right = _compile(node.left), _compile(node.right)
    is_and = isinstance(node, exp.And)

    def logic(row: Row) -> Any:  # SQL three-valued logic
        a, b = left(row), right(row)
        if is_and:
            if a is False or b is False:
                return False
            return None if a is None or b is None else True
        if a is True or b is True:
            return True
        return None if a is None or b is None else False

    return logic


def _case(node: Any) -> Fn:
    subject = _compile(node.this) if node.this is not None else None
    branches = [(_compile(w.this), _compile(w.args["true"])) for w in node.args.get("ifs", [])]
    default = _compile(node.args["default"]) if node.args.get("default") is not None else (lambda row: None)

    def case(row: Row) -> Any:
        s = subject(row) if subject else None
        for cond, value in branches:
            c = cond(row)
            if (subject is not None and s is not None and c == s) or (subject is None and c is True):
                return value(row)
        return default(row)

    return case


def _cast(node: Any) -> Fn:
    inner = _compile(node.this)
    target = node.to.sql(dialect="duckdb").upper()
    if target in ("DOUBLE", "FLOAT", "REAL"):
        conv: Callable[[Any], Any] = float
    elif target in ("BIGINT", "INTEGER", "INT", "SMALLINT", "HUGEINT"):
        conv = lambda v: int(round(float(v))) if not isinstance(v, str) else int(v)  # noqa: E731 (DuckDB rounds on cast)
    elif target in ("VARCHAR", "TEXT", "STRING"):
        conv = str
    else:
        raise Unsupported(f"CAST to {target} cannot be computed online")

    def cast(row: Row) -> Any:
        v = inner(row)
        if v is None:
            return None
        try:
            return conv(v)
        except (TypeError, ValueError):
            return None

    return cast
