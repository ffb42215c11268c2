"""Stage 4, `featurize`: the point-in-time training table, offline and online.

DuckDB runs the compiled `features.sql` over the ingested snapshots. The result
goes to the offline store (Parquet parts in event-time order plus
`_metadata.json`: feature-set hash, dataset version, row counts, feature list
and encodings; or a new version of a Delta table, `delta_store`); image features are preprocessed once into `images.npy`. The
latest row per entity is materialised into the online store. Before finishing,
the row-level expressions are re-computed by the online evaluator on real rows
and must agree with DuckDB: training/serving skew fails here, not in production.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlwright.contract.featurize import FeaturizeParams, RowFeature
from mlwright.runtime.atomic import replace_dir, staging_dir, write_json
from mlwright.runtime.compute import Engine, compute_of, open_engine
from mlwright.runtime.context import GateFailed, StageContext, UserError, say, stage_main
from mlwright.runtime.hashing import sha256_file
from mlwright.runtime.stages.ingest import VERSION, read_snapshot, verified_snapshot_path
from mlwright.runtime.stores.online_store import CorruptStore, open_store

PART_ROWS = 250_000
IMAGE_COLUMN = "__image_path"
SKEW_SAMPLE = 2000


@dataclass(frozen=True)
class BucketJob:
    """features.sql over one entity bucket of every snapshot: a self-contained task
    (plain values only), so a Dask worker runs it as this process would."""

    sql: str
    # (name, snapshot path, its bucket files' folder: None = the whole snapshot)
    sources: tuple[tuple[str, str, str | None], ...]
    label_source: str
    entity: str
    timestamp: str | None
    features: tuple[str, ...]
    bucket: int
    buckets: int
    threads: int


@dataclass(frozen=True)
class BucketResult:
    table: pa.Table  # this bucket's training rows, "__ordinal" kept for the merge
    labels: int  # rows of the label source in this bucket
    latest: list[tuple[str, int, dict[str, Any]]]  # its entities' latest rows, for the online store


@dataclass(frozen=True)
class TrainingTable:
    table: pa.Table
    latest: list[tuple[str, int, dict[str, Any]]]


def bucket_of(entity: str, buckets: int) -> str:
    """The pinned partitioning: md5 of the entity's text, modulo the bucket count. md5
    is the same on every DuckDB version and machine, unlike `hash()`; a missing entity
    goes to bucket 0. Every join of features.sql is on the entity, so no training row
    needs a source row from another bucket."""
    return f'COALESCE(md5_number(CAST("{entity}" AS VARCHAR)) % {buckets}, 0)'


def bucket_predicate(entity: str, bucket: int, buckets: int) -> str:
    return f"{bucket_of(entity, buckets)} = {bucket}"


def partitioned(
    sources: list[tuple[str, str, bool]], entity: str, buckets: int, folder: Path
) -> list[tuple[str, str, str | None]]:
    """Each snapshot with the entity column split once into bucket files (one md5 per
    row), each row keeping its position in the snapshot as the ordinal; a bucket task
    then reads only its own rows. A snapshot without the column is read whole."""
    import duckdb

    out: list[tuple[str, str, str | None]] = []
    con = duckdb.connect()
    try:
        for name, path, has_entity in sources:
            if not has_entity or buckets == 1:
                out.append((name, path, None))
                continue
            target = folder / name
            con.execute(
                f"COPY (SELECT *, {bucket_of(entity, buckets)} AS __bucket FROM "
                f"(SELECT * EXCLUDE (file_row_number), file_row_number AS {ORDINAL} "
                f"FROM read_parquet('{_sql_text(path)}', file_row_number=true))) "
                f"TO '{_sql_text(str(target))}' (FORMAT parquet, PARTITION_BY (__bucket))"
            )
            out.append((name, path, str(target)))
    finally:
        con.close()
    return out


def bucket_features(job: BucketJob) -> BucketResult:
    """features.sql over one bucket, on one connection with `job.threads` threads."""
    import duckdb

    con = duckdb.connect(config={"threads": job.threads})
    con.execute("SET TimeZone='UTC'")
    try:
        for name, path, folder in job.sources:
            con.execute(f'CREATE VIEW "{name}" AS {_bucket_rows(path, folder, job.bucket)}')
            if name == job.label_source:  # training: one feature row per label row
                con.execute(f'CREATE VIEW "{SPINE}" AS {_bucket_rows(path, folder, job.bucket)}')
        table = con.sql(job.sql).to_arrow_table()
        labels = con.execute(f'SELECT count(*) FROM "{job.label_source}"').fetchone()
    except duckdb.Error as exc:
        raise UserError(f"features.sql failed in DuckDB: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    latest = online_rows(table, job.entity, job.timestamp, list(job.features))
    return BucketResult(table, labels[0] if labels else 0, latest)


def _bucket_rows(path: str, folder: str | None, bucket: int) -> str:
    """A source's rows for one bucket, with "__ordinal": the whole snapshot, this
    bucket's file, or (no row of the source in this bucket) none, with its columns."""
    whole = (
        f"SELECT * EXCLUDE (file_row_number), file_row_number AS {ORDINAL} "
        f"FROM read_parquet('{_sql_text(path)}', file_row_number=true)"
    )
    if folder is None:
        return whole
    files = Path(folder) / f"__bucket={bucket}"
    if not files.is_dir():
        return f"{whole} LIMIT 0"
    return f"SELECT * FROM read_parquet('{_sql_text(str(files))}/*.parquet', hive_partitioning=false)"


def _sql_text(value: str) -> str:
    return value.replace("'", "''")


def merged(tables: list[pa.Table], entity: str, timestamp: str | None) -> pa.Table:
    """Bucket outputs in the order features.sql gives one run: (time, entity, ordinal),
    missing values last, as DuckDB sorts. One bucket is already in that order."""
    if len(tables) == 1:
        return tables[0]
    table = pa.concat_tables(tables)
    names = [timestamp or "__ts", entity, ORDINAL]
    if int(pa.__version__.split(".")[0]) >= 25:  # null placement per key; the global option is deprecated
        order = pc.sort_indices(table, sort_keys=[(n, "ascending", "at_end") for n in names])
    else:
        order = pc.sort_indices(table, sort_keys=[(n, "ascending") for n in names], null_placement="at_end")
    return table.take(order)


def training_table(ctx: StageContext, engine: Engine) -> TrainingTable:
    """features.sql over the snapshots, bucket by bucket: one row per label row, never more."""
    import pyarrow.parquet as pq

    cfg = ctx.params.featurize
    buckets = compute_of(ctx).buckets
    sources = []
    for s in ctx.params.ingest.sources:
        path = verified_snapshot_path(ctx, s.name)
        sources.append((s.name, str(path.resolve()), cfg.entity in pq.read_schema(path).names))
    check_dimension_sources(sources, cfg)
    # inside the build folder: on a cluster, the workers see it where they see the snapshots
    with tempfile.TemporaryDirectory(prefix=".featurize-buckets-", dir=ctx.root) as folder:
        split = partitioned(sources, cfg.entity, buckets, Path(folder))
        results = _bucket_results(ctx, engine, cfg, split, buckets)
    table = merged([r.table for r in results], cfg.entity, cfg.timestamp)
    table = table.drop_columns([ORDINAL]) if ORDINAL in table.column_names else table
    labels = sum(r.labels for r in results)
    if table.num_rows != labels:
        raise GateFailed(
            f"the training table has {table.num_rows} rows for {labels} rows of "
            f"'{cfg.label_source}': a join fanned out or dropped rows"
        )
    return TrainingTable(table, sorted((row for r in results for row in r.latest), key=lambda row: row[0]))


def _bucket_results(
    ctx: StageContext, engine: Engine, cfg: FeaturizeParams, sources: list[tuple[str, str, str | None]], buckets: int
) -> list[BucketResult]:
    jobs = [
        BucketJob(
            sql=ctx.path(cfg.sql).read_text(encoding="utf-8"),
            sources=tuple(sources),
            label_source=cfg.label_source,
            entity=cfg.entity,
            timestamp=cfg.timestamp,
            features=tuple(feature_names(cfg)),
            bucket=b,
            buckets=buckets,
            threads=engine.threads,
        )
        for b in range(buckets)
    ]
    return engine.map(bucket_features, jobs, "bucket")


ORDINAL = "__ordinal"
SPINE = "__spine"  # the table features.sql computes a row for: the label source, or a batch


def with_ordinal(table: pa.Table) -> pa.Table:
    """The snapshot with `__ordinal`, each row's position: features.sql's tiebreak."""
    return table.append_column(ORDINAL, pa.array(np.arange(table.num_rows, dtype=np.int64)))


def check_dimension_sources(sources: list[tuple[str, str, bool]], cfg: FeaturizeParams) -> None:
    """A source joined without a time column must hold one row per entity: with more,
    each training row would take every one of them, future rows included. Checked on
    the whole snapshot (a streaming count), before any bucket runs."""
    import duckdb

    entity = cfg.entity
    paths = {name: path for name, path, _ in sources}
    con = duckdb.connect()
    try:
        for source in cfg.dimension_sources:
            scan = f"read_parquet('{_sql_text(paths[source])}')"
            dupes = con.execute(
                f'SELECT CAST("{entity}" AS VARCHAR) AS e, count(*) AS n FROM {scan} '
                "GROUP BY 1 HAVING count(*) > 1 ORDER BY n DESC, e LIMIT 3"
            ).fetchall()
            if not dupes:
                continue
            total = con.execute(
                f'SELECT count(*) FROM (SELECT "{entity}" FROM {scan} GROUP BY 1 HAVING count(*) > 1)'
            ).fetchone()
            shown = ", ".join(f"{e!r} ({n} rows)" for e, n in dupes)
            raise GateFailed(
                f"source '{source}' has {total[0] if total else '?'} entities with more than one row (e.g. {shown}); "
                "without a time column it must hold one row per entity. Declare its event time as "
                f"data.sources[{source}].time_column, so each training row takes the value as of its own time"
            )
    finally:
        con.close()


def feature_names(cfg: FeaturizeParams) -> list[str]:
    return [f.name for f in cfg.row_features] + [f.name for f in cfg.window_features]


# Where the features are also served from, or the format they are kept in, is not
# what they are: an online-store setting (backend, TTL, path) or Parquet vs Delta
# changes no training row, so it must not change the
# offline table's metadata and, through it, re-run training.
NOT_FEATURE_DEFINITION = ("online", "offline_format")


def feature_set_hash(ctx: StageContext) -> str:
    """What defines the feature values: the compiled SQL and the feature settings."""
    featurize = ctx.params.featurize
    cfg = featurize.model_dump(mode="json", by_alias=True, exclude=set(NOT_FEATURE_DEFINITION))
    body = ctx.path(featurize.sql).read_bytes() + json.dumps(cfg, sort_keys=True).encode()
    return hashlib.sha256(body).hexdigest()


def write_part(rows: pa.Table, path: Path) -> None:
    """One Parquet part, as one chunk: where the writer gives up a column's dictionary
    (and so the bytes) depends on the in-memory chunks, and a bucketed run's merged
    table is chunked unlike one run's with the same values (found at 1M rows)."""
    pq.write_table(rows.combine_chunks(), path, compression="zstd")


def offline_meta(ctx: StageContext, table: pa.Table, version: str) -> dict[str, Any]:
    """What train reads about the table besides its rows, in either format."""
    cfg = ctx.params.featurize
    return {
        "metadata_version": 1,
        "feature_set_hash": feature_set_hash(ctx),
        "dataset_version": version,
        "rows": table.num_rows,
        "entity": cfg.entity,
        "timestamp": cfg.timestamp or "__ts",
        "target": cfg.target,
        "features": feature_names(cfg),
        "encodings": {f.name: f.encoding for f in cfg.row_features},
        "window_counts": [f.name for f in cfg.window_features if f.counts],
        "image": cfg.image.model_dump(mode="json") if cfg.image else None,
        "columns": {f.name: str(f.type) for f in table.schema},
    }


def write_offline(
    ctx: StageContext, table: pa.Table, images: tuple[np.ndarray, np.ndarray] | None, version: str
) -> dict[str, Any]:
    cfg = ctx.params.featurize
    final = ctx.path(cfg.offline_path)
    meta = offline_meta(ctx, table, version)
    if cfg.offline_format == "delta":  # the compiler refuses images with delta
        from mlwright.runtime.stores.delta_store import write_version

        return write_version(final, table, meta)
    stage = staging_dir(final)
    parts = []
    for i, start in enumerate(range(0, max(table.num_rows, 1), PART_ROWS)):
        name = f"part-{i:05d}.parquet"
        write_part(table.slice(start, PART_ROWS), stage / name)
        parts.append(name)
    if images is not None:
        np.save(stage / "images.npy", images[0])
        np.save(stage / "image_stats.npy", images[1])
    meta |= {
        "parts": parts,
        "sha256": {name: sha256_file(str(stage / name)) for name in parts},
        "images": "images.npy" if images is not None else None,
    }
    write_json(stage / "_metadata.json", meta)
    replace_dir(stage, final)
    return meta


def load_offline(
    root: Path, offline_path: str, offline_format: str = "parquet", as_of: str | None = None
) -> tuple[pa.Table, dict[str, Any]]:
    """The training table featurize wrote (with `as_of`, a Delta store's earlier one),
    every file checked against the hashes recorded beside it."""
    folder = root / offline_path
    if offline_format == "delta":
        from mlwright.runtime.stores.delta_store import is_delta, read_version

        if (folder / "_metadata.json").is_file() and not is_delta(folder):
            raise UserError(f"{folder}: a Parquet offline store, and the spec says delta; run featurize first")
        return read_version(folder, as_of)
    meta_file = folder / "_metadata.json"
    if not meta_file.is_file():
        hint = " (a Delta table: the spec says parquet)" if (folder / "_delta_log").is_dir() else ""
        raise UserError(f"{folder}: no offline feature store{hint}; run featurize first")
    meta = json.loads(meta_file.read_text())
    return pa.concat_tables([verified_part(folder / p, meta.get("sha256", {}).get(p)) for p in meta["parts"]]), meta


def verified_part(path: Path, digest: str | None, recorded_in: str = "_metadata.json") -> pa.Table:
    """A Parquet file of the offline store (either format), only if its bytes are the
    ones featurize wrote: read once, hashed and parsed from the same bytes."""
    body = path.read_bytes() if path.is_file() else b""
    if digest is None or hashlib.sha256(body).hexdigest() != digest:
        raise GateFailed(
            f"{path}: changed after featurize wrote it (sha256 differs from {recorded_in}); "
            "re-create it: mlwright run --stage featurize --force"
        )
    return pq.read_table(pa.BufferReader(body))


def image_tensor(ctx: StageContext, table: pa.Table) -> tuple[np.ndarray, np.ndarray] | None:
    """Preprocessed images (N x H x W) and their raw HU mean/std (N x 2, for drift)."""
    from mlwright.runtime.data.imaging import hounsfield, preprocess, read_dicom

    cfg = ctx.params.featurize.image
    if not cfg:
        return None
    root = ctx.source_root()
    paths = table.column(IMAGE_COLUMN).to_pylist()
    missing = [i for i, p in enumerate(paths) if p is None]
    if missing:
        raise UserError(
            f"{len(missing)} labelled rows have no image in source '{cfg.source}' (first: row {missing[0]})"
        )
    images, stats = [], []
    for p in paths:
        hu = hounsfield(read_dicom(root / p, p), p)
        images.append(preprocess(hu, cfg))
        stats.append((float(hu.mean()), float(hu.std())))
    if not images:
        return np.zeros((0, *cfg.size), np.float32), np.zeros((0, 2))
    return np.stack(images), np.asarray(stats)


def online_rows(
    table: pa.Table, entity: str, timestamp: str | None, names: list[str]
) -> list[tuple[str, int, dict[str, Any]]]:
    """The latest row per entity: (entity, event_time_us, {feature: value})."""
    ts_col = timestamp or "__ts"
    entities = table.column(entity).to_pylist()
    ts = pc.cast(table.column(ts_col), pa.int64()).to_pylist() if timestamp else [0] * table.num_rows
    cols = {n: table.column(n).to_pylist() for n in names}
    latest: dict[str, int] = {}
    for i, (e, t) in enumerate(zip(entities, ts, strict=True)):
        if e is None:
            continue  # a row without an id cannot be looked up by one
        j = latest.get(e)
        if j is None or (t or 0) >= (ts[j] or 0):
            latest[e] = i
    return [(e, int(ts[i] or 0), {n: _plain(cols[n][i]) for n in names}) for e, i in sorted(latest.items())]


def _plain(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def materialize(ctx: StageContext, rows: list[tuple[str, int, dict[str, Any]]]) -> int:
    cfg = ctx.params.featurize
    name = ctx.params.featurize.name
    try:
        store = open_store(cfg.online, ctx.root, name)
    except CorruptStore:
        path = ctx.path(cfg.online.path)
        say(f"featurize: {path.name} is corrupt; rebuilding it from the offline store")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        store = open_store(cfg.online, ctx.root, name)
    try:
        written = store.write(rows)
    finally:
        store.close()
    if cfg.online.backend != "sqlite":
        write_json(
            ctx.path("features/online.json"),
            {"backend": cfg.online.backend, "entities": len(rows), "written": written},
        )
    return written


def skew_check(ctx: StageContext, cfg: FeaturizeParams) -> list[str]:
    """Row-level features recomputed by the online evaluator must equal DuckDB's,
    on real rows of each feature's source."""
    import duckdb

    from mlwright.runtime.data.expr_eval import Unsupported, compile_expression

    problems: list[str] = []
    con = duckdb.connect()
    by_source: dict[str, list[RowFeature]] = {}
    for f in cfg.row_features:
        by_source.setdefault(f.source, []).append(f)
    for source, feats in sorted(by_source.items()):
        con.register(source, read_snapshot(ctx, source))
        raw = sorted({c for f in feats for c in f.columns})
        select = ", ".join([*(f'"{c}"' for c in raw), *(f'({f.sql}) AS "__f{i}"' for i, f in enumerate(feats))])
        rows = con.sql(f'SELECT {select} FROM "{source}" LIMIT {SKEW_SAMPLE}').to_arrow_table().to_pylist()
        for i, f in enumerate(feats):
            try:
                fn = compile_expression(f.sql)
            except Unsupported:
                continue  # not computable per request: served from the online store
            for row in rows:
                env = {c: row[c] for c in f.columns}
                want, got = row[f"__f{i}"], fn(env)
                if not _same(want, got):
                    problems.append(f"{f.name}: DuckDB gives {want!r}, the online evaluator {got!r} for {env}")
                    break
    con.close()
    return problems


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        fa, fb = float(a), float(b)
        return (math.isnan(fa) and math.isnan(fb)) or fa == fb or abs(fa - fb) <= 1e-9 * max(1.0, abs(fa))
    out: bool = a == b
    return out


def run(ctx: StageContext) -> dict[str, Any]:
    cfg = ctx.params.featurize
    version = json.loads(ctx.path(VERSION).read_text())["version_id"]
    with open_engine(compute_of(ctx), "featurize") as engine:
        features = training_table(ctx, engine)
    table = features.table
    problems = skew_check(ctx, cfg)
    if problems:
        raise GateFailed("training/serving skew: " + "; ".join(problems))
    images = image_tensor(ctx, table)
    meta = write_offline(ctx, table, images, version)
    written = materialize(ctx, features.latest)
    say(f"featurize: {meta['rows']} rows x {len(meta['features'])} features; online store: {written} entities written")
    return meta


if __name__ == "__main__":
    stage_main("featurize", run)
