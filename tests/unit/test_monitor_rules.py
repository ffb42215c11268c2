"""Concept-drift thresholds at their boundary, label coverage, and alert delivery."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import TypeAdapter

from mlwright.contract.monitor import Alert, Concept
from mlwright.runtime.monitoring.alerts import DriftAlert, ModelOf, send_alerts
from mlwright.runtime.monitoring.monitor import judge_window

CFG = Concept(labels=None, key=(), metric="f1", max_relative_drop=0.05, min_labels=50)


def window_with_f1(f1: float, n: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions whose F1 is `f1` (precision = recall = f1)."""
    tp = int(round(f1 * n / 2))
    y = np.zeros(n)
    pred = np.zeros(n)
    y[: n // 2] = 1
    pred[:tp] = 1  # true positives
    pred[n // 2 : n // 2 + (n // 2 - tp)] = 1  # as many false positives as misses
    return y, pred


def test_a_4_9_percent_drop_does_not_alert_and_5_1_does() -> None:
    baseline = 0.80
    for drop, alert in ((0.049, False), (0.051, True)):
        y, pred = window_with_f1(baseline * (1 - drop))
        out = judge_window("f1", y, pred, pred, baseline, CFG, 1.0)
        assert out["relative_drop"] == np.round(drop, 3) or abs(out["relative_drop"] - drop) < 1e-4
        assert out["alert"] is alert


def test_too_few_labels_are_reported_not_judged() -> None:
    y = np.full(1000, np.nan)
    y[:20] = 0
    out = judge_window("f1", y, np.ones(1000), np.ones(1000), 0.9, CFG, 1.0)
    assert out["status"] == "insufficient" and out["alert"] is False and out["coverage"] == 0.02


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []
    failures_left = 2

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Hook.failures_left > 0:
            _Hook.failures_left -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Hook.received.append({"auth": self.headers.get("Authorization"), **body})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhook_retries_then_delivers_once_per_window(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HOOK_TOKEN", "t0ken")
    sinks = [
        {"type": "log", "path": "logs/alerts.jsonl"},
        {
            "type": "webhook",
            "url": f"http://127.0.0.1:{server.server_port}/hook",
            "timeout_s": 2.0,
            "retries": 3,
            "token": "${oc.env:HOOK_TOKEN}",
        },
    ]
    alert = DriftAlert(ModelOf("churn", "v1.0.0", "abc"), "covariate", "fee", None, 0.4, 0.2, "2025-01-01")
    assert alert.key == "covariate|fee||2025-01-01"  # the key older monitors wrote to state/alerts_sent.json
    typed = tuple(TypeAdapter(Alert).validate_python(s) for s in sinks)
    assert len(send_alerts([alert], typed, tmp_path)) == 1
    assert len(send_alerts([alert], typed, tmp_path)) == 0  # the same window is not alerted twice
    server.shutdown()
    assert len(_Hook.received) == 1 and _Hook.received[0]["auth"] == "Bearer t0ken"
    assert _Hook.received[0]["alerts"][0]["feature"] == "fee"
    lines = (tmp_path / "logs" / "alerts.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == {
        "system": "churn",
        "model_version": "v1.0.0",
        "dataset_version": "abc",
        "kind": "covariate",
        "feature": "fee",
        "slice": None,
        "value": 0.4,
        "threshold": 0.2,
        "window": "2025-01-01",
    }


def test_weekly_windows_start_on_mondays_and_daily_ones_at_midnight() -> None:
    import numpy as np

    from mlwright.runtime.monitoring.monitor import windows_of

    # 2024-01-04 (a Thursday) 12:00 and 2024-01-08 (a Monday) 01:00 UTC, in microseconds
    ts = np.array([1704369600, 1704675600]) * 1_000_000
    assert list(windows_of(ts, 2, 7 * 86400)) == ["2024-01-01T00:00:00Z", "2024-01-08T00:00:00Z"]
    assert list(windows_of(ts, 2, 86400)) == ["2024-01-04T00:00:00Z", "2024-01-08T00:00:00Z"]


def test_windows_with_too_few_labels_fold_into_one_row_and_the_chart_fits_the_values() -> None:
    from mlwright.runtime.monitoring.monitor import concept_chart, folded_windows

    def w(name: str, value: float | None, labels: int) -> dict[str, Any]:
        status = "insufficient" if value is None else "ok"
        return {"window": name, "value": value, "labels": labels, "status": status, "alert": False}

    windows = [w("d1", None, 3), w("d2", None, 4), w("d3", 0.8, 90), w("d4", None, 1), w("d5", 12.5, 80)]
    rows = folded_windows(windows)
    assert [r.get("count") for r in rows] == [2, None, 1, None]
    assert rows[0]["first_window"] == "d1" and rows[0]["last_window"] == "d2" and rows[0]["labels"] == 7
    chart = concept_chart({"windows": windows, "baseline": 10.0, "alert_line": 10.5})
    assert chart is not None and [p["window"] for p in chart["points"]] == ["d3", "d5"]
    ys = [p["y"] for p in chart["points"]] + [chart["alert_y"], chart["baseline_y"]]
    assert all(20 <= y <= 170 for y in ys), "an error metric (12.5) stays on the chart"
    assert concept_chart({"windows": [w("d1", None, 0)], "baseline": 1.0, "alert_line": 0.9}) is None
