"""Stage 2, `ingest`: hash every source file into the manifest, snapshot each source.

Writes `data/manifest.csv` (path,sha256,size,modified; sorted; paths relative to
the spec's folder), `data/version.json` (the dataset version id) and one Parquet
snapshot per source under `data/snapshots/`. The version id is the SHA-256 of
the manifest's path,sha256,size columns: it names the content, so it is the same
on every machine (the `modified` column, which checkouts change, stays out of it).
"""

from __future__ import annotations

import contextlib
import csv
import fnmatch
import hashlib
import io
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlwright.contract.ingest import Source
from mlwright.runtime.atomic import replace_dir, staging_dir, write_json, write_parquet, write_text
from mlwright.runtime.context import GateFailed, StageContext, UserError, say, stage_main
from mlwright.runtime.data.source_paths import S3_CACHE, NoFiles, manifest_path
from mlwright.runtime.hashing import Change, hash_files, hash_with_state, sha256_file

MANIFEST = "data/manifest.csv"
VERSION = "data/version.json"
SNAPSHOTS = "data/snapshots"
STATE = ".mlwright/hash_state.json"
REHASH = "MLWRIGHT_REHASH"  # set by `run --new-data`: hash every source byte, trust no cache


@dataclass(frozen=True)
class ManifestRow:
    path: str
    sha256: str
    size: int
    modified: str


def local_files(ctx: StageContext) -> dict[str, list[Path]]:
    """Each source's files on local disk (s3:// objects downloaded into the build folder)."""
    from mlwright.runtime.data.source_paths import source_files

    root = ctx.source_root()
    return {s.name: source_files(s, root, ctx.path(S3_CACHE)) for s in ctx.params.ingest.sources}


def manifest_rows(files: list[Path], root: Path, cache: Path, digests: dict[str, str]) -> list[ManifestRow]:
    rows = []
    for p in files:
        st = p.stat()
        modified = datetime.fromtimestamp(st.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(ManifestRow(manifest_path(p, root, cache), digests[str(p)], st.st_size, modified))
    return sorted(rows, key=lambda r: r.path)


def manifest_csv(rows: list[ManifestRow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "sha256", "size", "modified"])
    for r in rows:
        w.writerow([r.path, r.sha256, r.size, r.modified])
    return buf.getvalue()


def read_manifest(path: Path) -> list[ManifestRow]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return [ManifestRow(r["path"], r["sha256"], int(r["size"]), r["modified"]) for r in csv.DictReader(fh)]
    except (OSError, KeyError, ValueError) as exc:
        raise UserError(f"{path}: unreadable manifest ({exc}); re-run ingest") from None


def version_id(rows: list[ManifestRow]) -> str:
    h = hashlib.sha256()
    for r in rows:
        h.update(f"{r.path},{r.sha256},{r.size}\n".encode())
    return h.hexdigest()


def snapshot(source: Source, files: list[Path], root: Path, cache: Path) -> Any:
    from mlwright.runtime.data.dicom import read_dicom_source
    from mlwright.runtime.data.sources import apply_rename, cast_declared, concat, read_csv, read_jsonl, read_parquet

    columns = source.columns
    shown = [(p, manifest_path(p, root, cache)) for p in files]
    if source.format == "csv":
        rename = source.rename
        raw_name = {new: raw for raw, new in rename.items()}
        as_text = {raw_name.get(c, c): kind for c, kind in columns.items()}  # declared columns, by file name
        tables = [apply_rename(read_csv(p, as_text, source.delimiter, s), rename, s) for p, s in shown]
    elif source.format == "parquet":
        tables = [apply_rename(read_parquet(p, s), source.rename, s) for p, s in shown]
    elif source.format == "jsonl":
        tables = [apply_rename(read_jsonl(p, s), source.rename, s) for p, s in shown]
    else:
        tables = [read_dicom_source(shown, {k: list(v) for k, v in source.metadata.items()})]
    try:
        table = concat(tables)
    except Exception as exc:
        raise UserError(f"source '{source.name}': files disagree on columns ({str(exc).splitlines()[0]})") from None
    return cast_declared(table, columns)


# The manifest's digest, by the name `data.versioning.manifest` gives it: DVC's own
# cache and every integrity check here (snapshots, offline parts) use the same one.
MANIFEST_HASHES = ("sha256",)


def run(ctx: StageContext) -> dict[str, Any]:
    if ctx.params.ingest.manifest not in MANIFEST_HASHES:  # a build older or newer than this runtime
        raise UserError(f"data.versioning.manifest: {ctx.params.ingest.manifest!r} is not one of {MANIFEST_HASHES}")
    root = ctx.source_root()
    files = local_files(ctx)
    every = sorted({p for fs in files.values() for p in fs})
    paths = [str(p) for p in every]
    # accepting new data (`run --new-data`) re-reads every byte: a same-size edit with
    # its mtime restored would otherwise keep the old digest in the manifest
    digests = hash_files(paths) if os.environ.get(REHASH) else hash_with_state(paths, ctx.path(STATE))
    rows = manifest_rows(every, root, ctx.path(S3_CACHE), digests)
    snaps = staging_dir(ctx.path(SNAPSHOTS))
    counts = {}
    for source in ctx.params.ingest.sources:
        table = snapshot(source, files[source.name], root, ctx.path(S3_CACHE))
        write_parquet(snaps / f"{source.name}.parquet", table)
        counts[source.name] = table.num_rows
    snapshot_sha = {name: sha256_file(str(snaps / f"{name}.parquet")) for name in sorted(counts)}
    replace_dir(snaps, ctx.path(SNAPSHOTS))
    version = version_id(rows)
    write_text(ctx.path(MANIFEST), manifest_csv(rows))
    write_json(
        ctx.path(VERSION),
        {
            "version_id": version,
            "files": len(rows),
            "bytes": sum(r.size for r in rows),
            "rows": counts,
            "snapshots": snapshot_sha,
        },
    )
    say(f"ingest: {len(rows)} files, {sum(r.size for r in rows) / 1e6:.1f} MB, dataset version {version[:12]}")
    return {"version_id": version, "rows": counts}


def snapshot_path(ctx: StageContext, name: str) -> Path:
    return ctx.path(SNAPSHOTS) / f"{name}.parquet"


def snapshot_changes(ctx: StageContext) -> list[Change]:
    """Snapshots whose bytes differ from what ingest wrote (sha256 in version.json):
    a later stage would otherwise train on an edited copy while every check passes."""
    recorded = json.loads(ctx.path(VERSION).read_text()).get("snapshots", {}) if ctx.path(VERSION).is_file() else {}
    changes = []
    for name, digest in sorted(recorded.items()):
        path = snapshot_path(ctx, name)
        rel = path.relative_to(ctx.root).as_posix()
        if not path.is_file():
            changes.append(Change(rel, "missing"))
        elif sha256_file(str(path)) != digest:
            changes.append(Change(rel, "modified"))
    return changes


def recorded_snapshot_hash(ctx: StageContext, name: str) -> tuple[Path, str]:
    """A source's snapshot file and the sha256 ingest recorded for it."""
    path = snapshot_path(ctx, name)
    if not path.is_file():
        raise UserError(f"{path}: missing snapshot; run ingest")
    recorded = json.loads(ctx.path(VERSION).read_text()).get("snapshots", {})
    if name not in recorded:
        raise GateFailed(
            f"{path}: no recorded hash for this snapshot; re-create it: mlwright run --stage ingest --force"
        )
    return path, str(recorded[name])


def require_hash(path: Path, actual: str, recorded: str) -> None:
    if actual != recorded:
        raise GateFailed(
            f"{path}: changed after ingest wrote it (sha256 differs from data/version.json); "
            "re-create it from the verified sources: mlwright run --stage ingest --force"
        )


def verified_snapshot_path(ctx: StageContext, name: str) -> Path:
    """A source's snapshot file, checked against the sha256 ingest recorded (read in
    chunks: a task may then read it in pieces, one entity bucket at a time)."""
    from mlwright.runtime.hashing import sha256_file

    path, recorded = recorded_snapshot_hash(ctx, name)
    require_hash(path, sha256_file(str(path)), recorded)
    return path


def read_snapshot(ctx: StageContext, name: str) -> Any:
    """A source's snapshot, only if its bytes are the ones ingest wrote (hashed and read
    from the same bytes in memory)."""
    import pyarrow.parquet as pq

    path, recorded = recorded_snapshot_hash(ctx, name)
    with path.open("rb") as fh:
        body = fh.read()
    require_hash(path, hashlib.sha256(body).hexdigest(), recorded)
    return pq.read_table(io.BytesIO(body))


def verify(ctx: StageContext) -> list[Change]:
    """Re-hash every source byte against the current manifest (no cache: a same-size
    edit with its mtime restored is still found)."""
    manifest = ctx.path(MANIFEST)
    if not manifest.is_file():
        raise UserError(f"{manifest}: no manifest yet; run the pipeline once (`mlwright run`)")
    root = ctx.source_root()
    recorded = {r.path: r for r in read_manifest(manifest)}
    from mlwright.runtime.data.source_paths import source_files

    cache = ctx.path(S3_CACHE)
    # a source the spec added since the last ingest is a change of spec, not of data:
    # ingest runs for it anyway (its params changed), so its files are not "added"
    ingested = set(json.loads(ctx.path(VERSION).read_text()).get("rows", {})) if ctx.path(VERSION).is_file() else None
    present: dict[str, Path] = {}
    for s in ctx.params.ingest.sources:
        if ingested is not None and s.name not in ingested:
            continue
        with contextlib.suppress(NoFiles):  # a source whose files are all gone: each is reported missing
            present.update({manifest_path(p, root, cache): p for p in source_files(s, root, cache)})
    digests = hash_files([str(p) for p in present.values()])
    changes: list[Change] = []
    sources = ctx.params.ingest.sources
    for rel in sorted(set(recorded) | set(present)):
        if rel not in present:
            if ingested is not None and not any(fnmatch.fnmatch(rel, s.uri) for s in sources):
                continue  # a file of a source the spec no longer names: nothing reads it
            changes.append(Change(rel, "missing"))
        elif rel not in recorded:
            changes.append(Change(rel, "added"))
        else:
            size = present[rel].stat().st_size
            if size < recorded[rel].size:
                changes.append(Change(rel, "truncated"))
            elif size > recorded[rel].size:
                changes.append(Change(rel, "grown"))
            elif digests[str(present[rel])] != recorded[rel].sha256:
                changes.append(Change(rel, "modified"))
    return changes


if __name__ == "__main__":
    stage_main("ingest", run)
