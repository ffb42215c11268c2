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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlwright.contract.serve import Batch, ServeParams
from mlwright.runtime.atomic import write_json, write_parquet
from mlwright.runtime.compute import Compute, compute_of, open_engine
from mlwright.runtime.context import GateFailed, UserError, say
from mlwright.runtime.models.bundle import DicomColumns
from mlwright.runtime.serving.batch_contract import PROBLEM, missing_inputs, refuse_if_any, row_problems, summary
from mlwright.runtime.serving.predictor import Predictor
from mlwright.runtime.serving.serve import fingerprint

MANIFEST = "_chunks.json"


def input_files(pattern: str, flag: str = "--input") -> list[Path]:
    files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    if not files:
        raise UserError(f"{flag}: no files match {pattern}")
    return files


def read_input(files: list[Path], predictor: Predictor) -> tuple[pa.Table, list[Path] | None]:
    """Tabular files -> one table; DICOM files -> their header rows plus the file list."""
    from mlwright.runtime.data.sources import apply_rename, cast_declared, concat, read_table_file

    suffixes = {f.suffix.lower() for f in files}
    if suffixes <= {".dcm", ".dicom"} or (suffixes and predictor.image):
        from mlwright.runtime.data.dicom import read_dicom_source

        meta = predictor.serving.dicom_metadata or DicomColumns(columns={}, metadata={})
        table = read_dicom_source([(f, str(f)) for f in files], meta.metadata)
        return cast_declared(table, meta.columns), files
    tables = [read_table_file(f) for f in files]
    types = {k: v for k, v in predictor.serving.inputs.items() if v != "image"}
    table = apply_rename(concat(tables), predictor.serving.rename, "input", strict=False)
    return cast_declared(table, types), None


def run_fingerprint(files: list[Path], predictor: Predictor, settings: str) -> str:
    h = hashlib.sha256()
    for f in files:
        st = f.stat()
        h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(f"{fingerprint(predictor.folder)}|{settings}".encode())
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
    from mlwright.runtime.data.asof import can_compute, features_as_of

    if build is None or dicoms or predictor.image or not can_compute(build, table.column_names):
        return None
    return features_as_of(build, table)


def event_time(build: Path | None) -> str | None:
    from mlwright.runtime.data.asof import event_time_column

    return event_time_column(build) if build is not None else None


def score_chunk(
    predictor: Predictor,
    table: pa.Table,
    start: int,
    dicoms: list[Path] | None,
    features: pa.Table | None = None,
    problems: list[str | None] | None = None,
    pass_through: tuple[str, ...] = (),
) -> pa.Table:
    """One chunk's output: row number, entity, the declared pass-through columns, the
    score, and `problem` (why a row out of the input contract has no score). `features`
    are the chunk's rows' features as of their times (None: the online store's)."""
    from mlwright.runtime.data.imaging import image_from_file

    rows = table.to_pylist()
    images = (
        np.stack([image_from_file(p, predictor.image) for p in dicoms[start : start + len(rows)]])
        if dicoms and predictor.image
        else None
    )
    if features is not None:  # as of each row's time, from the offline path (the chunk's rows)
        preds = predictor.predict_features(features.to_pylist(), images)
    else:  # as of now: the online store's latest row per entity
        preds = predictor.predict_batch(rows, images)
    entity = predictor.serving.entity
    problems = problems if problems is not None else [None] * len(rows)
    kept = [p is None for p in problems]
    columns = {
        "row": pa.array(np.arange(start, start + len(rows)), pa.int64()),
        entity: pa.array([None if r.get(entity) is None else str(r.get(entity)) for r in rows], pa.string()),
        **{name: table.column(name) for name in pass_through},
        "prediction": pa.array([p.prediction if k else None for p, k in zip(preds, kept, strict=True)]),
        "probability": pa.array([p.probability if k else None for p, k in zip(preds, kept, strict=True)], pa.float64()),
    }
    for label in predictor.classes or []:  # multiclass: a column per class, as predict_proba
        columns[f"probability_{label}"] = pa.array(
            [(p.probabilities or {})[str(label)] if k else None for p, k in zip(preds, kept, strict=True)],
            pa.float64(),
        )
    columns["model_version"] = pa.array([predictor.model_version] * len(rows), pa.string())
    columns[PROBLEM] = pa.array(problems, pa.string())
    return pa.table(columns)


def checked_rows(serve: ServeParams, table: pa.Table, event_time: str | None, batch: Batch) -> list[str | None]:
    """Each row's breach of the endpoint's input contract (None where it holds); the
    whole batch refused where an input or pass-through column is absent, or where
    the spec says `out_of_contract: refuse` and any row breaks it."""
    # on the as-of path an input computed by the feature SQL need not be in the batch
    inputs = {k: v for k, v in serve.inputs.items() if k in table.column_names or event_time is None}
    entity = serve.entity
    if entity in batch.pass_through or PROBLEM in batch.pass_through:
        raise UserError(f"--pass-through: {entity!r} and {PROBLEM!r} are written beside every score already")
    absent = missing_inputs(table, inputs) + sorted(set(batch.pass_through) - set(table.column_names))
    if absent:
        raise UserError(f"--input: lacks column(s) {', '.join(absent)} (request inputs and serving.batch.pass_through)")
    required = (event_time,) if event_time else ()
    problems = row_problems(table, inputs, serve.input_constraints, required)
    refuse_if_any(problems, batch.out_of_contract)
    if any(p is not None for p in problems):
        say(f"predict: {summary(problems)}")
    return problems


@dataclass(frozen=True)
class ChunkJob:
    """One chunk to score: plain values, so a Dask worker scores it as this process would."""

    folder: str  # the model bundle, loaded once per worker
    model: str  # the bundle's content fingerprint: a long-lived worker never scores with a replaced model
    store_root: str | None
    chunk: int
    table: pa.Table  # this chunk's rows
    start: int  # its first row's number in the whole input
    dicoms: list[str] | None  # every input file, for image rows
    features: pa.Table | None  # this chunk's rows' as-of features
    problems: list[str | None]
    pass_through: tuple[str, ...]

    @property
    def predictor_key(self) -> tuple[str, str, str | None]:
        return (self.folder, self.model, self.store_root)


# Loaded models by (bundle, its fingerprint, store folder): a worker process loads each
# once, however many chunks it scores, and again when the bundle at that path changed;
# the local engine hands in the one this process already has.
_PREDICTORS: dict[tuple[str, str, str | None], Predictor] = {}


def scored_chunk(job: ChunkJob) -> tuple[int, pa.Table]:
    predictor = _PREDICTORS.get(job.predictor_key)
    if predictor is None:
        predictor = Predictor(Path(job.folder), Path(job.store_root) if job.store_root else None)
        _PREDICTORS[job.predictor_key] = predictor
    dicoms = [Path(d) for d in job.dicoms] if job.dicoms else None
    return job.chunk, score_chunk(predictor, job.table, job.start, dicoms, job.features, job.problems, job.pass_through)


def batch_compute(build: Path | None) -> Compute:
    """The build's `compute` section; a packaged app scores in its own process."""
    if build is None or not (build / "params.yaml").is_file():
        return Compute()
    from mlwright.runtime.context import load_context

    return compute_of(load_context(build))


@dataclass(frozen=True)
class BatchOptions:
    """Command-line choices that override the spec's `serving.batch` for one run."""

    pass_through: tuple[str, ...] | None = None
    out_of_contract: str | None = None


def run_batch(
    target: Path,
    pattern: str | None,
    output: Path | None,
    chunk_rows: int | None = None,
    store_root: Path | None = None,
    options: BatchOptions = BatchOptions(),
) -> dict[str, Any]:
    """Score `pattern` into `output`; either defaults to the spec's `serving.batch`
    (input relative to the spec's folder, output inside the build folder)."""
    from mlwright.runtime.serving.predictor import read_serve_config

    serve, root = read_serve_config(target)
    batch = serve.batch.model_copy(
        update={
            **({"pass_through": tuple(options.pass_through)} if options.pass_through is not None else {}),
            **({"out_of_contract": options.out_of_contract} if options.out_of_contract else {}),
        }
    )
    if pattern is None:
        if not batch.input:
            raise UserError("--input: required (the spec sets no serving.batch.input)")
        pattern = batch.input if "://" in batch.input else str(target / batch.input)
    if output is None:
        output = target / batch.output
    chunk_rows = int(chunk_rows or batch.chunk_rows)
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
        problems = checked_rows(serve, table, event_time(root) if features is not None else None, batch)
        pass_through = tuple(batch.pass_through)
        run_id = run_fingerprint(files, predictor, f"{chunk_rows}|{batch.out_of_contract}|{pass_through}")
        with exclusive(output):
            done = done_chunks(output, run_id)
            total = (table.num_rows + chunk_rows - 1) // chunk_rows
            store_folder = store_root or root
            model = fingerprint(predictor.folder)
            jobs = [
                ChunkJob(  # absolute paths: a worker runs in its own folder
                    str(predictor.folder.resolve()),
                    model,
                    str(store_folder.resolve()) if store_folder else None,
                    c,
                    table.slice(c * chunk_rows, chunk_rows),
                    c * chunk_rows,
                    [str(d.resolve()) for d in dicoms] if dicoms else None,
                    features.slice(c * chunk_rows, chunk_rows) if features is not None else None,
                    problems[c * chunk_rows : (c + 1) * chunk_rows],
                    pass_through,
                )
                for c in range(total)
                if c not in done
            ]
            written = scored_into(Progress(output, run_id, total, table.num_rows, done), jobs, predictor, root)
    finally:
        predictor.close()
    say(
        f"predict: {table.num_rows} rows in {total} chunks ({written} scored now, {total - written} already done) -> {output}"
    )
    return {"rows": table.num_rows, "chunks": total, "written": written}


@dataclass
class Progress:
    """The run's record in the output folder: which chunks are in place. The driver alone
    writes it, after each chunk's file: a killed run resumes with every row scored once."""

    output: Path
    run: str
    chunks: int
    rows: int
    done: set[int]

    def record(self, chunk: int | None = None) -> None:
        if chunk is not None:
            self.done.add(chunk)
        body = {
            "run": self.run,
            "chunks": self.chunks,
            "rows": self.rows,
            "done": sorted(self.done),
            "complete": len(self.done) == self.chunks,
        }
        write_json(self.output / MANIFEST, body)


def scored_into(progress: Progress, jobs: list[ChunkJob], predictor: Predictor, root: Path | None) -> int:
    """Score the jobs on the build's engine, each chunk written as it completes; how many were."""
    written = 0
    with open_engine(batch_compute(root), "predict") as engine:
        if engine.name == "local":  # this process scores: the predictor it already loaded
            _PREDICTORS[jobs[0].predictor_key if jobs else ("", "", None)] = predictor
        try:
            for _, (c, scored) in engine.completed(scored_chunk, jobs, "chunk"):
                write_parquet(progress.output / f"part-{c:06d}.parquet", scored)
                progress.record(c)
                written += 1
        finally:
            _PREDICTORS.clear()
    if progress.chunks == 0:
        progress.record()
    return written
