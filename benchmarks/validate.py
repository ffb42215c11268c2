"""Layer A (schema) checks on 1,000,000 rows x 25 columns, with planted failures.

mlwright's `column_checks` over the Arrow snapshot vs a plain vectorised numpy
implementation (the floor) and pandera (run by a Python that has it, in its own
venv, on the same Parquet file). All must find the same failures before timing.

    python benchmarks/validate.py [--rows 1000000] [--rounds 3] [--pandera-python /tmp/peers/bin/python]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlwright.runtime.validation.checks import column_checks

FLOATS = [f"f{i}" for i in range(12)]
INTS = [f"i{i}" for i in range(6)]
STRS = [f"s{i}" for i in range(7)]
ALLOWED = ["alpha", "beta", "gamma", "delta"]
NULLABLE = {"f0", "f1"}


def spec() -> dict[str, dict]:
    out: dict[str, dict] = {c: {"type": "float", "nullable": c in NULLABLE, "min": -10, "max": 10} for c in FLOATS}
    out |= {c: {"type": "int", "nullable": False, "min": 0, "max": 1000} for c in INTS}
    out |= {c: {"type": "category", "nullable": c != "s2", "values": ALLOWED} for c in STRS}
    return out


def make(n: int) -> pa.Table:
    rng = np.random.default_rng(0)
    cols: dict[str, pa.Array] = {}
    k = n // 1000
    for c in FLOATS:
        x = rng.normal(0, 2, n).clip(-9.99, 9.99)
        mask = rng.random(n) < 0.01 if c in NULLABLE else None
        if c == "f5":
            x[rng.choice(n, k, replace=False)] = 99.0
        cols[c] = pa.array(x, mask=mask)
    for c in INTS:
        x = rng.integers(0, 1001, n)
        if c == "i1":
            x[rng.choice(n, k, replace=False)] = 5000
        cols[c] = pa.array(x)
    for c in STRS:
        x = np.array(ALLOWED, dtype=object)[rng.integers(0, 4, n)]
        if c == "s1":
            x[rng.choice(n, k, replace=False)] = "UNKNOWN"
        if c == "s2":
            x[rng.choice(n, k, replace=False)] = None
        cols[c] = pa.array(x, pa.string())
    return pa.table(cols)


def mlwright(table: pa.Table, sp: dict[str, dict]) -> dict[str, int]:
    out = {}
    for c, s in sp.items():
        for o in column_checks("t", table, c, s):
            if o.status == "failed":
                out[o.id.split(".", 2)[2]] = o.observed["count"]
    return out


def numpy_floor(cols: dict[str, np.ndarray]) -> dict[str, int]:
    out = {}
    for c in FLOATS:
        x = cols[c]
        nn = int(np.isnan(x).sum())
        if nn and c not in NULLABLE:
            out[f"{c}.nullable"] = nn
        if np.nanmin(x) < -10 or np.nanmax(x) > 10:
            out[f"{c}.range"] = int(((x < -10) | (x > 10)).sum())
    for c in INTS:
        x = cols[c]
        if x.min() < 0 or x.max() > 1000:
            out[f"{c}.range"] = int(((x < 0) | (x > 1000)).sum())
    for c in STRS:
        codes, uniq = pd.factorize(cols[c], use_na_sentinel=True)
        missing = int(np.count_nonzero(codes < 0))
        if missing and c == "s2":
            out[f"{c}.nullable"] = missing
        bad = np.array([u not in ALLOWED for u in uniq], dtype=bool)
        if bad.any():
            out[f"{c}.values"] = int(np.bincount(codes[codes >= 0], minlength=len(uniq))[bad].sum())
    return out


PANDERA = """
import sys, time, pandas as pd, pandera.pandas as pa
df = pd.read_parquet(sys.argv[1])
cols = {}
for i in range(12):
    cols[f"f{i}"] = pa.Column(float, pa.Check.in_range(-10, 10), nullable=i < 2)
for i in range(6):
    cols[f"i{i}"] = pa.Column(int, pa.Check.in_range(0, 1000))
for i in range(7):
    cols[f"s{i}"] = pa.Column(str, pa.Check.isin(["alpha", "beta", "gamma", "delta"]), nullable=i != 2)
schema = pa.DataFrameSchema(cols)
best = 1e9
for _ in range(int(sys.argv[2])):
    t = time.perf_counter()
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as e:
        n = len(e.failure_cases)
    best = min(best, time.perf_counter() - t)
print(best, n)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pandera-python", default=None)
    a = ap.parse_args()
    table, sp = make(a.rows), spec()
    cols = {
        c: (
            table.column(c).to_numpy(zero_copy_only=False)
            if c not in STRS
            else np.array(table.column(c).to_pylist(), dtype=object)
        )
        for c in table.column_names
    }
    ours, floor = mlwright(table, sp), numpy_floor(cols)
    assert ours == floor, (ours, floor)
    times: dict[str, list[float]] = {"mlwright (Arrow)": [], "numpy floor": []}
    for _ in range(a.rounds):
        for name, fn in (("mlwright (Arrow)", lambda: mlwright(table, sp)), ("numpy floor", lambda: numpy_floor(cols))):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    if a.pandera_python:
        path = Path(tempfile.mkdtemp()) / "t.parquet"
        pq.write_table(table, path)
        out = subprocess.run(
            [a.pandera_python, "-c", PANDERA, str(path), str(a.rounds)], capture_output=True, text=True
        )
        if out.returncode == 0:
            med["pandera"] = float(out.stdout.split()[0])
        else:
            print("pandera failed:", out.stderr[-300:])
    print(f"failures found (all agree): {ours}")
    for k, v in med.items():
        print(f"  {k:18s} {v:7.3f} s   ratio vs mlwright {v / med['mlwright (Arrow)']:5.2f}x")


if __name__ == "__main__":
    main()
