"""Batch scoring: `mlwright predict DIR --input PATH --output DIR`, idempotent and resumable.

The input is split into chunks of `chunk_rows`. Each finished chunk is written
atomically as its own Parquet file and recorded in `_chunks.json`; a re-run
(after a crash or `kill -9`) skips finished chunks, so every input row appears
exactly once, keyed by its entity and its row number. A lock file keeps two runs
from writing the same output, and a run against different input or a different
model refuses to mix results into an existing output.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .atomic import write_json, write_parquet
from .context import GateFailed, UserError, say
from .predictor import Predictor
from .serve import fingerprint

MANIFEST = "_chunks.json"


def input_files(pattern: str, flag: str = "--input") -> list[Path]:
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    if not files:
        raise UserError(f"{flag}: no files match {pattern}")
    return files


def read_input(files: list[Path], predictor: Predictor) -> tuple[pa.Table, list[Path] | None]:
    """Tabular files -> one table; DICOM files -> their header rows plus the file list."""
    from .sources import apply_rename, cast_declared, concat, read_table_file

    suffixes = {f.suffix.lower() for f in files}
    if suffixes <= {".dcm", ".dicom"} or (suffixes and predictor.image):
        from .dicom import read_dicom_source

        meta = predictor.serving.get("dicom_metadata") or {"columns": {}, "metadata": {}}
        table = read_dicom_source([(f, str(f)) for f in files], meta["metadata"])
        return cast_declared(table, meta["columns"]), files
    tables = [read_table_file(f) for f in files]
    types = {k: v for k, v in predictor.serving["inputs"].items() if v != "image"}
    table = apply_rename(concat(tables), predictor.serving.get("rename", {}), "input", strict=False)
    return cast_declared(table, types), None


def run_fingerprint(files: list[Path], predictor: Predictor, chunk_rows: int) -> str:
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(f"{fingerprint(predictor.folder)}|{chunk_rows}".encode())
    return h.hexdigest()


@contextmanager
def exclusive(output: Path) -> Iterator[None]:
    """The output folder for this process alone, cleared of temporary files a killed run left."""
    output.mkdir(parents=True, exist_ok=True)
    with (output / ".lock").open("w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GateFailed(f"{output}: another `mlwright predict` is writing this output") from None
        for stale in output.glob(".*.tmp"):  # a killed writer's; with the lock held nobody else writes here
            stale.unlink(missing_ok=True)
        yield


def done_chunks(output: Path, run_id: str) -> set[int]:
    path = output / MANIFEST
    if not path.is_file():
        return set()
    data = json.loads(path.read_text())
    if data.get("run") != run_id:
        raise GateFailed(f"{output}: holds results of other input or another model; choose an empty --output")
    return {c for c in data["done"] if (output / f"part-{c:06d}.parquet").is_file()}


def batch_features(
    predictor: Predictor, table: pa.Table, build: Path | None, dicoms: list[Path] | None
) -> pa.Table | None:
    """Every row's features as of its own event time (the training SQL over the build's
    snapshots), or None where that cannot be done: no event time in the rows, no build
    folder (a packaged image), or an image model (its pixels come from the files)."""
    from .asof import can_compute, features_as_of

    if build is None or dicoms or predictor.image or not can_compute(build, table.column_names):
        return None
    return features_as_of(build, table)


def score_chunk(
    predictor: Predictor, table: pa.Table, start: int, dicoms: list[Path] | None, features: pa.Table | None = None
) -> pa.Table:
    from .imaging import image_from_file

    rows = table.to_pylist()
    images = (
        np.stack([image_from_file(p, predictor.image) for p in dicoms[start : start + len(rows)]])
        if dicoms and predictor.image
        else None
    )
    if features is not None:  # as of each row's time, from the offline path
        preds = predictor.predict_features(features.slice(start, len(rows)).to_pylist(), images)
    else:  # as of now: the online store's latest row per entity
        preds = predictor.predict_batch(rows, images)
    entity = predictor.serving["entity"]
    columns = {
        "row": pa.array(np.arange(start, start + len(rows)), pa.int64()),
        entity: pa.array([None if r.get(entity) is None else str(r.get(entity)) for r in rows], pa.string()),
        "prediction": pa.array([p.prediction for p in preds]),
        "probability": pa.array([p.probability for p in preds], pa.float64()),
    }
    for label in predictor.classes or []:  # multiclass: a column per class, as predict_proba
        columns[f"probability_{label}"] = pa.array([(p.probabilities or {})[str(label)] for p in preds], pa.float64())
    columns["model_version"] = pa.array([predictor.model_version] * len(rows), pa.string())
    return pa.table(columns)


def run_batch(
    target: Path,
    pattern: str | None,
    output: Path | None,
    chunk_rows: int | None = None,
    store_root: Path | None = None,
) -> dict[str, Any]:
    """Score `pattern` into `output`; either defaults to the spec's `serving.batch`
    (input relative to the spec's folder, output inside the build folder)."""
    from .predictor import read_serve_config

    serve, root = read_serve_config(target)
    batch = serve["batch"]
    if pattern is None:
        if not batch.get("input"):
            raise UserError("--input: required (the spec sets no serving.batch.input)")
        pattern = batch["input"] if "://" in batch["input"] else str(target / batch["input"])
    if output is None:
        output = target / batch["output"]
    chunk_rows = int(chunk_rows or batch["chunk_rows"])
    predictor = Predictor(target, store_root or root)
    try:
        files = input_files(pattern)
        table, dicoms = read_input(files, predictor)
        features = batch_features(predictor, table, root, dicoms)
        say(
            "predict: features as of each row's event time (the training SQL over the build's snapshots)"
            if features is not None
            else "predict: store features as of now (the online store's latest row per entity)"
        )
        run_id = run_fingerprint(files, predictor, chunk_rows)
        with exclusive(output):
            done = done_chunks(output, run_id)
            total = (table.num_rows + chunk_rows - 1) // chunk_rows
            written = 0
            for c in range(total):
                if c in done:
                    continue
                start = c * chunk_rows
                write_parquet(
                    output / f"part-{c:06d}.parquet",
                    score_chunk(predictor, table.slice(start, chunk_rows), start, dicoms, features),
                )
                done.add(c)
                written += 1
                write_json(
                    output / MANIFEST,
                    {
                        "run": run_id,
                        "chunks": total,
                        "rows": table.num_rows,
                        "done": sorted(done),
                        "complete": len(done) == total,
                    },
                )
            if total == 0:
                write_json(output / MANIFEST, {"run": run_id, "chunks": 0, "rows": 0, "done": [], "complete": True})
    finally:
        predictor.close()
    say(
        f"predict: {table.num_rows} rows in {total} chunks ({written} scored now, {total - written} already done) -> {output}"
    )
    return {"rows": table.num_rows, "chunks": total, "written": written}
