"""`compute:` (#18): the same bytes on any engine and any bucket count.

features.sql runs once per entity bucket (the local engine in this process, the Dask
engine on a LocalCluster of worker processes); the merged table must equal one run
over the whole snapshots with `pyarrow.Table.equals` (values, types and row order),
on uneven and empty buckets, with rows that share an entity and a time, and with
missing entities and times. One run over whole snapshots is computed here the way
batch scoring registers them (Arrow tables with their ordinal), so training and
scoring are held to the same types too.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlwright.contract.compute import ComputeParams
from mlwright.runtime.compute import Compute, LocalEngine, open_engine
from mlwright.runtime.context import GateFailed, StageContext, UserError
from mlwright.runtime.serving.predict import run_batch
from mlwright.runtime.stages import featurize, ingest, register, train, validate
from mlwright.runtime.stages.featurize import ORDINAL, SPINE, bucket_predicate, training_table, with_ordinal
from mlwright.runtime.stages.ingest import read_snapshot
from mlwright.runtime.stages.train import final_fit, prepare

from .stage_helpers import churn_build, recompile


def one_run(ctx: StageContext) -> pa.Table:
    """features.sql over whole snapshots registered as Arrow tables: no buckets at all."""
    cfg = ctx.params.featurize
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    for s in ctx.params.ingest.sources:
        snapshot = with_ordinal(read_snapshot(ctx, s.name))
        con.register(s.name, snapshot)
        if s.name == cfg.label_source:
            con.register(SPINE, snapshot)
    table = con.sql(ctx.path(cfg.sql).read_text()).to_arrow_table()
    con.close()
    return table.drop_columns([ORDINAL])


def with_buckets(
    ctx: StageContext, buckets: int, engine: str = "local", distributed_fit_rows: int | None = None
) -> StageContext:
    compute = {"engine": engine, "buckets": buckets, "workers": 2, "threads_per_worker": 1}
    if distributed_fit_rows is not None:
        compute["distributed_fit_rows"] = distributed_fit_rows
    return StageContext(
        ctx.root, ctx.params.model_copy(update={"compute": ctx.params.compute.model_copy(update=compute)})
    )


@pytest.fixture(scope="module")
def tricky(tmp_path_factory: pytest.TempPathFactory) -> StageContext:
    """Churn data with ties (same customer and time, different labels), a missing
    customer id and a missing event time planted in the label source."""
    ctx = churn_build(tmp_path_factory.mktemp("compute"), rows=900)
    events_csv = ctx.source_root() / "data" / "events.csv"
    events = pd.read_csv(events_csv, dtype=str, keep_default_na=False)
    ties = events.iloc[[10, 10, 11, 11, 11]].copy()
    ties["churned"] = ["0", "1", "1", "0", "1"]
    gaps = events.iloc[[20, 21]].copy()
    gaps.loc[gaps.index[0], "customer_id"] = ""
    gaps.loc[gaps.index[1], "event_time"] = ""
    pd.concat([events, ties, gaps]).to_csv(events_csv, index=False)
    ingest.run(ctx)
    return ctx


def test_one_bucket_equals_one_run_over_whole_snapshots(tricky: StageContext) -> None:
    got = training_table(tricky, LocalEngine()).table
    want = one_run(tricky)
    assert got.schema == want.schema
    assert got.equals(want)
    assert got.num_rows == 900 + 7


@pytest.mark.parametrize("buckets", [3, 16, 257])
def test_local_buckets_equal_one_run(tricky: StageContext, buckets: int) -> None:
    want = one_run(tricky)
    got = training_table(with_buckets(tricky, buckets), LocalEngine())
    assert got.table.equals(want), f"{buckets} buckets"
    reference = training_table(tricky, LocalEngine())
    assert got.latest == reference.latest


def test_buckets_are_uneven_and_some_empty(tricky: StageContext) -> None:
    """What the equivalence above ran on: md5 buckets of the real ids are uneven, and
    257 buckets for ~120 customers leave most of them empty."""
    con = duckdb.connect()
    ids = pa.table({"customer_id": read_snapshot(tricky, "events").column("customer_id")})
    con.register("ids", ids)
    sizes = Counter(
        b
        for b in range(16)
        for _ in range(
            con.execute(f"SELECT count(*) FROM ids WHERE {bucket_predicate('customer_id', b, 16)}").fetchone()[0]  # type: ignore[index]
        )
    )
    assert sum(sizes.values()) == ids.num_rows
    assert max(sizes.values()) > 1.5 * min(sizes.values())
    used = con.execute(
        "SELECT count(DISTINCT COALESCE(md5_number(CAST(customer_id AS VARCHAR)) % 257, 0)) FROM ids"
    ).fetchone()
    assert used is not None and used[0] < 200


def test_dask_local_cluster_equals_one_run(tricky: StageContext) -> None:
    want = one_run(tricky)
    ctx = with_buckets(tricky, 5, engine="dask")
    with open_engine(Compute.from_params(ctx.params.compute), "featurize") as engine:
        assert engine.name == "dask"
        got = training_table(ctx, engine)
    assert got.table.equals(want)
    assert got.latest == training_table(tricky, LocalEngine()).latest


def validation_report(ctx: StageContext) -> dict[str, object]:
    """validate's report as written, whether its gate passed or not (the tricky rows fail it)."""
    with contextlib.suppress(GateFailed):
        validate.run(ctx)
    report: dict[str, object] = json.loads(ctx.path("reports/validation.json").read_text())
    return report


def test_validate_on_dask_writes_the_same_report_as_one_process(tricky: StageContext) -> None:
    """#18 item 6: the snapshots in five row ranges on a LocalCluster, against a reference
    (the same version's profile, so layer B runs): the same report, every p-value and
    histogram included."""
    first = validation_report(tricky)
    folder = tricky.path(f".mlwright/reference/{first['dataset_version']}")
    if not folder.is_dir():  # a failed gate accepts nothing: save this version's profile as the reference
        validate.save_profile(
            folder.parent,
            str(first["dataset_version"]),
            validate.build_profile(
                {s.name: read_snapshot(tricky, s.name) for s in tricky.params.ingest.sources}, tricky.params.validate_
            ),
        )

    median_fee = float(np.median(read_snapshot(tricky, "events").column("monthly_fee").to_numpy()))

    def against_itself(ctx: StageContext) -> StageContext:
        cfg = ctx.params.validate_
        checks = cfg.distribution.model_copy(update={"reference": str(folder.relative_to(ctx.root))})
        # half the fees above the limit: a failure in every part, its counts and examples added up
        fees = cfg.schema_["events"]["monthly_fee"].model_copy(update={"max": median_fee})
        schema = {**cfg.schema_, "events": {**cfg.schema_["events"], "monthly_fee": fees}}
        update = {"validate_": cfg.model_copy(update={"distribution": checks, "schema_": schema})}
        return StageContext(ctx.root, ctx.params.model_copy(update=update))

    one = validation_report(against_itself(tricky))
    two = validation_report(against_itself(with_buckets(tricky, 5, engine="dask")))
    assert one == two
    layer_b = [e for e in one["expectations"] if e["layer"] == "distribution"]  # type: ignore[union-attr]
    assert layer_b and all(e["status"] == "passed" for e in layer_b)
    fee = next(e for e in one["expectations"] if e["id"] == "schema.events.monthly_fee.range")  # type: ignore[union-attr]
    assert fee["status"] == "failed" and fee["observed"]["count"] >= 400 and len(fee["examples"]) == 20


def test_two_local_featurize_runs_write_the_same_bytes(tricky: StageContext) -> None:
    ctx = with_buckets(tricky, 4)
    featurize.run(ctx)
    first = {p.name: p.read_bytes() for p in sorted(ctx.path("features/offline").iterdir())}
    featurize.run(ctx)
    second = {p.name: p.read_bytes() for p in sorted(ctx.path("features/offline").iterdir())}
    assert first == second


def test_an_offline_part_is_the_same_bytes_however_the_table_is_chunked(tmp_path: Path) -> None:
    """250k distinct times: the writer abandons the column's dictionary part-way, at a
    point that follows the chunks unless the part is written as one."""
    n = 250_000
    table = pa.table(
        {
            "ts": pa.array(np.arange(n, dtype=np.int64) * 1_000_003, pa.timestamp("us")),
            "id": pa.array([f"C{i:07d}" for i in range(n)]),
        }
    )
    digests = set()
    for size in (n, 122_880, 2048):
        chunked = pa.Table.from_batches(table.to_batches(max_chunksize=size))
        featurize.write_part(chunked, tmp_path / f"{size}.parquet")
        digests.add((tmp_path / f"{size}.parquet").read_bytes())
    assert len(digests) == 1


def test_an_unreachable_scheduler_is_one_line_naming_the_setting(tricky: StageContext) -> None:
    compute = Compute.from_params(
        tricky.params.compute.model_copy(update={"engine": "dask", "scheduler": "tcp://127.0.0.1:9"})
    )
    want = r"^compute.scheduler: cannot reach the Dask scheduler at tcp://127.0.0.1:9"
    with pytest.raises(UserError, match=want), open_engine(compute, "featurize"):
        pass


def _keys_of(item: int, a: dict[str, int], b: dict[str, int]) -> tuple[int, int, int]:
    return item, a["k"], b["k"]


def _tripled(item: int) -> list[int]:
    return [item] * 3


def test_shared_dicts_stay_apart_and_kept_results_feed_later_rounds() -> None:
    """`share` of two dicts with a key in common: Dask scatters a bare dict value by value
    under its own keys, so the second overwrote the first (the monitor's reference
    profile and its grids, both keyed by feature). `keep` leaves results on the workers
    for several rounds."""
    compute = Compute(engine="dask", scheduler="local", workers=2, threads_per_worker=1)
    with open_engine(compute, "test") as engine:
        a, b = engine.share({"k": 1}), engine.share({"k": 2})
        assert engine.map(_keys_of, [7, 8], "shared", a=a, b=b) == [(7, 1, 2), (8, 1, 2)]
        kept = engine.keep(_tripled, [1, 2, 3], "kept")
        assert engine.map(len, kept, "first") == [3, 3, 3]
        assert engine.map(sum, kept, "second") == [3, 6, 9]
        with pytest.raises(UserError, match="part 2 is damaged"):  # the task's error, not "cancelled"
            engine.keep(_damaged, [1, 2, 3], "damaged")


def _damaged(item: int) -> int:
    if item == 2:
        raise UserError("part 2 is damaged")
    return item


def test_the_scheduler_is_read_from_the_environment_when_the_stage_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    section = ComputeParams(
        **{
            "engine": "dask",
            "scheduler": "${oc.env:MLWRIGHT_DASK_SCHEDULER,local}",
            "workers": 2,
            "threads_per_worker": 1,
            "memory_limit": "auto",
            "partition_by": "entity",
            "buckets": 4,
            "distributed_fit_rows": 10,
        }
    )
    assert Compute.from_params(section).scheduler == "local"
    monkeypatch.setenv("MLWRIGHT_DASK_SCHEDULER", "tcp://10.0.0.5:8786")
    assert Compute.from_params(section).scheduler == "tcp://10.0.0.5:8786"
    monkeypatch.setenv("MLWRIGHT_DASK_SCHEDULER", "10.0.0.5:8786")
    refused = pytest.raises(UserError, match=r"compute.scheduler: '10.0.0.5:8786' is not a scheduler address")
    with refused, open_engine(Compute.from_params(section), "featurize"):
        pass


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> StageContext:
    ctx = churn_build(tmp_path_factory.mktemp("trained"), "training.hpo.trials=16", "training.cv.folds=4", rows=1200)
    for stage in (ingest, validate, featurize, train, register):
        stage.run(ctx)
    return ctx


def test_cv_folds_on_dask_take_the_same_search_path(trained: StageContext) -> None:
    """Folds fitted in parallel on workers, reported to the pruner in fold order: the
    same trials pruned at the same fold, the same best parameters, the same model."""
    local = json.loads(trained.path("reports/metrics.json").read_text())
    train.run(with_buckets(trained, 1, engine="dask"))
    dask = json.loads(trained.path("reports/metrics.json").read_text())
    assert local["search"]["pruned"] > 0, "the comparison covers pruning"
    for key in ("search", "params", "threshold", "validation", "test", "feature_importance"):
        assert dask[key] == local[key], key


def scored(folder: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted(folder.glob("part-*.parquet"))]).reset_index(drop=True)


def test_batch_scores_on_dask_equal_one_process(trained: StageContext, tmp_path: Path) -> None:
    batch = trained.source_root() / "data" / "score" / "batch-000.parquet"
    run_batch(trained.root, str(batch), tmp_path / "local", 37)
    recompile(trained, "compute.engine=dask", "compute.partitions.buckets=3")
    try:
        run_batch(trained.root, str(batch), tmp_path / "dask", 37)
    finally:
        recompile(trained)
    local, dask = scored(tmp_path / "local"), scored(tmp_path / "dask")
    assert len(local) == pq.read_metadata(batch).num_rows and len(local) > 5 * 37
    assert np.array_equal(local["probability"].to_numpy(), dask["probability"].to_numpy(), equal_nan=True)
    pd.testing.assert_frame_equal(local, dask)


def test_kill_9_of_a_distributed_predict_then_resume_scores_every_row_once(
    trained: StageContext, tmp_path: Path
) -> None:
    score = pq.read_table(trained.source_root() / "data" / "score" / "batch-000.parquet")
    rows = 60_000
    big = pa.concat_tables([score] * (rows // score.num_rows + 1)).slice(0, rows)
    big = big.set_column(0, "customer_id", pa.array([f"K{i:07d}" for i in range(rows)]))
    pq.write_table(big, tmp_path / "big.parquet")
    recompile(trained, "compute.engine=dask", "compute.workers=2")
    out = tmp_path / "scored"
    cmd = [sys.executable, "-m", "mlwright", "predict", str(trained.root), "--input", str(tmp_path / "big.parquet")]
    try:
        proc = subprocess.Popen(
            [*cmd, "--output", str(out), "--chunk-rows", "2000"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert proc.stdout is not None
        for line in proc.stdout:  # kill once the cluster has scored some chunks, not all
            if b"chunk" in line and b"done" in line:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        partial = json.loads((out / "_chunks.json").read_text())
        assert 0 < len(partial["done"]) < partial["chunks"], partial
        resumed = subprocess.run([*cmd, "--output", str(out), "--chunk-rows", "2000"], capture_output=True, text=True)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    finally:
        recompile(trained)
    run_batch(trained.root, str(tmp_path / "big.parquet"), tmp_path / "clean", 2000)
    got, want = scored(out), scored(tmp_path / "clean")
    assert len(got) == rows and got["row"].is_unique and got["customer_id"].is_unique
    pd.testing.assert_frame_equal(got, want)


@pytest.fixture(scope="module")
def larger(tmp_path_factory: pytest.TempPathFactory) -> StageContext:
    """Enough rows that a worker's half of them bins each feature as the whole does."""
    ctx = churn_build(tmp_path_factory.mktemp("larger"), rows=ROWS_FOR_DISTRIBUTED_FIT)
    for stage in (ingest, validate, featurize):
        stage.run(ctx)
    return ctx


ROWS_FOR_DISTRIBUTED_FIT = 30_000


def test_a_final_fit_above_the_row_threshold_runs_in_lightgbm_dask(larger: StageContext) -> None:
    """Above `compute.distributed_fit_rows` the final fit is data-parallel across the
    workers, with the rounds CV's early stopping chose: within 0.002 ROC-AUC of one
    process fitting the same rows with the same rounds, and register's re-run (a second
    distributed fit, on a new LocalCluster) reproduces it, so the model is registered."""
    ctx = with_buckets(larger, 1, engine="dask", distributed_fit_rows=1000)
    report = train.run(ctx)
    assert report["final_fit"] == "lightgbm.dask"
    assert report["params"]["early_stopping_rounds"] == 0
    assert report["params"]["n_estimators"] == report["search"]["cv_iterations"] > 0
    p = prepare(ctx)
    _, one_process = final_fit(ctx.params.train, p, report["params"])
    assert abs(report["test"]["roc_auc"] - one_process["test"]["roc_auc"]) <= 0.002
    for _ in range(2):
        registered = register.run(ctx)
        assert registered["reproduced"] is True, registered["differences"]


def test_a_worker_scores_with_the_bundle_as_it_is_now_not_a_cached_older_one(trained: StageContext) -> None:
    """A long-lived worker keeps loaded models; a bundle replaced at the same path (a new
    registration) has another fingerprint, so the worker loads it instead of reusing."""
    from mlwright.runtime.serving import predict as predict_module
    from mlwright.runtime.serving.serve import fingerprint

    folder = (trained.root / "models" / "registered").resolve()
    batch = pq.read_table(trained.source_root() / "data" / "score" / "batch-000.parquet").slice(0, 5)
    stale = object()  # the model an earlier registration left in the worker: scoring with it would fail
    predict_module._PREDICTORS[(str(folder), "older-bundle", str(trained.root))] = stale  # type: ignore[assignment]
    job = predict_module.ChunkJob(
        str(folder), fingerprint(folder), str(trained.root), 0, batch, 0, None, None, [None] * 5, ()
    )
    try:
        chunk, scored = predict_module.scored_chunk(job)
        assert chunk == 0 and scored.num_rows == 5
        assert predict_module._PREDICTORS[job.predictor_key] is not stale
    finally:
        for p in predict_module._PREDICTORS.values():
            if p is not stale:
                p.close()
        predict_module._PREDICTORS.clear()
