"""The offline store on a featurize-sized training table: Delta Lake
(`features.store.offline.format: delta`) against the Parquet store it sits beside,
through the same runtime code `featurize` and `train` call. Write: Parquet parts of
250k rows plus their SHA-256 (featurize's path) vs a Delta commit plus its sidecar.
Read: the checked latest table; for Delta also an as-of read of the version before.
Rounds are interleaved (the machine is shared); tables must be equal before timing counts.

    python benchmarks/offline_store.py [--rows 1000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from mlwright.runtime.hashing import sha256_file
from mlwright.runtime.stages.featurize import PART_ROWS, verified_part, write_part
from mlwright.runtime.stores.delta_store import read_version, write_version


def training_table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2023-01-01T00:00:00", "us")
    return pa.table(
        {
            "customer_id": pa.array([f"C{i:06d}" for i in rng.integers(0, 50_000, rows)]),
            "event_time": pa.array(
                start + np.sort(rng.integers(0, 365 * 86_400_000_000, rows)).astype("timedelta64[us]")
            ),
            "plan": pa.array(rng.choice(["basic", "pro", "team"], rows)).dictionary_encode(),
            "monthly_fee": pa.array(rng.gamma(2.0, 10.0, rows)),
            "spend_90d": pa.array(rng.gamma(3.0, 40.0, rows), mask=rng.random(rows) < 0.05),  # no payment: null
            "payments_90d": pa.array(rng.integers(0, 12, rows)),
            "churned": pa.array(rng.random(rows) < 0.2),
        }
    )


def parquet_write(folder: Path, table: pa.Table) -> dict[str, str]:
    folder.mkdir(parents=True)
    parts = {}
    for i, start in enumerate(range(0, table.num_rows, PART_ROWS)):
        path = folder / f"part-{i:05d}.parquet"
        write_part(table.slice(start, PART_ROWS), path)
        parts[path.name] = sha256_file(str(path))
    return parts


def parquet_read(folder: Path, parts: dict[str, str]) -> pa.Table:
    return pa.concat_tables([verified_part(folder / name, digest) for name, digest in parts.items()])


def meta(dataset: str) -> dict[str, object]:
    return {"dataset_version": dataset, "feature_set_hash": "f" * 64, "features": []}


def parquet_round(root: Path, new: pa.Table, times: dict[str, list[float]]) -> pa.Table:
    t = time.perf_counter()
    parts = parquet_write(root / "parquet", new)
    times["pq_write"].append(time.perf_counter() - t)
    t = time.perf_counter()
    got = parquet_read(root / "parquet", parts)
    times["pq_read"].append(time.perf_counter() - t)
    return got


def delta_round(root: Path, old: pa.Table, new: pa.Table, r: int, times: dict[str, list[float]]) -> pa.Table:
    t = time.perf_counter()
    write_version(root / "delta", new, meta(f"{2 * r + 1:064x}"))
    times["delta_write"].append(time.perf_counter() - t)
    t = time.perf_counter()
    got, _ = read_version(root / "delta", None)
    times["delta_read"].append(time.perf_counter() - t)
    t = time.perf_counter()
    back, _ = read_version(root / "delta", f"{2 * r:064x}")
    times["delta_as_of"].append(time.perf_counter() - t)
    assert back.equals(old), "the as-of read is not the earlier table"
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    old, new = training_table(args.rows, 1), training_table(args.rows, 2)
    times: dict[str, list[float]] = {k: [] for k in ("pq_write", "delta_write", "pq_read", "delta_read", "delta_as_of")}
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_version(root / "delta", old, meta(f"{2 * r:064x}"))  # the version an as-of read goes back to
            for kind in ("pq", "delta") if r % 2 == 0 else ("delta", "pq"):
                got = parquet_round(root, new, times) if kind == "pq" else delta_round(root, old, new, r, times)
                assert got.equals(new), f"{kind}: the table read back differs from the one written"
            shutil.rmtree(root / "parquet")
    med = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({"rows": args.rows, "rounds": args.rounds, "median_seconds": med}, indent=2))
    print(
        f"write: delta {med['delta_write']:.2f} s vs parquet {med['pq_write']:.2f} s "
        f"({med['delta_write'] / med['pq_write']:.2f}x); read: delta {med['delta_read']:.2f} s vs parquet "
        f"{med['pq_read']:.2f} s ({med['delta_read'] / med['pq_read']:.2f}x); delta as-of read {med['delta_as_of']:.2f} s"
    )


if __name__ == "__main__":
    main()
