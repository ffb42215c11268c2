"""Online feature reads: 100,000 entities x 10 features.

p50/p99 of single-entity and 100-entity reads for mlwright's SQLite and Redis
stores, side by side with raw sqlite3 (a primary-key lookup of one row holding
all 10 features) and raw redis-py MGET on the same data, plus materialisation
throughput. Redis is a real `redis-server` started here on 127.0.0.1.

    python benchmarks/online_store.py [--entities 100000] [--reads 20000]
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

from mlwright.runtime.stores.online_store import RedisOnlineStore, SqliteOnlineStore


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) * 1e6


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entities", type=int, default=100_000)
    ap.add_argument("--reads", type=int, default=20_000)
    ap.add_argument("--dynamodb", action="store_true", help="also DynamoDB, through a local moto server")
    ap.add_argument("--dynamodb-entities", type=int, default=5_000)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    ids = [f"e{i:07d}" for i in range(a.entities)]
    rows = [(e, 1_000_000, {f"f{j}": float(rng.random()) for j in range(10)}) for e in ids]
    folder = Path(tempfile.mkdtemp())
    results: dict[str, tuple[float, float, float, float]] = {}

    t = time.perf_counter()
    store = SqliteOnlineStore(folder / "online.sqlite", ttl_seconds=86400)
    store.write(rows)
    mat = time.perf_counter() - t
    print(f"mlwright sqlite: materialised {a.entities} x 10 in {mat:.2f}s ({a.entities / mat:,.0f} entities/s)")
    raw = sqlite3.connect(folder / "raw.sqlite")
    raw.execute("CREATE TABLE f (entity TEXT PRIMARY KEY, payload BLOB) WITHOUT ROWID")
    raw.executemany("INSERT INTO f VALUES (?, ?)", [(e, orjson.dumps(p)) for e, _, p in rows])
    raw.commit()

    picks = [ids[i] for i in rng.integers(0, a.entities, a.reads)]
    batches = [[ids[i] for i in rng.integers(0, a.entities, 100)] for _ in range(a.reads // 20)]
    it1, itb = iter(picks * 5), iter(batches * 5)

    def raw_one() -> object:
        return orjson.loads(raw.execute("SELECT payload FROM f WHERE entity = ?", (next(it1),)).fetchone()[0])

    def raw_many() -> object:
        b = next(itb)
        return [
            orjson.loads(p)
            for (p,) in raw.execute(f"SELECT payload FROM f WHERE entity IN ({','.join('?' * len(b))})", b)
        ]

    for name, one, many in (
        ("raw sqlite3", raw_one, raw_many),
        ("mlwright sqlite", lambda: store.get([next(it1)]), lambda: store.get(next(itb))),
    ):
        s1, sb = timed(one, a.reads), timed(many, len(batches))
        results[name] = (pct(s1, 50), pct(s1, 99), pct(sb, 50), pct(sb, 99))

    exe = shutil.which("redis-server")
    if exe:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen(
            [exe, "--port", str(port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
        )
        try:
            import redis

            time.sleep(0.3)
            rstore = RedisOnlineStore(f"redis://127.0.0.1:{port}/0", "bench", 86400, 2000)
            t = time.perf_counter()
            rstore.write(rows)
            print(f"mlwright redis: materialised in {time.perf_counter() - t:.2f}s")
            client = redis.Redis(port=port)
            client.mset({f"raw:{e}": orjson.dumps(p) for e, _, p in rows})

            def redis_one() -> object:
                return orjson.loads(client.mget([f"raw:{next(it1)}"])[0])

            def redis_many() -> object:
                return [orjson.loads(v) for v in client.mget([f"raw:{e}" for e in next(itb)])]

            for name, one, many in (
                ("raw redis-py MGET", redis_one, redis_many),
                ("mlwright redis", lambda: rstore.get([next(it1)]), lambda: rstore.get(next(itb))),
            ):
                s1, sb = timed(one, a.reads), timed(many, len(batches))
                results[name] = (pct(s1, 50), pct(s1, 99), pct(sb, 50), pct(sb, 99))
        finally:
            proc.terminate()
    if a.dynamodb:
        bench_dynamodb(rows[: a.dynamodb_entities], picks, batches, a, results)
    print(f"\n{'store':20s} {'1 entity p50':>13s} {'p99':>9s} {'100 p50':>10s} {'p99':>9s}   (microseconds)")
    for name, (a1, a99, b50, b99) in results.items():
        print(f"{name:20s} {a1:13.1f} {a99:9.1f} {b50:10.1f} {b99:9.1f}")
    for ours, floor in (
        ("mlwright sqlite", "raw sqlite3"),
        ("mlwright redis", "raw redis-py MGET"),
        ("mlwright dynamodb", "raw boto3 BatchGet"),
    ):
        if ours in results:
            print(
                f"{ours} / {floor}: single {results[ours][0] / results[floor][0]:.2f}x, 100 {results[ours][2] / results[floor][2]:.2f}x"
            )
    shutil.rmtree(folder, ignore_errors=True)


def bench_dynamodb(
    rows: list[tuple[str, int, dict[str, float]]],
    picks: list[str],
    batches: list[list[str]],
    a: argparse.Namespace,
    results: dict[str, tuple[float, float, float, float]],
) -> None:
    """mlwright's DynamoDB store against raw boto3 BatchGetItem on the same table shape,
    both through moto's server on 127.0.0.1 (an emulator: this compares client code
    paths, not AWS latency)."""
    import os

    import boto3

    from mlwright.runtime.stores.online_store import DynamoOnlineStore

    os.environ.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(2.0)
        url = f"http://127.0.0.1:{port}"
        cfg = {"table": "bench", "region": "us-east-1", "endpoint": url, "ttl_seconds": 86400, "timeout_ms": 5000}
        store = DynamoOnlineStore(cfg, "bench", create=True)
        t = time.perf_counter()
        store.write(rows)
        print(f"mlwright dynamodb (moto): materialised {len(rows)} in {time.perf_counter() - t:.2f}s")
        client = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")
        known = [e for e, _, _ in rows]
        one_ids = iter([known[hash(p) % len(known)] for p in picks] * 5)
        many_ids = iter([[known[hash(e) % len(known)] for e in b] for b in batches] * 5)

        def raw(ids: list[str]) -> object:
            keys = [{"entity": {"S": f"bench:{e}"}} for e in dict.fromkeys(ids)]
            out = client.batch_get_item(RequestItems={"bench": {"Keys": keys}})
            return [orjson.loads(i["payload"]["S"]) for i in out["Responses"]["bench"]]

        n = min(a.reads, 1000)
        for name, one, many in (
            ("raw boto3 BatchGet", lambda: raw([next(one_ids)]), lambda: raw(next(many_ids))),
            ("mlwright dynamodb", lambda: store.get([next(one_ids)]), lambda: store.get(next(many_ids))),
        ):
            s1, sb = timed(one, n), timed(many, n // 10)
            results[name] = (pct(s1, 50), pct(s1, 99), pct(sb, 50), pct(sb, 99))
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
