"""The Delta offline store and W&B tracking on a real table nobody here shaped.

vega_datasets' `stocks.csv` (five tickers' monthly prices, GOOG only from 2004), as
a team would grow it: first the prices up to the end of 2008, then the first quarter
of 2009 appended. Each dataset version becomes a Delta version of the offline
store, `features history` lists both, and training `as_of` the first dataset
version reproduces the first model's numbers while featurize keeps the newest. The
runs land in W&B offline: one train run per fit, the registered model aliased. A
byte flipped in any version's data file is named by `verify` and stops training."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from ..conftest import run_cli
from ..wandb_log import records, run_files

pytestmark = pytest.mark.slow
pytest.importorskip("deltalake")
pytest.importorskip("wandb")

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
expectations:
  schema:
    prices:
      symbol: {type: category, nullable: false}
      date: {type: timestamp, nullable: false}
      price: {type: float, min: 0}
features:
  definitions:
    - {name: month, from: prices, expr: "month(date)"}
    - {name: avg_price_6m, from: prices, expr: "avg(price)", window: 183d, time_column: date}
  store:
    offline: {format: delta}
training:
  hpo: {trials: 3}
  params: {n_estimators: 200}
  tracking: {backend: wandb}
"""


def prices(until: str) -> pd.DataFrame:
    from vega_datasets import local_data

    df = local_data.stocks()[["symbol", "date", "price"]]
    return df[df.date <= pd.Timestamp(until)]


def scored(build: Path) -> dict[str, object]:
    report = json.loads((build / "reports/metrics.json").read_text())
    return {k: report[k] for k in ("dataset_version", "params", "validation", "test", "split_rows")}


def wandb_job_types(build: Path) -> list[str]:
    return [
        next(r.run.job_type for r in records(path) if r.WhichOneof("record_type") == "run")
        for path in run_files(build / ".mlwright/wandb")
    ]


def test_dataset_versions_as_delta_versions_and_wandb_runs_on_real_prices(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "stocks/data").mkdir(parents=True)
    csv = root / "stocks/data/prices.csv"
    prices("2008-12-31").to_csv(csv, index=False)
    (root / "stocks/system.yaml").write_text(SPEC)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    build = root / "build/stocks"

    assert run_cli("compile", "stocks/system.yaml", cwd=root).returncode == 0
    first_run = run_cli("run", "build/stocks", "--quiet", cwd=root)
    assert first_run.returncode == 0, first_run.stdout + first_run.stderr
    first = scored(build)

    prices("2009-03-31").to_csv(csv, index=False)  # a quarter of new prices arrives
    grown = run_cli("run", "build/stocks", "--new-data", "--quiet", cwd=root)
    assert grown.returncode == 0, grown.stdout + grown.stderr
    second = scored(build)
    assert second["dataset_version"] != first["dataset_version"] and second["split_rows"] != first["split_rows"]

    history = run_cli("features", "history", "build/stocks", cwd=root)
    assert history.returncode == 0, history.stderr
    listed = [line.split("dataset ")[1].split()[0] for line in history.stdout.splitlines()]
    assert listed == [second["dataset_version"], first["dataset_version"]]

    as_of = f"features.store.offline.as_of={str(first['dataset_version'])[:10]}"
    assert run_cli("compile", "stocks/system.yaml", as_of, cwd=root).returncode == 0
    back = run_cli("run", "build/stocks", "--quiet", cwd=root)
    assert back.returncode == 0, back.stdout + back.stderr
    ran = next(line for line in back.stdout.splitlines() if line.startswith("build/stocks: ran "))
    assert "featurize" not in ran.split("; skipped")[0] and "train" in ran  # only training and later re-ran
    assert scored(build) == first
    assert json.loads((build / "reports/register.json").read_text())["registered"]

    jobs = wandb_job_types(build)
    assert jobs.count("train") == 3 and jobs.count("registry") == 3

    # every file of every version is held to dvc.lock, and to the version's sidecar
    assert run_cli("verify", "build/stocks", cwd=root).returncode == 0
    data = next((build / "features/offline").glob("*.parquet"))
    body = bytearray(data.read_bytes())
    body[len(body) // 2] ^= 0x01
    data.write_bytes(bytes(body))
    verify = run_cli("verify", "build/stocks", cwd=root)
    assert verify.returncode == 1 and f"modified: features/offline/{data.name}" in verify.stdout
    forced = run_cli("run", "build/stocks", "--stage", "train", "--force", "--quiet", cwd=root)
    assert forced.returncode != 0 and data.name in forced.stdout + forced.stderr
