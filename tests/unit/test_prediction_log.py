"""The prediction log read as columns (#18 item 6): the same values, in file order,
as reading it record by record (the reference below is that reader, kept here)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlwright.runtime.context import UserError
from mlwright.runtime.monitoring.current import class_code, key_text
from mlwright.runtime.monitoring.prediction_log import read_log

REFERENCE = {"fee": {"kind": "numeric"}, "tickets": {"kind": "numeric"}, "plan": {"kind": "categorical"}}


def record_by_record(path: Path, entity: str, classes: list[Any] | None, key: list[str] | None) -> dict[str, Any]:
    """What monitor computed before: one json.loads and one Python object per line."""
    recs = []
    for line in path.read_text().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("status") == 200 and isinstance(r.get("inputs"), dict):
            recs.append(r)
    logged = set().union(*(r["inputs"].keys() for r in recs)) if recs else set()

    def column(values: list[Any], numeric: bool) -> Any:
        if numeric:
            return [math.nan if v is None or isinstance(v, str) else float(v) for v in values]
        return [None if v is None else ("true" if v is True else "false" if v is False else str(v)) for v in values]

    def ts(text: Any) -> int:
        if not text:
            return 0
        d = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        return (d - datetime(1970, 1, 1, tzinfo=d.tzinfo)) // __import__("datetime").timedelta(microseconds=1)

    return {
        "columns": {
            n: column([r["inputs"].get(n) for r in recs], p["kind"] == "numeric")
            for n, p in REFERENCE.items()
            if n in logged
        },
        "ts": [ts(r.get("timestamp")) for r in recs],
        "entity": [None if r["inputs"].get(entity) is None else str(r["inputs"].get(entity)) for r in recs],
        "request_id": [r.get("request_id") for r in recs],
        "prediction": [class_code(r.get("prediction"), classes) for r in recs],
        "probability": [math.nan if r.get("probability") is None else r["probability"] for r in recs],
        "keys": [tuple(key_text(r["inputs"].get(c)) for c in key) for r in recs]
        if key and set(key) <= logged
        else None,
    }


def same(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(
        (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y)) or x == y
        for x, y in zip(a, b, strict=True)
    )


def write_log(path: Path, n: int) -> None:
    rng = np.random.default_rng(3)
    odd: list[Any] = [True, False, "12", None, 7, 7.0, 3.5, "", "x y"]
    lines = []
    for i in range(n):
        r: dict[str, Any] = {
            "request_id": f"r{i}",
            "timestamp": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:00:{i % 60:02d}.{i % 1_000_000:06d}Z",
            "status": 200 if i % 17 else 422,
            "prediction": int(rng.integers(2)) if i % 5 else (True if i % 10 else 1.0),
            "probability": float(rng.random()) if i % 13 else None,
            "inputs": {
                "cid": f"C{i % 50}" if i % 7 else (i if i % 14 else 7.0),
                "fee": float(rng.normal(50, 9)) if i % 11 else odd[i % len(odd)],
                "plan": ["basic", "pro"][i % 2] if i % 9 else odd[(i // 9) % len(odd)],
                "flight": i % 3 if i % 4 else f" F{i} ",
            },
        }
        if i % 23 == 0:
            del r["inputs"]["fee"]
        if i % 29 == 0:
            r["inputs"] = None
        if i % 31 == 0:
            del r["status"]
        lines.append(json.dumps(r))
        if i % 1000 == 999:
            lines.append("{not json")
    path.write_text("\n".join(lines) + "\n" + '{"request_id": "cut", "status": 200, "inp')  # a write cut by a crash


@pytest.mark.parametrize("classes", [None, [0, 1]])
def test_columns_equal_the_record_by_record_reader_in_file_order(tmp_path: Path, classes: list[Any] | None) -> None:
    log = tmp_path / "predictions.jsonl"
    write_log(log, 60_000)  # enough lines for DuckDB to read it in parallel pieces
    got = read_log(log, REFERENCE, "cid", classes, ["cid", "flight"])
    want = record_by_record(log, "cid", classes, ["cid", "flight"])
    assert got.rows == len(want["request_id"]) > 50_000
    assert got.request_id == want["request_id"], "file order kept"
    assert set(got.columns) == set(want["columns"]) == {"fee", "plan"}
    assert same(got.columns["fee"].tolist(), want["columns"]["fee"])
    assert got.columns["plan"] == want["columns"]["plan"]
    assert got.entity == want["entity"]
    assert got.keys == want["keys"]
    assert got.ts is not None and got.ts.tolist() == want["ts"]
    assert got.prediction is not None and same(got.prediction.tolist(), want["prediction"])
    assert got.probability is not None and same(got.probability.tolist(), want["probability"])


def test_a_key_no_request_carries_leaves_labels_to_join_by_request_id(tmp_path: Path) -> None:
    log = tmp_path / "predictions.jsonl"
    write_log(log, 300)
    assert read_log(log, REFERENCE, "cid", None, ["tail_number"]).keys is None


def test_a_damaged_timestamp_stops_the_monitor_naming_the_file(tmp_path: Path) -> None:
    log = tmp_path / "predictions.jsonl"
    good = {"request_id": "a", "timestamp": "2026-01-01T00:00:00Z", "status": 200, "inputs": {"fee": 1.0}}
    log.write_text(json.dumps(good) + "\n" + json.dumps({**good, "timestamp": "yesterday"}) + "\n")
    with pytest.raises(UserError, match=r"predictions.jsonl: 1 answered request\(s\) carry a timestamp"):
        read_log(log, REFERENCE, "cid")


def test_an_empty_log_is_zero_rows(tmp_path: Path) -> None:
    log = tmp_path / "predictions.jsonl"
    log.write_text("")
    cur = read_log(log, REFERENCE, "cid")
    assert cur.rows == 0 and cur.columns == {} and cur.entity == []
