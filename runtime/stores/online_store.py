"""The online feature store: latest feature values per entity, behind one interface.

`sqlite` (embedded default: one row per entity holding all its features, a
primary-key lookup), `redis` (one string key per entity, MGET for batches) and
`dynamodb` (one item per entity, BatchGetItem for batches).
Both keep the event time with each row so materialisation is idempotent: an
older or identical row never overwrites, so a second run writes 0 rows and a run
killed half way converges when re-run. TTL counts from materialisation.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

import orjson

from mlwright.contract.featurize import OnlineStore as OnlineStoreConfig
from mlwright.runtime.context import UserError, resolve_env

Payload = dict[str, Any]
BATCH = 5000


class OnlineStore(Protocol):
    def write(self, rows: Iterable[tuple[str, int, Payload]]) -> int:
        """Upsert (entity, event_time_us, features); return how many rows changed."""
        ...

    def get(self, entity_ids: Sequence[str]) -> list[Payload | None]: ...

    def reachable(self) -> bool: ...

    def count(self) -> int: ...

    def close(self) -> None: ...


class SqliteOnlineStore:
    def __init__(self, path: Path, ttl_seconds: int, *, readonly: bool = False):
        self.path = path
        self.ttl = ttl_seconds
        path.parent.mkdir(parents=True, exist_ok=True)
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        try:
            self.db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.execute(
                    "CREATE TABLE IF NOT EXISTS features (entity TEXT PRIMARY KEY, ts INTEGER NOT NULL, written INTEGER NOT NULL, payload BLOB NOT NULL) WITHOUT ROWID"
                )
            self.db.execute("SELECT count(*) FROM features").fetchone()
        except sqlite3.DatabaseError as exc:
            raise CorruptStore(
                f"{path}: online store is unreadable ({exc}); re-run `featurize` to rebuild it"
            ) from None

    def write(self, rows: Iterable[tuple[str, int, Payload]]) -> int:
        now = int(time.time())
        changed = 0
        sql = (
            "INSERT INTO features(entity, ts, written, payload) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(entity) DO UPDATE SET ts=excluded.ts, written=excluded.written, payload=excluded.payload "
            "WHERE excluded.ts > features.ts OR (excluded.ts = features.ts AND excluded.payload != features.payload)"
        )
        batch: list[tuple[str, int, int, bytes]] = []
        for entity, ts, payload in rows:
            batch.append((entity, ts, now, orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)))
            if len(batch) >= BATCH:
                changed += self._commit(sql, batch)
                batch = []
        if batch:
            changed += self._commit(sql, batch)
        return changed

    def _commit(self, sql: str, batch: list[tuple[str, int, int, bytes]]) -> int:
        before = self.db.total_changes
        self.db.execute("BEGIN")
        self.db.executemany(sql, batch)
        self.db.execute("COMMIT")
        return self.db.total_changes - before

    def get(self, entity_ids: Sequence[str]) -> list[Payload | None]:
        try:
            return self._get(entity_ids)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path.name}: {type(exc).__name__}: {exc}") from None

    def reachable(self) -> bool:
        try:
            self.db.execute("SELECT 1 FROM features LIMIT 1").fetchall()
            return True
        except sqlite3.Error:
            return False

    def _get(self, entity_ids: Sequence[str]) -> list[Payload | None]:
        cutoff = int(time.time()) - self.ttl
        if len(entity_ids) == 1:
            row = self.db.execute("SELECT payload, written FROM features WHERE entity = ?", (entity_ids[0],)).fetchone()
            return [orjson.loads(row[0]) if row and row[1] >= cutoff else None]
        found: dict[str, Payload] = {}
        for i in range(0, len(entity_ids), 500):
            chunk = list(entity_ids[i : i + 500])
            marks = ",".join("?" * len(chunk))
            for entity, payload, written in self.db.execute(
                f"SELECT entity, payload, written FROM features WHERE entity IN ({marks})", chunk
            ):
                if written >= cutoff:
                    found[entity] = orjson.loads(payload)
        return [found.get(e) for e in entity_ids]

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM features").fetchone()[0])

    def close(self) -> None:
        self.db.close()


_REDIS_UPSERT = """
local cur = redis.call('GET', KEYS[1])
if cur then
  if cur == ARGV[2] then return 0 end
  local ts = tonumber(string.match(cur, '^(%-?%d+)|'))
  if ts and ts > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""


class RedisOnlineStore:
    def __init__(self, url: str, namespace: str, ttl_seconds: int, timeout_ms: int):
        try:
            import redis
        except ImportError:
            raise UserError("the redis online store needs redis-py: pip install 'mlwright[redis]'") from None
        self.url = url
        self.prefix = f"mlw:{namespace}:"
        self.ttl = max(1, ttl_seconds)
        timeout = timeout_ms / 1000.0
        # no retries: one lookup is bounded by timeout_ms, not by timeout x retries x backoff
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
        self.r = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
        )
        try:
            self.r.ping()
        except self.errors as exc:
            raise UserError(
                f"redis online store at {_safe(url)} is unreachable ({type(exc).__name__}: {exc})"
            ) from None
        self.upsert = self.r.register_script(_REDIS_UPSERT)

    def write(self, rows: Iterable[tuple[str, int, Payload]]) -> int:
        changed = 0
        pipe = self.r.pipeline(transaction=False)
        for n, (entity, ts, payload) in enumerate(rows, start=1):
            value = f"{ts}|".encode() + orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
            self.upsert(keys=[self.prefix + entity], args=[ts, value, self.ttl], client=pipe)
            if n % BATCH == 0:
                changed += sum(pipe.execute())
        changed += sum(pipe.execute())
        out: int = changed
        return out

    def get(self, entity_ids: Sequence[str]) -> list[Payload | None]:
        try:  # bytes: the client is opened without decode_responses
            values = cast(list[bytes | None], self.r.mget([self.prefix + e for e in entity_ids]))
        except self.errors as exc:
            raise StoreUnavailable(f"redis at {_safe(self.url)}: {type(exc).__name__}") from None
        return [None if v is None else orjson.loads(v[v.index(b"|") + 1 :]) for v in values]

    def reachable(self) -> bool:
        try:
            return bool(self.r.ping())
        except self.errors:
            return False

    def count(self) -> int:
        return sum(1 for _ in self.r.scan_iter(match=self.prefix + "*", count=1000))

    def close(self) -> None:
        self.r.close()


class DynamoOnlineStore:
    """One item per entity: `entity` (partition key), `ts`, `payload` (JSON text) and
    `expires` (epoch seconds, the table's TTL attribute; DynamoDB deletes lazily, so
    reads filter expired items too). Writes compare with what is stored first (a
    BatchGetItem per 100 entities) and send only newer or changed rows with
    BatchWriteItem, so a second materialisation writes nothing; throttled or
    unprocessed items are retried with backoff. Reads are BatchGetItem."""

    GET_BATCH, WRITE_BATCH, RETRIES = 100, 25, 8

    def __init__(self, cfg: OnlineStoreConfig, namespace: str, *, create: bool = False):
        import boto3
        from botocore.config import Config

        endpoint = resolve_env(cfg.endpoint) or None
        timeout = cfg.timeout_ms / 1000.0
        self.table = cfg.table
        self.ttl = max(1, cfg.ttl_seconds)
        self.namespace = namespace
        self.client = boto3.client(
            "dynamodb",
            region_name=str(resolve_env(cfg.region)),
            endpoint_url=endpoint,
            config=Config(
                connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2, "mode": "standard"}
            ),
        )
        import botocore.exceptions as bx

        self.errors: tuple[type[BaseException], ...] = (bx.BotoCoreError, bx.ClientError)
        where = f"dynamodb table {self.table}" + (f" at {endpoint}" if endpoint else "")
        self.where = where
        try:
            self.client.describe_table(TableName=self.table)
        except self.errors as exc:
            missing = getattr(exc, "response", {}).get("Error", {}).get("Code") == "ResourceNotFoundException"
            if not (missing and create):
                raise UserError(f"{where} is unreachable or missing ({type(exc).__name__}: {exc})") from None
            self._create()

    def _create(self) -> None:
        self.client.create_table(
            TableName=self.table,
            KeySchema=[{"AttributeName": "entity", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "entity", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.client.get_waiter("table_exists").wait(TableName=self.table)
        self.client.update_time_to_live(
            TableName=self.table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"}
        )

    def _key(self, entity: str) -> str:
        return f"{self.namespace}:{entity}"

    def _fetch(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Items by key, unprocessed keys retried with backoff."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), self.GET_BATCH):
            pending: dict[str, Any] = {
                self.table: {"Keys": [{"entity": {"S": k}} for k in keys[start : start + self.GET_BATCH]]}
            }
            for attempt in range(self.RETRIES):
                out = self.client.batch_get_item(RequestItems=pending)
                for item in out.get("Responses", {}).get(self.table, []):
                    found[item["entity"]["S"]] = item
                pending = out.get("UnprocessedKeys") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 2.0))
            if pending:
                raise StoreUnavailable(f"{self.where}: reads kept being throttled")
        return found

    def write(self, rows: Iterable[tuple[str, int, Payload]]) -> int:
        now = int(time.time())
        changed = 0
        chunk: list[tuple[str, int, Payload]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= self.GET_BATCH:
                changed += self._write_chunk(chunk, now)
                chunk = []
        return changed + (self._write_chunk(chunk, now) if chunk else 0)

    def _write_chunk(self, chunk: list[tuple[str, int, Payload]], now: int) -> int:
        latest: dict[str, tuple[int, bytes]] = {}
        for entity, ts, payload in chunk:  # the newest row per entity within the chunk
            body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
            if entity not in latest or ts >= latest[entity][0]:
                latest[entity] = (ts, body)
        stored = self._fetch([self._key(e) for e in latest])
        puts = []
        for entity, (ts, body) in latest.items():
            old = stored.get(self._key(entity))
            if old is not None:
                old_ts, old_body = int(old["ts"]["N"]), old["payload"]["S"].encode()
                if ts < old_ts or (ts == old_ts and body == old_body):
                    continue  # older or identical: materialisation is idempotent
            item = {
                "entity": {"S": self._key(entity)},
                "ts": {"N": str(ts)},
                "payload": {"S": body.decode()},
                "expires": {"N": str(now + self.ttl)},
            }
            puts.append({"PutRequest": {"Item": item}})
        for start in range(0, len(puts), self.WRITE_BATCH):
            pending: dict[str, Any] = {self.table: puts[start : start + self.WRITE_BATCH]}
            for attempt in range(self.RETRIES):
                out = self.client.batch_write_item(RequestItems=pending)
                pending = out.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(0.05 * 2**attempt, 2.0))  # throttled: back off, retry what was not written
            if pending:
                raise UserError(f"{self.where}: writes kept being throttled; retry featurize")
        return len(puts)

    def get(self, entity_ids: Sequence[str]) -> list[Payload | None]:
        try:
            found = self._fetch([self._key(e) for e in dict.fromkeys(entity_ids)])
        except self.errors as exc:
            raise StoreUnavailable(f"{self.where}: {type(exc).__name__}") from None
        now = int(time.time())
        out: list[Payload | None] = []
        for e in entity_ids:
            item = found.get(self._key(e))
            fresh = item is not None and int(item["expires"]["N"]) > now
            out.append(orjson.loads(item["payload"]["S"]) if fresh and item is not None else None)
        return out

    def reachable(self) -> bool:
        try:
            self.client.describe_table(TableName=self.table)
            return True
        except self.errors:
            return False

    def count(self) -> int:
        total = 0
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "Select": "COUNT",
            "FilterExpression": "begins_with(entity, :p)",
            "ExpressionAttributeValues": {":p": {"S": f"{self.namespace}:"}},
        }
        while True:
            out = self.client.scan(**kwargs)
            total += int(out["Count"])
            if "LastEvaluatedKey" not in out:
                return total
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def close(self) -> None:
        self.client.close()


class CorruptStore(UserError):
    pass


class StoreUnavailable(Exception):
    """The online store did not answer (down, paused past the timeout, refusing):
    the endpoint answers 503 with Retry-After and /ready turns false, never a 500."""


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def open_store(cfg: OnlineStoreConfig, root: Path, namespace: str, *, readonly: bool = False) -> OnlineStore:
    """The configured backend (`featurize.online` in params.yaml)."""
    backend = cfg.backend
    if backend == "sqlite":
        return SqliteOnlineStore(root / cfg.path, cfg.ttl_seconds, readonly=readonly)
    if backend == "redis":
        url = str(resolve_env(cfg.url))
        return RedisOnlineStore(url, namespace, cfg.ttl_seconds, cfg.timeout_ms)
    if backend == "dynamodb":
        return DynamoOnlineStore(cfg, namespace, create=not readonly)
    raise UserError(f"unknown online store backend '{backend}'")
