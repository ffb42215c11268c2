"""Features of a batch as of each row's own event time: the offline path.

Batch scoring and monitoring of rows that carry an event time must not take the
entity's latest online-store row (that is "as of now", right for the endpoint):
a window feature of an October row would then count December's payments. Here the
compiled `features.sql` runs again, with the batch in place of the label source and
the build's verified snapshots as every other source, so a scored row gets exactly
the features a training row at that time got. Rows without an event time, or a
folder without snapshots (a packaged image), keep the online-store path; `predict`
says which one it used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwright.contract.featurize import FeaturizeParams
from mlwright.runtime.context import UserError, load_context
from mlwright.runtime.stages.featurize import ORDINAL, SPINE, with_ordinal
from mlwright.runtime.stages.ingest import VERSION, read_snapshot


def can_compute(build: Path, columns: list[str]) -> bool:
    """A compiled build folder with snapshots, and a batch that carries the event time."""
    if not (build / "params.yaml").is_file() or not (build / VERSION).is_file():
        return False
    cfg = load_context(build).params.featurize
    return bool(cfg.timestamp) and cfg.timestamp in columns and (build / cfg.sql).is_file()


def event_time_column(build: Path) -> str:
    """The column whose value is each row's "as of" time."""
    return str(load_context(build).params.featurize.timestamp)


def spine_columns(cfg: FeaturizeParams, label_source: str) -> set[str]:
    """The label source's columns the query reads from the batch: entity, time, and
    every column of a row feature computed from the label source."""
    rows = [f for f in cfg.row_features if f.source == label_source]
    return {cfg.entity, str(cfg.timestamp)} | {c for f in rows for c in f.columns}


def batch_as_label_source(batch: pa.Table, snapshot: pa.Table, needed: set[str]) -> pa.Table:
    """The batch shaped like the label source's snapshot: its columns cast to the
    snapshot's types, the target (and anything the query does not read) as nulls."""
    missing = sorted(c for c in needed if c not in batch.column_names)
    if missing:
        raise UserError(f"--input: lacks column(s) {', '.join(missing)}, which the features are computed from")
    columns = []
    for field in snapshot.schema:
        if field.name in batch.column_names and field.name in needed:
            # times as ingest reads them: sub-microsecond parts truncated, not refused
            safe = not pa.types.is_timestamp(field.type)
            try:
                columns.append(pc.cast(batch.column(field.name), field.type, safe=safe))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise UserError(f"--input: column {field.name} is not {field.type} ({exc})") from None
        else:
            columns.append(pa.nulls(batch.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=snapshot.schema)


def features_as_of(build: Path, batch: pa.Table) -> pa.Table:
    """One row of features per batch row, in the batch's order, as of each row's time."""
    import duckdb

    ctx = load_context(build)
    cfg = ctx.params.featurize
    label = cfg.label_source
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    try:
        for s in ctx.params.ingest.sources:
            snapshot = read_snapshot(ctx, s.name)
            con.register(s.name, with_ordinal(snapshot))  # windows and joins see the training data
            if s.name == label:  # the batch takes the label rows' place as the rows to compute
                con.register(SPINE, with_ordinal(batch_as_label_source(batch, snapshot, spine_columns(cfg, label))))
        table = con.sql(ctx.path(cfg.sql).read_text(encoding="utf-8")).to_arrow_table()
    except duckdb.Error as exc:
        raise UserError(f"features.sql over the batch failed in DuckDB: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    order = np.argsort(table.column(ORDINAL).to_numpy(), kind="stable")
    return table.take(pa.array(order)).drop_columns([ORDINAL])
