"""A windowed aggregation over few entities: the join `features.sql` emits now (pairs
rows by entity and a window-wide time bucket, then tests the window) against the
shape it had before (entity equality, then the window test on every pair of an
entity's rows: quadratic in rows per entity). Hourly flights at 3 airports are the
case that took 147 s. Same DuckDB, same data, interleaved rounds; results must agree.

    python benchmarks/window_join.py [--rows 60000] [--entities 3] [--window-days 7] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import duckdb
import numpy as np
import pyarrow as pa


def queries(window_s: int) -> dict[str, str]:
    us = window_s * 1_000_000
    test = f"src.t < k.ts AND src.t >= k.ts - INTERVAL '{window_s} seconds'"
    return {
        "before (entity join)": f"""SELECT k.o, SUM(v ORDER BY src.t, src.o) AS s, COUNT(*) AS c
            FROM spine_t AS k JOIN src_t AS src ON src.e = k.e AND {test} GROUP BY k.o ORDER BY k.o""",
        "now (entity + bucket)": f"""SELECT k.o, SUM(v ORDER BY src.t, src.o) AS s, COUNT(*) AS c
            FROM (SELECT *, epoch_us(ts) // {us} - lag AS b FROM spine_t CROSS JOIN (VALUES (0), (1)) AS l(lag)) AS k
            JOIN (SELECT *, epoch_us(t) // {us} AS b FROM src_t) AS src
              ON src.e = k.e AND src.b = k.b AND {test} GROUP BY k.o ORDER BY k.o""",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=60_000)
    ap.add_argument("--entities", type=int, default=3)
    ap.add_argument("--window-days", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    start = np.datetime64("2020-01-01T00:00:00", "us")
    ts = start + np.sort(rng.integers(0, 3 * 365 * 86400, a.rows)).astype("timedelta64[s]")
    ent = rng.choice([f"E{i}" for i in range(a.entities)], a.rows)
    con = duckdb.connect()
    con.register("spine_t", pa.table({"e": ent, "ts": pa.array(ts), "o": np.arange(a.rows)}))
    con.register("src_t", pa.table({"e": ent, "t": pa.array(ts), "v": rng.normal(size=a.rows), "o": np.arange(a.rows)}))
    times: dict[str, list[float]] = {}
    answers = {}
    for _ in range(a.rounds):
        for name, sql in queries(a.window_days * 86400).items():
            t = time.perf_counter()
            answers[name] = con.sql(sql).fetchall()
            times.setdefault(name, []).append(time.perf_counter() - t)
    first, second = answers.values()
    assert first == second, "the two joins disagree"
    print(
        f"{a.rows} rows over {a.entities} entities, {a.window_days}-day window, median of {a.rounds} interleaved rounds"
    )
    for name, ts_ in times.items():
        print(f"  {name:24s} {statistics.median(ts_):7.3f} s")
    before, now = (statistics.median(v) for v in times.values())
    print(f"before / now: {before / now:.1f}x")


if __name__ == "__main__":
    main()
