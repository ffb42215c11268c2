"""Feature rows -> the model's float matrix, identically in training and serving.

Numeric features stay floats (missing = NaN). Categorical features (encoding
`category`, or text columns) become the index of the value in the category list
learned on the training slice (unseen or missing = NaN), which LightGBM reads as
a categorical split; `one_hot` expands into 0/1 columns. The fitted state is
plain JSON in the model bundle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # numeric | category | one_hot
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preprocessor:
    columns: tuple[Column, ...]

    @property
    def width(self) -> int:
        return sum(len(c.categories) if c.kind == "one_hot" else 1 for c in self.columns)

    @property
    def categorical_indices(self) -> list[int]:
        out, i = [], 0
        for c in self.columns:
            if c.kind == "category":
                out.append(i)
            i += len(c.categories) if c.kind == "one_hot" else 1
        return out

    @property
    def output_names(self) -> list[str]:
        out: list[str] = []
        for c in self.columns:
            out.extend([f"{c.name}={v}" for v in c.categories] if c.kind == "one_hot" else [c.name])
        return out

    def transform_table(self, table: pa.Table) -> np.ndarray:
        """A batch (Arrow table with the feature columns) -> float32 matrix."""
        parts = []
        for c in self.columns:
            col = table.column(c.name)
            if c.kind == "numeric":
                parts.append(_numeric(col)[:, None])
            else:
                codes = _codes(col, c.categories)
                if c.kind == "category":
                    parts.append(codes[:, None])
                else:
                    onehot = np.zeros((len(codes), len(c.categories)), np.float32)
                    ok = ~np.isnan(codes)
                    onehot[np.nonzero(ok)[0], codes[ok].astype(int)] = 1.0
                    parts.append(onehot)
        return np.hstack(parts).astype(np.float32) if parts else np.zeros((table.num_rows, 0), np.float32)

    def transform_row(self, row: dict[str, Any]) -> np.ndarray:
        """One request's features -> a (1, width) float32 row, no pandas, no Arrow."""
        out = np.empty((1, self.width), np.float32)
        i = 0
        for c in self.columns:
            v = row.get(c.name)
            if c.kind == "numeric":
                out[0, i] = _to_float(v)
                i += 1
                continue
            code = _index(c.categories, v)
            if c.kind == "category":
                out[0, i] = np.nan if code is None else code
                i += 1
            else:
                out[0, i : i + len(c.categories)] = 0.0
                if code is not None:
                    out[0, i + code] = 1.0
                i += len(c.categories)
        return out

    def unseen(self, row: dict[str, Any]) -> list[str]:
        """Category features whose value training never saw (the model reads them as missing)."""
        return [
            c.name
            for c in self.columns
            if c.kind in ("category", "one_hot")
            and row.get(c.name) is not None
            and _index(c.categories, row[c.name]) is None
        ]

    def to_json(self) -> list[dict[str, Any]]:
        return [{"name": c.name, "kind": c.kind, "categories": list(c.categories)} for c in self.columns]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> Preprocessor:
        return cls(tuple(Column(d["name"], d["kind"], tuple(d["categories"])) for d in data))


def _to_float(v: Any) -> float:
    if v is None:
        return math.nan
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return math.nan
    return float(v)


def _index(categories: tuple[str, ...], v: Any) -> int | None:
    if v is None:
        return None
    key = _category_key(v)
    try:
        return categories.index(key)
    except ValueError:
        return None


def _category_key(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _numeric(col: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_boolean(col.type):
        col = col.cast(pa.int8())
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.int64())
    out: np.ndarray = col.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    return out


def _as_keys(col: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The column as category keys, computed by Arrow where its text form equals
    `_category_key`'s (strings, booleans as true/false, integers); None otherwise."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return col
    if pa.types.is_boolean(col.type) or pa.types.is_integer(col.type):
        return col.cast(pa.string())
    return None


def _codes(col: pa.ChunkedArray, categories: tuple[str, ...]) -> np.ndarray:
    keys = _as_keys(col)
    if keys is not None:
        import pyarrow.compute as pc

        found = pc.index_in(keys, value_set=pa.array(categories, pa.string()))
        out: np.ndarray = found.cast(pa.float32()).to_numpy(zero_copy_only=False).astype(np.float32)
        return out
    lookup = {c: i for i, c in enumerate(categories)}
    return np.array(
        [np.nan if v is None else lookup.get(_category_key(v), np.nan) for v in col.to_pylist()], np.float32
    )


def _categories(col: pa.ChunkedArray) -> tuple[str, ...]:
    keys = _as_keys(col)
    if keys is not None:
        import pyarrow.compute as pc

        return tuple(sorted(pc.unique(keys).drop_null().to_pylist()))
    return tuple(sorted({_category_key(v) for v in col.to_pylist() if v is not None}))


def fit_preprocessor(
    table: pa.Table, features: list[str], encodings: dict[str, str], train_idx: np.ndarray
) -> Preprocessor:
    """Learn category lists on the training rows only (no peeking at validation/test)."""
    cols = []
    sub = table.take(pa.array(train_idx))
    for name in features:
        col = sub.column(name)
        enc = encodings.get(name, "none")
        textual = (
            pa.types.is_string(col.type)
            or pa.types.is_large_string(col.type)
            or pa.types.is_dictionary(col.type)
            or pa.types.is_boolean(col.type)
        )
        if enc in ("category", "one_hot") or textual:
            cols.append(Column(name, "one_hot" if enc == "one_hot" else "category", _categories(col)))
        else:
            cols.append(Column(name, "numeric"))
    return Preprocessor(tuple(cols))
