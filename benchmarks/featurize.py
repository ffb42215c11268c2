"""Point-in-time windowed features on 1,000,000 events: mlwright's compiled SQL
(DuckDB; the shape `features.sql` has, including the `__ordinal` tiebreak, the
window-wide time buckets and the fixed-order SUM that make its output byte-identical on any thread count) vs a straightforward pandas implementation of the same features, each
in its own process (time and peak memory). Results must agree before timing counts.

    python benchmarks/featurize.py [--events 1000000] [--customers 50000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SQL = """
WITH spine AS (SELECT row_number() OVER (ORDER BY event_time, customer_id, __ordinal) AS __row, customer_id AS __entity, event_time AS __ts FROM events),
win AS (
  SELECT k.__row, SUM(amount ORDER BY "paid_at", amount) AS spend_90d, COUNT(*) AS payments_90d
  FROM (SELECT __row, __entity, __ts, epoch_us(__ts) // 7776000000000 - __lag AS __bucket FROM spine CROSS JOIN (VALUES (0), (1)) AS lags(__lag)) AS k
  JOIN (SELECT *, epoch_us(paid_at) // 7776000000000 AS __bucket FROM payments) AS src
    ON src.customer_id = k.__entity AND src.__bucket = k.__bucket AND src.paid_at < k.__ts AND src.paid_at >= k.__ts - INTERVAL '7776000 seconds'
  GROUP BY k.__row)
SELECT s.__entity AS customer_id, s.__ts AS event_time, win.spend_90d, COALESCE(win.payments_90d, 0) AS payments_90d
FROM spine s LEFT JOIN win ON win.__row = s.__row ORDER BY s.__ts, s.__entity, s.__row
"""

CHILD = r"""
import json, resource, sys, time
import pyarrow.parquet as pq
impl, folder, sql = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.perf_counter()
if impl == "mlwright":
    import duckdb
    con = duckdb.connect()
    import numpy as np, pyarrow as pa
    def with_ordinal(t):  # as featurize registers snapshots: the tiebreak of byte-identical output
        return t.append_column("__ordinal", pa.array(np.arange(t.num_rows, dtype=np.int64)))
    con.register("events", with_ordinal(pq.read_table(f"{folder}/events.parquet")))
    con.register("payments", with_ordinal(pq.read_table(f"{folder}/payments.parquet")))
    out = con.sql(sql).to_arrow_table().to_pandas()
else:
    import pandas as pd
    ev = pd.read_parquet(f"{folder}/events.parquet").reset_index(names="__row")
    pay = pd.read_parquet(f"{folder}/payments.parquet")
    m = ev.merge(pay, on="customer_id", how="inner")
    m = m[(m.paid_at < m.event_time) & (m.paid_at >= m.event_time - pd.Timedelta(days=90))]
    agg = m.groupby("__row").agg(spend_90d=("amount", "sum"), payments_90d=("amount", "size"))
    out = ev.join(agg, on="__row")
    out["payments_90d"] = out["payments_90d"].fillna(0).astype("int64")
    out = out.sort_values(["event_time", "customer_id", "__row"])[["customer_id", "event_time", "spend_90d", "payments_90d"]]
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rows": len(out), "count_sum": int(out.payments_90d.sum()), "spend_sum": float(out.spend_90d.fillna(0).sum())}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--customers", type=int, default=50_000)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    folder = Path(tempfile.mkdtemp())
    start = np.datetime64("2023-01-01T00:00:00", "us")
    span = 730 * 86400 * 1_000_000
    ids = np.array([f"C{i:06d}" for i in range(a.customers)])
    ev_t = start + rng.integers(0, span, a.events).astype("timedelta64[us]")
    pq.write_table(
        pa.table({"customer_id": ids[rng.integers(0, a.customers, a.events)], "event_time": ev_t}),
        folder / "events.parquet",
    )
    pay_t = start + rng.integers(0, span, a.events).astype("timedelta64[us]")
    pq.write_table(
        pa.table(
            {
                "customer_id": ids[rng.integers(0, a.customers, a.events)],
                "paid_at": pay_t,
                "amount": rng.gamma(2.0, 30.0, a.events).round(2),
            }
        ),
        folder / "payments.parquet",
    )
    results = {}
    for impl in ("mlwright", "pandas"):
        out = subprocess.run([sys.executable, "-c", CHILD, impl, str(folder), SQL], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{impl} failed: {out.stderr[-300:]}")
            continue
        results[impl] = json.loads(out.stdout.strip().splitlines()[-1])
    if len(results) == 2:
        m, p = results["mlwright"], results["pandas"]
        assert (
            m["rows"] == p["rows"]
            and m["count_sum"] == p["count_sum"]
            and abs(m["spend_sum"] - p["spend_sum"]) < 1e-3 * max(1.0, p["spend_sum"])
        ), results
    print(f"{a.events} events, {a.events} payments, {a.customers} customers; 90-day sum and count per event")
    for k, r in results.items():
        print(f"  {k:10s} {r['seconds']:7.2f} s   peak {r['peak_mb']:7.0f} MB")
    if len(results) == 2:
        print(
            f"pandas / mlwright: time {results['pandas']['seconds'] / results['mlwright']['seconds']:.1f}x, memory {results['pandas']['peak_mb'] / results['mlwright']['peak_mb']:.1f}x"
        )


if __name__ == "__main__":
    main()
