"""Stage 4: point-in-time correctness against a brute-force reference; idempotent online store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlwright.runtime.stages import featurize, ingest
from mlwright.runtime.stages.featurize import load_offline, online_rows
from mlwright.runtime.stores.online_store import open_store

from .stage_helpers import churn_build


def test_windowed_features_never_see_the_future(tmp_path: Path) -> None:
    ctx = churn_build(tmp_path, rows=400)
    data = ctx.source_root() / "data"
    events = pd.read_csv(data / "events.csv", parse_dates=["event_time"])
    target = events.iloc[200]
    t = target["event_time"].to_pydatetime()
    planted = pa.table(
        {
            "customer_id": [target["customer_id"], target["customer_id"]],
            "paid_at": pa.array([t + timedelta(seconds=1), t - timedelta(seconds=1)], pa.timestamp("us")),
            "amount": [1_000_000.0, 7.0],
        }
    )
    pq.write_table(planted, data / "payments" / "part-9999.parquet")
    ingest.run(ctx)
    featurize.run(ctx)
    table, _meta = load_offline(ctx.root, "features/offline")
    got = table.to_pandas()
    payments = pd.concat([pd.read_parquet(p) for p in sorted((data / "payments").glob("*.parquet"))])
    # brute force: every event, every payment
    window = pd.Timedelta(days=90)
    want_spend, want_count = [], []
    for _, ev in got.iterrows():
        p = payments[
            (payments.customer_id == ev.customer_id)
            & (payments.paid_at < ev.event_time)
            & (payments.paid_at >= ev.event_time - window)
        ]
        want_spend.append(p.amount.sum() if len(p) else None)
        want_count.append(len(p))
    assert list(got.payments_90d) == want_count
    for g, w in zip(got.spend_90d, want_spend, strict=True):
        assert (pd.isna(g) and w is None) or abs(g - w) < 1e-6
    row = got[(got.customer_id == target["customer_id"]) & (got.event_time == target["event_time"])].iloc[0]
    assert row.spend_90d < 1_000_000 and row.spend_90d >= 7.0
    assert (got.fee_per_ticket - got.monthly_fee / (got.support_tickets + 1)).abs().max() < 1e-12


def test_materialisation_is_idempotent_and_matches_latest_offline(tmp_path: Path) -> None:
    ctx = churn_build(tmp_path, rows=600)
    ingest.run(ctx)
    featurize.run(ctx)
    table, _ = load_offline(ctx.root, "features/offline")
    cfg = ctx.params.featurize
    latest = online_rows(table, cfg.entity, cfg.timestamp, featurize.feature_names(cfg))
    assert featurize.materialize(ctx, latest) == 0
    store = open_store(cfg.online, ctx.root, "churn")
    got = store.get([e for e, _, _ in latest])
    store.close()
    mismatches = sum(g != want for g, (_, _, want) in zip(got, latest, strict=True))
    assert mismatches == 0 and len(latest) > 50


def test_corrupt_online_store_is_rebuilt(tmp_path: Path) -> None:
    ctx = churn_build(tmp_path, rows=300)
    ingest.run(ctx)
    featurize.run(ctx)
    ctx.path("features/online.sqlite").write_bytes(b"garbage" * 1000)
    featurize.run(ctx)
    store = open_store(ctx.params.featurize.online, ctx.root, "churn")
    assert store.count() > 0
    store.close()


def test_an_online_store_setting_does_not_change_what_the_features_are(tmp_path: Path) -> None:
    """The offline table's metadata (and so training's inputs) stays the same when only
    the online store changes; a feature's definition changes it."""
    from .stage_helpers import recompile

    ctx = churn_build(tmp_path, rows=200)
    before = featurize.feature_set_hash(ctx)
    assert featurize.feature_set_hash(recompile(ctx, "features.store.online.ttl=7d")) == before
    assert featurize.feature_set_hash(recompile(ctx, "features.store.online.path=features/store.db")) == before
    sql = ctx.path("features.sql")
    sql.write_text(sql.read_text().replace("90", "30"))  # a window of 30 days, not 90
    assert featurize.feature_set_hash(ctx) != before
