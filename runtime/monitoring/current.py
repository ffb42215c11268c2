"""What `monitor` compares with the reference: the current data as arrays, and how a
label or a key value is read the same way from a log, a CSV, JSON or Parquet file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Current:
    columns: dict[str, Any]  # feature -> numpy array (numeric) or list (categorical)
    ts: np.ndarray | None  # event time, microseconds
    entity: list[str | None]
    request_id: list[str | None]
    prediction: np.ndarray | None
    probability: np.ndarray | None
    rows: int
    keys: list[tuple[str | None, ...]] | None = None  # the declared label key per row (concept.key)
    key_seen: tuple[bool, ...] = ()  # per key column: did any row carry it (a log's parts add these up)


def key_text(v: Any) -> str | None:
    """A key value as text, the same from a CSV, JSON or Parquet file: 7, 7.0 and "7" agree."""
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def class_code(v: Any, classes: list[Any] | None) -> float:
    """A label or a predicted label as its class index (multiclass). A label the model
    never saw is -1: a class it cannot predict, so it counts against the metric."""
    if v is None:
        return float("nan")
    if classes is None:
        return float(v)
    text = str(int(v)) if isinstance(v, float) and v.is_integer() else str(v).strip()  # 3.0 from a CSV is class 3
    return float(next((i for i, c in enumerate(classes) if str(c) == text), -1))
