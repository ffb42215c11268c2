"""Windows of event time: where each starts on the calendar, and which rows fall in each."""

from __future__ import annotations

import time

import numpy as np

DAY = 86_400
MONDAY_OFFSET = 4 * DAY  # 1970-01-01 was a Thursday: Monday 1970-01-05 starts ISO weeks


def window_origin(seconds: int) -> int:
    """Where windows start, on the calendar: weeks on Mondays, days at midnight UTC,
    hours on the hour (counting from the Unix epoch put 7-day windows on Thursdays)."""
    return MONDAY_OFFSET if seconds % (7 * DAY) == 0 else 0


def window_codes(ts: np.ndarray | None, n: int, seconds: int) -> tuple[list[str], np.ndarray]:
    """Each window's start (ISO 8601, in time order) and each row's window among them;
    one window "all" without event times."""
    if ts is None or n == 0 or seconds <= 0:
        return ["all"], np.zeros(n, dtype=np.int64)
    origin = window_origin(seconds)
    keys = (ts - origin * 1_000_000) // (seconds * 1_000_000)
    starts, codes = np.unique(keys, return_inverse=True)
    return [_iso(int(k) * seconds + origin) for k in starts], codes.astype(np.int64)


def windows_of(ts: np.ndarray | None, n: int, seconds: int) -> dict[str, np.ndarray]:
    """Row indices per window of event time, keyed by the window's start (ISO 8601)."""
    names, codes = window_codes(ts, n, seconds)
    if names == ["all"]:
        return {"all": np.arange(n)}
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    return {name: order[bounds[i] : bounds[i + 1]] for i, name in enumerate(names)}


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
