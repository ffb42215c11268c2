"""Point-in-time answers on a real table nobody here shaped (#15's acceptance).

vega_datasets' `stocks.csv`: monthly prices of five tickers, 2000-2010, GOOG only
from 2004 (gaps by entity). A regression over time, as a new user writes it, with a
second timed source under another time-column name: the same quotes as a market
table *published a month later* (`published_at`), the housing-table shape whose
plain entity join once joined every month with every month. The one change made to
the file is the one `validate` asks for: its dates ("Jan 1 2000") written as ISO 8601.

Asserted through the documented commands: training rows == label rows; the window
and as-of features equal a brute-force join in pandas; batch scores of the test rows
give the test metric; served == batch for the same row and time; an ambiguous label
join is refused and a unique one covers every row; the strongest simple baseline is
reported; drift is reported for the derived and joined features; the quotes without
their time column are refused on their data."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from ..conftest import free_port, run_cli, wait_http

pytestmark = pytest.mark.slow

SPEC = """\
name: stocks
version: 0.1.0
spec:
  task: regression
  target: price
  entity: symbol
  timestamp: date
  inputs: [symbol]
data:
  sources:
    - {name: prices, uri: data/prices.csv, format: csv}
    - {name: quotes, uri: data/quotes.csv, format: csv, time_column: published_at}
expectations:
  schema:
    prices:
      symbol: {type: category, nullable: false}
      date: {type: timestamp, nullable: false}
      price: {type: float, min: 0}
    quotes:
      symbol: {type: category, nullable: false}
      published_at: {type: timestamp, nullable: false}
      close: {type: float, min: 0}
features:
  definitions:
    - {name: month, from: prices, expr: "month(date)"}
    - {name: last_close, from: quotes, expr: close}
    - {name: avg_close_6m, from: quotes, expr: "avg(close)", window: 183d, time_column: published_at}
training:
  hpo: {trials: 3}
  params: {n_estimators: 200}
  tracking: {uri: none}
monitoring:
  covariate: {min_rows: 20}
"""


def stocks() -> pd.DataFrame:
    from vega_datasets import local_data

    df = local_data.stocks()  # the package's own parser reads "Jan 1 2000"
    return df[["symbol", "date", "price"]]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stocks") / "repo"
    (root / "stocks" / "data").mkdir(parents=True)
    prices = stocks()
    prices.to_csv(root / "stocks" / "data" / "prices.csv", index=False)
    quotes = prices.rename(columns={"date": "published_at", "price": "close"})
    quotes["published_at"] = quotes["published_at"] + pd.DateOffset(months=1)
    quotes.to_csv(root / "stocks" / "data" / "quotes.csv", index=False)
    (root / "stocks" / "system.yaml").write_text(SPEC)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


@pytest.fixture(scope="module")
def built(project: Path) -> Path:
    out = run_cli("compile", "stocks/system.yaml", cwd=project)
    assert out.returncode == 0, out.stderr
    run = run_cli("run", "build/stocks", "--quiet", cwd=project)
    assert run.returncode == 0, run.stdout + run.stderr
    return project / "build" / "stocks"


def brute_force(prices: pd.DataFrame) -> pd.DataFrame:
    """Per price row: the latest quote published at or before its date, and the mean of
    quotes published in the 183 days strictly before it, by plain loops."""
    quotes = prices.assign(published_at=prices.date + pd.DateOffset(months=1))
    rows = []
    for r in prices.itertuples():
        mine = quotes[quotes.symbol == r.symbol]
        asof = mine[mine.published_at <= r.date].sort_values("published_at")
        window = mine[(mine.published_at < r.date) & (mine.published_at >= r.date - pd.Timedelta(days=183))]
        rows.append(
            {
                "symbol": r.symbol,
                "date": r.date,
                "last_close": asof.price.iloc[-1] if len(asof) else None,
                "avg_close_6m": window.price.mean() if len(window) else None,
            }
        )
    return pd.DataFrame(rows)


def scored(project: Path, frame: pd.DataFrame, folder: Path) -> pd.DataFrame:
    frame.to_csv(folder.with_suffix(".csv"), index=False)
    out = run_cli(
        "predict", "build/stocks", "--input", str(folder.with_suffix(".csv")), "--output", str(folder), cwd=project
    )
    assert out.returncode == 0 and "as of each row's event time" in out.stdout, out.stdout + out.stderr
    return pd.read_parquet(folder).sort_values("row").reset_index(drop=True)


def test_training_rows_are_the_label_rows_with_point_in_time_features(built: Path) -> None:
    from mlwright.runtime.stages.featurize import load_offline

    table, _meta = load_offline(built, "features/offline")
    prices = stocks()
    assert table.num_rows == len(prices) == 560
    got = table.to_pandas()[["symbol", "date", "last_close", "avg_close_6m"]]
    want = brute_force(prices)
    merged = got.merge(want, on=["symbol", "date"], suffixes=("", "_want"), validate="one_to_one")
    assert len(merged) == 560
    for col in ("last_close", "avg_close_6m"):
        for a, b in zip(merged[col], merged[f"{col}_want"], strict=True):
            assert (pd.isna(a) and pd.isna(b)) or math.isclose(a, b, rel_tol=1e-12), (col, a, b)


def test_batch_scores_of_the_test_rows_give_the_test_metric(built: Path, project: Path, tmp_path: Path) -> None:
    prices = stocks()
    ts = np.sort(prices.date.to_numpy())
    test_start = ts[int(np.floor(len(ts) * (1 - 0.15)))]  # the time split's rule: the latest 15% of event time
    test_rows = prices[prices.date >= test_start].reset_index(drop=True)
    out = scored(project, test_rows.drop(columns=["price"]), tmp_path / "test")
    metrics = json.loads((built / "reports" / "metrics.json").read_text())
    assert len(out) == metrics["test"]["rows"] == len(test_rows)
    rmse = float(np.sqrt(np.mean((out.prediction.to_numpy() - test_rows.price.to_numpy()) ** 2)))
    assert rmse == pytest.approx(metrics["test"]["rmse"], abs=1e-6)  # predictions are written to 6 places


def test_served_equals_batch_for_the_same_row_and_time(built: Path, project: Path, tmp_path: Path) -> None:
    """The endpoint serves as of now (each ticker's latest row); a batch of those rows,
    at their own times, computes the same features offline."""
    latest = stocks().sort_values("date").groupby("symbol").tail(1).reset_index(drop=True)
    batch = scored(project, latest.drop(columns=["price"]), tmp_path / "latest")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlwright", "serve", "build/stocks", "--port", str(port)], cwd=project
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/ready")
        with httpx.Client() as client:
            for i, symbol in enumerate(latest.symbol):
                r = client.post(f"http://127.0.0.1:{port}/predict", json={"symbol": symbol})
                assert r.status_code == 200, r.text
                assert r.json()["prediction"] == pytest.approx(batch.prediction[i], abs=1e-6), symbol
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_labels_join_only_on_an_unambiguous_key(built: Path, project: Path, tmp_path: Path) -> None:
    prices = stocks()
    prices.drop(columns=["price"]).to_csv(tmp_path / "later.csv", index=False)
    prices.to_csv(tmp_path / "labels.csv", index=False)
    args = ["monitor", "build/stocks", "--current", str(tmp_path / "later.csv"), "--labels"]
    mon = run_cli(*args, str(tmp_path / "labels.csv"), cwd=project)
    assert mon.returncode == 0, mon.stdout + mon.stderr
    assert "on 560 labelled predictions (100% coverage)" in mon.stdout
    drift = json.loads((built / "reports" / "drift.json").read_text())
    assert {"month", "last_close", "avg_close_6m"} <= set(drift["features"]), "derived and joined features are watched"
    assert all(drift["features"][f]["psi"] is not None for f in ("month", "last_close", "avg_close_6m"))
    # a correction appended for one (symbol, date): which label is the truth? refused, not guessed
    corrected = pd.concat([prices, prices.iloc[[10]].assign(price=prices.price.iloc[10] + 1)])
    corrected.to_csv(tmp_path / "corrected.csv", index=False)
    ambiguous = run_cli(*args, str(tmp_path / "corrected.csv"), cwd=project)
    assert ambiguous.returncode == 2, ambiguous.stdout + ambiguous.stderr
    assert "1 (entity, timestamp) key(s) name more than one label" in ambiguous.stderr
    assert "the join would be ambiguous" in ambiguous.stderr


def test_the_strongest_simple_baseline_is_reported(built: Path) -> None:
    metrics = json.loads((built / "reports" / "metrics.json").read_text())
    rules = [b["rule"] for b in metrics["baselines_test"]]
    assert "the entity's last known value" in rules and any(r.startswith("always the training mean") for r in rules)
    card = (built / "reports" / "model_card.md").read_text()
    strongest = min(b["rmse"] for b in metrics["baselines_test"])
    if metrics["test"]["rmse"] >= strongest:  # trees do not extrapolate a trend: said plainly when so
        assert "**The model does not beat" in card
    else:
        assert "does not beat" not in card


def test_the_quotes_source_without_its_time_column_is_refused_on_its_data(project: Path) -> None:
    """Without `time_column` the quotes are a dimension table (one row per entity):
    featurize checks that on the data and refuses, naming the source, instead of
    joining every month of a ticker to every row."""
    text = SPEC.replace("name: stocks", "name: untimed").replace(", time_column: published_at}", "}", 1)
    (project / "stocks" / "untimed.yaml").write_text(text)
    assert run_cli("compile", "stocks/untimed.yaml", cwd=project).returncode == 0
    run = run_cli("run", "build/untimed", "--quiet", cwd=project)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stdout + run.stderr
    assert "quotes" in run.stderr and "time_column" in run.stderr, run.stderr
