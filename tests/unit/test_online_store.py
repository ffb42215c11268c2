"""One conformance suite over every online store backend (SQLite embedded, real Redis,
DynamoDB through a real moto server on 127.0.0.1)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlwright.contract.errors import UserError
from mlwright.contract.featurize import OnlineStore as OnlineStoreConfig
from mlwright.runtime.stores.online_store import DynamoOnlineStore, OnlineStore, RedisOnlineStore, SqliteOnlineStore


def dynamo_cfg(endpoint: str, ttl_seconds: int = 3600, **changes: object) -> OnlineStoreConfig:
    return OnlineStoreConfig(
        backend="dynamodb",
        path="features/online.sqlite",
        url="",
        table=f"conformance-{time.time_ns()}",
        region="us-east-1",
        endpoint=endpoint,
        ttl_seconds=ttl_seconds,
        timeout_ms=2000,
    ).model_copy(update=changes)


@pytest.fixture(params=["sqlite", "redis", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    if request.param == "sqlite":
        s: OnlineStore = SqliteOnlineStore(tmp_path / "online.sqlite", ttl_seconds=3600)
    elif request.param == "dynamodb":
        request.getfixturevalue("aws_env")
        s = DynamoOnlineStore(dynamo_cfg(request.getfixturevalue("moto_url")), "conformance", create=True)
    else:
        url = request.getfixturevalue("redis_url")
        s = RedisOnlineStore(url, f"conformance{time.time_ns()}", ttl_seconds=3600, timeout_ms=500)
    yield s
    s.close()


def rows(n: int, ts: int = 1000, value: float = 1.0) -> list[tuple[str, int, dict]]:
    return [(f"e{i}", ts, {"spend": value * i, "plan": "basic", "count": i}) for i in range(n)]


def test_get_returns_what_was_written(store: OnlineStore) -> None:
    assert store.write(rows(250)) == 250
    got = store.get(["e3", "nope", "e249"])
    assert got[0] == {"spend": 3.0, "plan": "basic", "count": 3}
    assert got[1] is None
    assert got[2]["count"] == 249
    assert store.get(["e7"]) == [{"spend": 7.0, "plan": "basic", "count": 7}]
    assert store.count() == 250


def test_materialising_twice_writes_nothing_new(store: OnlineStore) -> None:
    assert store.write(rows(100)) == 100
    assert store.write(rows(100)) == 0


def test_older_event_never_overwrites_newer(store: OnlineStore) -> None:
    store.write(rows(10, ts=2000, value=2.0))
    assert store.write(rows(10, ts=1000, value=9.0)) == 0
    assert store.get(["e5"])[0]["spend"] == 10.0
    assert store.write(rows(10, ts=3000, value=3.0)) == 10
    assert store.get(["e5"])[0]["spend"] == 15.0


def test_expired_rows_are_not_served(tmp_path: Path) -> None:
    s = SqliteOnlineStore(tmp_path / "ttl.sqlite", ttl_seconds=0)
    s.write(rows(3))
    time.sleep(1.1)
    assert s.get(["e1", "e2"]) == [None, None]


def test_unreachable_redis_fails_fast_naming_the_url() -> None:
    started = time.monotonic()
    with pytest.raises(UserError, match="127.0.0.1:1/0"):
        RedisOnlineStore("redis://127.0.0.1:1/0", "x", 60, timeout_ms=300)
    assert time.monotonic() - started < 3


def test_corrupt_sqlite_store_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(UserError, match="re-run `featurize`"):
        SqliteOnlineStore(path, 60)


def test_dynamodb_expired_items_are_not_served_and_a_missing_table_is_named(moto_url: str, aws_env: None) -> None:
    s = DynamoOnlineStore(dynamo_cfg(moto_url, ttl_seconds=1), "ttl", create=True)
    s.write(rows(3))
    assert s.get(["e1"]) == [{"spend": 1.0, "plan": "basic", "count": 1}]
    time.sleep(2.1)  # DynamoDB deletes expired items lazily: reads filter them
    assert s.get(["e1", "e2"]) == [None, None]
    with pytest.raises(UserError, match=r"dynamodb table nope-table at http://127.0.0.1:\d+ is unreachable or missing"):
        DynamoOnlineStore(dynamo_cfg(moto_url, table="nope-table"), "x")  # serving never creates one


def test_dynamodb_batches_many_entities_both_ways(moto_url: str, aws_env: None) -> None:
    s = DynamoOnlineStore(dynamo_cfg(moto_url), "many", create=True)
    assert s.write(rows(730)) == 730  # 8 read batches of 100, 30 write batches of 25
    got = s.get([f"e{i}" for i in range(729, -1, -1)] + ["e5"])  # order kept, a repeat answered twice
    assert [g["count"] for g in got if g] == [*range(729, -1, -1), 5]
    assert s.count() == 730 and s.reachable()


def test_dynamodb_down_is_store_unavailable_within_its_timeout(aws_env: None) -> None:
    """Its own moto server, stopped under it: a read is a StoreUnavailable (the endpoint's
    503) within a few timeouts, and `reachable()` says no (the endpoint's /ready)."""
    import subprocess
    import sys

    from mlwright.runtime.stores.online_store import StoreUnavailable

    from ..conftest import free_port, wait_http

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}", timeout=30)
        s = DynamoOnlineStore(dynamo_cfg(f"http://127.0.0.1:{port}", timeout_ms=500), "down", create=True)
        s.write(rows(3))
        assert s.get(["e1"])[0] is not None and s.reachable()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    started = time.perf_counter()
    with pytest.raises(StoreUnavailable, match="dynamodb table conformance-"):
        s.get(["e1"])
    assert time.perf_counter() - started < 5.0
    assert not s.reachable()
