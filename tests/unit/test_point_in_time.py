"""The training table equals a brute-force point-in-time join written in plain Python.

Generated sources: a label table with ties in (entity, time), an event table whose
time column is NOT named like spec.timestamp (the case that once joined every row of
an entity, future rows included), a dimension table of one row per entity, missing
values everywhere they are allowed. featurize must give, per label row and in a fixed
order: the event value as of the row's time (the last snapshot row among equal
times), the dimension value, and a trailing-window sum of strictly earlier events.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from mlwright.compiler import SpecError, compile_system
from mlwright.compiler.write import write_tree
from mlwright.runtime.context import GateFailed, load_context
from mlwright.runtime.stages import featurize, ingest
from mlwright.runtime.stages.featurize import load_offline

T0 = datetime(2024, 1, 1)
WINDOW = timedelta(days=3)
SPEC = """\
name: pit
version: 0.1.0
spec:
  task: binary_classification
  target: y
  entity: who
  timestamp: ts
  inputs: [who, x]
  metric: {name: roc_auc}
data:
  sources:
    - {name: events, uri: data/events.parquet, format: parquet}
    - {name: prices, uri: data/prices.parquet, format: parquet, time_column: valid_from}
    - {name: people, uri: data/people.parquet, format: parquet}
expectations:
  schema:
    events:
      who: {type: string, nullable: false}
      ts: {type: timestamp, nullable: false}
      x: {type: float}
      y: {type: bool, nullable: false}
    prices:
      who: {type: string, nullable: false}
      valid_from: {type: timestamp, nullable: false}
      price: {type: float}
    people:
      who: {type: string, nullable: false, unique: true}
      attr: {type: string}
features:
  definitions:
    - {name: x, from: events, expr: x}
    - {name: price, from: prices, expr: price}
    - {name: attr, from: people, expr: attr}
    - {name: spend_3d, from: prices, expr: "sum(price)", window: 3d, time_column: valid_from}
"""

WHO = st.sampled_from(["a", "b", "c"])
HOUR = st.integers(min_value=0, max_value=24 * 8)  # a small range: many ties
VALUE = st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda v: round(v, 3)))
EVENTS = st.lists(st.tuples(WHO, HOUR, VALUE, st.booleans()), min_size=1, max_size=25)
PRICES = st.lists(st.tuples(WHO, HOUR, VALUE), min_size=0, max_size=30)
PEOPLE = st.dictionaries(WHO, st.one_of(st.none(), st.sampled_from(["p", "q"])), max_size=3)


def build(tmp: Path, events: list[Any], prices: list[Any], people: dict[str, Any]) -> Path:
    (tmp / "data").mkdir(parents=True, exist_ok=True)
    (tmp / "system.yaml").write_text(SPEC)
    ts = pa.timestamp("us")
    pq.write_table(
        pa.table(
            {
                "who": [e[0] for e in events],
                "ts": pa.array([T0 + timedelta(hours=e[1]) for e in events], ts),
                "x": pa.array([e[2] for e in events], pa.float64()),
                "y": [e[3] for e in events],
            }
        ),
        tmp / "data" / "events.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "who": pa.array([p[0] for p in prices], pa.string()),
                "valid_from": pa.array([T0 + timedelta(hours=p[1]) for p in prices], ts),
                "price": pa.array([p[2] for p in prices], pa.float64()),
            }
        ),
        tmp / "data" / "prices.parquet",
    )
    pq.write_table(
        pa.table({"who": pa.array(list(people), pa.string()), "attr": pa.array(list(people.values()), pa.string())}),
        tmp / "data" / "people.parquet",
    )
    compiled = compile_system(tmp / "system.yaml", ["training.tracking.uri=none"], tmp / "build")
    write_tree(compiled.files, compiled.out_dir)
    return compiled.out_dir


def brute_force(events: list[Any], prices: list[Any], people: dict[str, Any]) -> list[dict[str, Any]]:
    order = sorted(range(len(events)), key=lambda i: (events[i][1], events[i][0], i))
    rows = []
    for i in order:
        who, hour, x, _y = events[i]
        asof = [(p[1], k) for k, p in enumerate(prices) if p[0] == who and p[1] <= hour]
        price = prices[max(asof)[1]][2] if asof else None
        inside = [
            p[2]
            for p in prices
            if p[0] == who and p[1] < hour and T0 + timedelta(hours=p[1]) >= T0 + timedelta(hours=hour) - WINDOW
        ]
        present = [v for v in inside if v is not None]
        rows.append(
            {
                "who": who,
                "x": x,
                "price": price,
                "attr": people.get(who),
                "spend_3d": math.fsum(present) if present else None,
            }
        )
    return rows


def same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return bool(a == b)


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # each example is a compile + ingest + featurize: no slow shrinking
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=EVENTS, prices=PRICES, people=PEOPLE)
def test_training_table_equals_a_brute_force_point_in_time_join(
    tmp_path_factory: pytest.TempPathFactory, events: list[Any], prices: list[Any], people: dict[str, Any]
) -> None:
    build_dir = build(tmp_path_factory.mktemp("pit"), events, prices, people)
    ctx = load_context(build_dir)
    ingest.run(ctx)
    featurize.run(ctx)
    table, _meta = load_offline(ctx.root, "features/offline")
    got = table.select(["who", "x", "price", "attr", "spend_3d"]).to_pylist()
    want = brute_force(events, prices, people)
    assert len(got) == len(events), "the training table has exactly one row per label row"
    for g, w in zip(got, want, strict=True):
        assert all(same(g[k], w[k]) for k in w), (g, w)


def test_two_featurize_runs_give_the_same_bytes(tmp_path: Path) -> None:
    events = [("a", h % 50, float(h) / 7, h % 2 == 0) for h in range(300)]
    prices = [("a", h % 60, 1 / (h + 1) + 1e6, None) for h in range(2000)]
    prices = [(w, h, v) for w, h, v, _ in prices]
    ctx = load_context(build(tmp_path, events, prices, {"a": "p"}))
    ingest.run(ctx)
    featurize.run(ctx)
    first = (ctx.root / "features" / "offline" / "part-00000.parquet").read_bytes()
    featurize.run(ctx)
    assert (ctx.root / "features" / "offline" / "part-00000.parquet").read_bytes() == first


def test_a_dimension_table_with_two_rows_for_an_entity_is_refused(tmp_path: Path) -> None:
    build_dir = build(tmp_path, [("a", 1, 1.0, True), ("b", 2, 2.0, False)], [], {"a": "p", "b": "q"})
    pq.write_table(pa.table({"who": ["a", "a", "b"], "attr": ["p", "q", "q"]}), tmp_path / "data" / "people.parquet")
    ctx = load_context(build_dir)
    ingest.run(ctx)
    with pytest.raises(
        GateFailed, match=r"source 'people' has 1 entities with more than one row \(e.g. 'a' \(2 rows\)\)"
    ):
        featurize.run(ctx)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ("- {name: x, from: events, expr: x}", "- {name: who, from: events, expr: who}"),
            "'who' is the entity, the key every feature is joined on, not a feature",
        ),
        (
            (
                "    people:\n      who: {type: string, nullable: false, unique: true}\n",
                "    people:\n      pid: {type: string}\n",
            ),
            "source 'people' has no entity column 'who' to join its rows",
        ),
        (
            ("time_column: valid_from}\n    - {name: people", "time_column: paid}\n    - {name: people"),
            "unknown column 'paid' in source 'prices'",
        ),
    ],
)
def test_joins_that_cannot_be_point_in_time_do_not_compile(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    (tmp_path / "system.yaml").write_text(SPEC.replace(*edit))
    with pytest.raises(SpecError) as info:
        compile_system(tmp_path / "system.yaml", [], tmp_path / "build")
    assert message in info.value.render(), info.value.render()


def test_batch_features_as_of_each_rows_time_equal_the_training_features(tmp_path: Path) -> None:
    """The offline path for batches: the label rows themselves, scored as a batch in
    another order, get exactly their training features; a window over the label
    source itself still sees the training rows, not the batch."""
    from mlwright.runtime.data.asof import features_as_of

    events = [("a", h % 30, float(h), h % 3 == 0) for h in range(40)] + [("b", 5, None, True)]
    prices = [("a", h, float(h) / 3, None) for h in range(0, 60, 2)]
    prices = [(w, h, v) for w, h, v, _ in prices] + [("b", 1, 2.5)]
    spec = SPEC.replace(
        "    - {name: spend_3d,",
        "    - {name: seen_3d, from: events, expr: 'count(*)', window: 3d, time_column: ts}\n    - {name: spend_3d,",
    )
    build_dir = build(tmp_path, events, prices, {"a": "p", "b": None})
    (tmp_path / "system.yaml").write_text(spec)
    compiled = compile_system(tmp_path / "system.yaml", ["training.tracking.uri=none"], build_dir)
    write_tree(compiled.files, compiled.out_dir)
    ctx = load_context(build_dir)
    ingest.run(ctx)
    featurize.run(ctx)
    table, _meta = load_offline(ctx.root, "features/offline")
    snapshot = pq.read_table(build_dir / "data" / "snapshots" / "events.parquet")
    shuffled = snapshot.take(pa.array(list(range(snapshot.num_rows))[::-1]))  # a batch in another order
    got = features_as_of(build_dir, shuffled.drop_columns(["y"]))
    names = ["who", "ts", "x", "price", "attr", "seen_3d", "spend_3d"]
    want = {(r["who"], r["ts"], r["x"]): r for r in table.select(names).to_pylist()}
    assert got.column("x").to_pylist() == shuffled.column("x").to_pylist(), "rows come back in the batch's order"
    for row in got.select(names).to_pylist():
        assert row == want[(row["who"], row["ts"], row["x"])]
