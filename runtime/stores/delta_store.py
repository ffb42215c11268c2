"""The offline store as a Delta Lake table: one Delta version per dataset version.

`features.store.offline.format: delta` keeps every training table featurize wrote
in one Delta table (overwrite commits, so the current version is the latest table
and the earlier ones stay readable by time travel). Each commit's metadata carries
the dataset version id and the feature-set hash, which is what `mlwright features
history` lists and what `features.store.offline.as_of` picks a version by.

Delta stores values, not an Arrow schema, and does not promise row order across
files; so each version also gets a sidecar, `_mlwright/v<version>.json` (Delta
readers skip `_`-prefixed entries): the Arrow schema the table had, the feature
metadata train reads, and the SHA-256 of every data file of that version. A read
checks the files against it, restores the row order from a `__row` column and
casts back to the recorded schema: the same table, value for value, as the
Parquet store gives.
"""

from __future__ import annotations

import base64
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from mlwright.runtime.atomic import write_json
from mlwright.runtime.context import GateFailed, UserError
from mlwright.runtime.hashing import sha256_file

ROW = "__row"
SIDECARS = "_mlwright"
DATASET_KEY = "mlwright.dataset_version"
FEATURES_KEY = "mlwright.feature_set_hash"


@dataclass(frozen=True)
class OfflineVersion:
    """One Delta version of the offline store, as its commit recorded it."""

    version: int
    timestamp_ms: int
    dataset_version: str
    feature_set_hash: str
    rows: int


def deltalake() -> Any:
    try:
        import deltalake as module
    except ImportError:
        raise UserError(
            "features.store.offline.format: delta needs the deltalake package: pip install 'mlwright[delta]'"
        ) from None
    return module


def is_delta(folder: Path) -> bool:
    return (folder / "_delta_log").is_dir()


def history(folder: Path) -> list[OfflineVersion]:
    """Every version featurize committed, newest first (commits by other writers, with
    no dataset version in their metadata, are not training tables and are left out)."""
    if not is_delta(folder):
        return []
    out = []
    for commit in deltalake().DeltaTable(str(folder)).history():
        if DATASET_KEY not in commit:
            continue
        metrics = commit.get("operationMetrics") or {}
        out.append(
            OfflineVersion(
                int(commit["version"]),
                int(commit.get("timestamp", 0)),
                str(commit[DATASET_KEY]),
                str(commit.get(FEATURES_KEY, "")),
                int(metrics.get("num_added_rows", 0)),
            )
        )
    return sorted(out, key=lambda v: -v.version)


def sidecar_path(folder: Path, version: int) -> Path:
    return folder / SIDECARS / f"v{version:08d}.json"


def storable(table: pa.Table) -> pa.Table:
    """The table as Delta can hold it: dictionary columns as their values, all-null
    columns as strings (Delta has no null type); the sidecar's schema restores them."""
    fields = []
    for f in table.schema:
        kind = f.type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if pa.types.is_null(kind):
            kind = pa.string()
        fields.append(pa.field(f.name, kind, f.nullable))
    body = table.cast(pa.schema(fields))
    return body.append_column(ROW, pa.array(range(table.num_rows), pa.int64()))


def file_digests(folder: Path, version: int) -> dict[str, str]:
    files = [_relative(folder, uri) for uri in deltalake().DeltaTable(str(folder), version=version).file_uris()]
    return {name: sha256_file(str(folder / name)) for name in files}


def _relative(folder: Path, uri: str) -> str:
    path = Path(uri.removeprefix("file://"))
    return str(path.relative_to(folder.resolve()) if path.is_absolute() else path)


def current(folder: Path, meta: dict[str, Any]) -> dict[str, Any] | None:
    """The latest version's sidecar when it already holds this dataset version and
    feature set with its files intact (a forced re-run commits nothing new)."""
    versions = history(folder)
    if not versions:
        return None
    latest = versions[0]
    if (latest.dataset_version, latest.feature_set_hash) != (meta["dataset_version"], meta["feature_set_hash"]):
        return None
    sidecar = sidecar_path(folder, latest.version)
    if not sidecar.is_file():
        return None
    recorded: dict[str, Any] = json.loads(sidecar.read_text())
    if recorded.get("files") != file_digests(folder, latest.version):
        return None
    return recorded


def write_version(folder: Path, table: pa.Table, meta: dict[str, Any]) -> dict[str, Any]:
    """Commit `table` as a new Delta version carrying `meta`'s ids, then its sidecar
    (a crash between the two leaves a version without one, which no read accepts and
    the next featurize run replaces)."""
    dl = deltalake()
    kept = current(folder, meta)
    if kept is not None:
        return kept
    if folder.exists() and not is_delta(folder):
        # the Parquet store this spec had before `format: delta` (DVC keeps a persisted
        # out in place): its parts are no version of this table, and DVC's cache has them
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dl.write_deltalake(
        str(folder),
        storable(table),
        mode="overwrite",
        schema_mode="overwrite",
        commit_properties=dl.CommitProperties(
            custom_metadata={DATASET_KEY: meta["dataset_version"], FEATURES_KEY: meta["feature_set_hash"]}
        ),
    )
    version = history(folder)[0].version
    recorded = {
        **meta,
        "format": "delta",
        "delta_version": version,
        "files": file_digests(folder, version),
        "arrow_schema": base64.b64encode(table.schema.serialize().to_pybytes()).decode(),
    }
    write_json(sidecar_path(folder, version), recorded)
    return recorded


def chosen(folder: Path, as_of: str | None) -> OfflineVersion:
    """The version to read: the latest, or the latest of the dataset version `as_of`
    names (a unique prefix of its id) with the feature set the latest one has; training
    on other features than the spec's would serve features the model never saw."""
    versions = history(folder)
    if not versions:
        raise UserError(f"{folder}: no Delta offline store; run featurize first")
    latest = versions[0]
    if as_of is None:
        return latest
    ids = sorted({v.dataset_version for v in versions if v.dataset_version.startswith(as_of)})
    listed = ", ".join(sorted({v.dataset_version[:12] for v in versions}))
    if not ids:
        raise UserError(
            f"features.store.offline.as_of: no version of {folder} holds dataset version {as_of!r} "
            f"(it holds {listed}; see `mlwright features history`)"
        )
    if len(ids) > 1:
        raise UserError(
            f"features.store.offline.as_of: {as_of!r} is a prefix of {len(ids)} dataset versions "
            f"({', '.join(i[:16] for i in ids)}); write more of the id"
        )
    same = [v for v in versions if v.dataset_version == ids[0] and v.feature_set_hash == latest.feature_set_hash]
    if not same:
        raise UserError(
            f"features.store.offline.as_of: dataset version {ids[0][:12]} is stored only with another feature "
            "set than the spec's (features changed since); a model trained on it would be served features it "
            "was not trained on. Re-ingest that data, or drop as_of"
        )
    return same[0]


def read_version(folder: Path, as_of: str | None) -> tuple[pa.Table, dict[str, Any]]:
    """The training table of the chosen version, checked against its sidecar's hashes,
    in featurize's row order and with its Arrow types.

    Delta's log says which files make the version; each is read once, hashed and
    parsed from the same bytes (a version this module wrote is whole files: no
    partitions, no deletion vectors, and a later commit cannot change an earlier
    version's files), so a check costs no second read."""
    picked = chosen(folder, as_of)
    sidecar = sidecar_path(folder, picked.version)
    if not sidecar.is_file():
        raise GateFailed(
            f"{sidecar}: missing, so Delta version {picked.version} cannot be checked; "
            "re-create it: mlwright run --stage featurize --force"
        )
    meta: dict[str, Any] = json.loads(sidecar.read_text())
    listed = sorted(
        _relative(folder, uri) for uri in deltalake().DeltaTable(str(folder), version=picked.version).file_uris()
    )
    if listed != sorted(meta["files"]):
        raise GateFailed(
            f"{folder}: Delta version {picked.version} lists other data files than {sidecar.name} recorded; "
            "re-create it: mlwright run --stage featurize --force"
        )
    from mlwright.runtime.stages.featurize import verified_part

    table = pa.concat_tables([verified_part(folder / name, meta["files"][name], sidecar.name) for name in listed])
    if not in_order(table.column(ROW)):
        table = table.sort_by(ROW)
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(meta["arrow_schema"])))
    return restored(table, schema), meta


def in_order(rows: pa.ChunkedArray) -> bool:
    import numpy as np

    values = rows.to_numpy()
    return bool(np.all(values[1:] > values[:-1]))


def restored(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Back to featurize's Arrow types (`storable` undone): dictionaries re-encoded
    (by first appearance, as `dictionary_encode` does; values are what train reads),
    all-null columns null-typed again."""
    return pa.Table.from_arrays([restored_column(table, f) for f in schema], schema=schema)


def restored_column(table: pa.Table, field: pa.Field) -> pa.Array | pa.ChunkedArray:
    if pa.types.is_null(field.type):
        return pa.nulls(table.num_rows)
    if pa.types.is_dictionary(field.type):  # one dictionary for the column, not one per row group
        return table.column(field.name).combine_chunks().cast(field.type)
    return table.column(field.name).cast(field.type)
