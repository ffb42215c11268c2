"""One conformance suite over every online store backend (SQLite embedded, real Redis)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlwright.errors import UserError
from mlwright.runtime.online_store import OnlineStore, RedisOnlineStore, SqliteOnlineStore


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    if request.param == "sqlite":
        s: OnlineStore = SqliteOnlineStore(tmp_path / "online.sqlite", ttl_seconds=3600)
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
