"""`mlwright init` on a big CSV: the sample it reads against the floor of reading the
whole file once (pyarrow's multi-threaded CSV reader, the fastest full read here), each
in its own process, interleaved rounds. The file is written by DuckDB.

    python benchmarks/init.py [--gigabytes 1.0] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = "import sys, pyarrow.csv as c; t = c.read_csv(sys.argv[1]); print(t.num_rows)"


def write_csv(path: Path, gigabytes: float) -> None:
    import duckdb

    rows = int(gigabytes * 1e9 / 61)  # ~61 bytes a row
    duckdb.sql(
        f"""COPY (SELECT 'C' || lpad(CAST(i % 500000 AS VARCHAR), 7, '0') AS customer_id,
                 TIMESTAMP '2023-01-01' + INTERVAL (i) SECOND AS event_time,
                 ['basic', 'pro', 'enterprise'][1 + i % 3] AS plan,
                 round(random() * 300, 2) AS monthly_fee, CAST(random() * 12 AS INTEGER) AS support_tickets,
                 ['US', 'DE', 'FR', 'GB', 'BR'][1 + i % 5] AS country, round(random() * 1000, 3) AS spend,
                 random() < 0.2 AS churned
           FROM range({rows}) t(i)) TO '{path}' (HEADER, DELIMITER ',')"""
    )


def timed(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gigabytes", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    folder = Path(tempfile.mkdtemp())
    big = folder / "events.csv"
    write_csv(big, a.gigabytes)
    size = big.stat().st_size / 1e9
    init = [sys.executable, "-m", "mlwright", "init", "events.csv", "--target", "churned", "--entity", "customer_id"]
    init += ["--timestamp", "event_time", "--force"]
    times: dict[str, list[float]] = {"mlwright init (sampled)": [], "pyarrow full read (floor)": []}
    for _ in range(a.rounds):
        times["mlwright init (sampled)"].append(timed(init, folder))
        times["pyarrow full read (floor)"].append(timed([sys.executable, "-c", FLOOR, str(big)], folder))
    print(f"{size:.2f} GB CSV, median of {a.rounds} interleaved rounds")
    for name, ts in times.items():
        print(f"  {name:28s} {statistics.median(ts):7.2f} s")
    init_s, floor_s = (statistics.median(v) for v in times.values())
    print(f"init / full read: {init_s / floor_s:.2f}x")


if __name__ == "__main__":
    main()
