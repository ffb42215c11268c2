"""Three or more classes, on a real table: the UCI wine recognition data that ships
with scikit-learn (178 wines from three cultivars, 13 measurements), exported as a
CSV with its own headers and the cultivars by name. Compile, run, batch scoring,
monitoring with delayed labels and the endpoint, through the documented commands;
the model predicts cultivar names, with every class's probability."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from ..conftest import free_port, identifier, request_body, run_cli, wait_http

pytestmark = pytest.mark.slow
CULTIVARS = ["barolo", "grignolino", "barbera"]


def wine_table() -> pd.DataFrame:
    from sklearn.datasets import load_wine

    df = load_wine(as_frame=True).frame
    df.insert(0, "wine id", [f"W{i:03d}" for i in range(len(df))])
    df["cultivar"] = np.array(CULTIVARS)[df.pop("target").to_numpy()]
    return df


def spec(measurements: list[str], extra: str = "") -> str:
    mapping = ", ".join(f"'{c}': {identifier(c)}" for c in ["wine id", *measurements])
    schema = "\n".join(f"      {identifier(c)}: {{type: float, min: 0}}" for c in measurements)
    return f"""\
name: wine
version: 0.1.0
spec:
  task: multiclass_classification
  target: cultivar
  entity: wine_id
  inputs: [wine_id, {", ".join(identifier(c) for c in measurements)}]
  metric: {{name: f1}}
{extra}data:
  sources:
    - name: wines
      uri: data/wines.csv
      format: csv
      rename: {{{mapping}}}
expectations:
  schema:
    wines:
      wine_id: {{type: string, nullable: false, unique: true}}
{schema}
      cultivar: {{type: category, values: [{", ".join(CULTIVARS)}]}}
training:
  params: {{num_leaves: 7, min_child_samples: 5, learning_rate: 0.1}}
serving: {{workers: 1}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wine") / "repo"
    (root / "wine" / "data").mkdir(parents=True)
    table = wine_table()
    table.to_csv(root / "wine" / "data" / "wines.csv", index=False)
    measurements = [c for c in table.columns if c not in ("wine id", "cultivar")]
    (root / "wine" / "system.yaml").write_text(spec(measurements))
    (root / "wine" / "threshold.yaml").write_text(
        spec(measurements, "  costs: {false_negative: 5}\n").replace("{name: f1}", "{name: f1, threshold: 0.4}")
    )
    # the same wines with a planted leak: the cellar's bin code, which is the cultivar
    (root / "leaky" / "data").mkdir(parents=True)
    leaky = table.assign(**{"cellar bin": table["cultivar"].map({c: i * 10.0 for i, c in enumerate(CULTIVARS)})})
    leaky.to_csv(root / "leaky" / "data" / "wines.csv", index=False)
    (root / "leaky" / "system.yaml").write_text(
        spec([*measurements, "cellar bin"]).replace("name: wine\n", "name: leaky\n", 1)
    )
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def test_a_leak_encoding_the_three_classes_in_one_column_stops_training(project: Path) -> None:
    assert run_cli("compile", "leaky/system.yaml", cwd=project).returncode == 0
    run = run_cli("run", "build/leaky", "--quiet", cwd=project)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "target leakage suspected" in run.stderr and "cellar_bin" in run.stderr


def test_a_fixed_threshold_is_refused_for_multiclass(project: Path) -> None:
    out = run_cli("compile", "wine/threshold.yaml", cwd=project)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert re.search(
        r"threshold\.yaml:\d+:\d+: error: spec\.metric\.threshold: a multiclass model predicts", out.stderr
    )


def test_three_cultivars_train_serve_score_and_monitor(project: Path, tmp_path: Path) -> None:
    assert run_cli("compile", "wine/system.yaml", cwd=project).returncode == 0
    assert "Decision rule: the most probable class" in (project / "build" / "wine" / "ml_spec.md").read_text()
    run = run_cli("run", "build/wine", "--quiet", cwd=project)
    assert run.returncode == 0, run.stdout + run.stderr
    built = project / "build" / "wine"
    metrics = json.loads((built / "reports" / "metrics.json").read_text())
    assert metrics["threshold"] is None and metrics["test"]["f1"] > 0.85 and metrics["test"]["roc_auc"] > 0.95
    assert metrics["baseline_test"]["f1"] < 0.3  # always the commonest cultivar
    assert json.loads((built / "reports" / "register.json").read_text())["registered"]
    bundle = json.loads((built / "models" / "registered" / "bundle.json").read_text())
    assert bundle["classes"] == sorted(CULTIVARS)

    everything = wine_table()
    everything.drop(columns=["cultivar"]).to_csv(tmp_path / "batch.csv", index=False)  # its own headers
    out = run_cli(
        "predict", "build/wine", "--input", str(tmp_path / "batch.csv"), "--output", str(tmp_path / "scored"),
        cwd=project,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    scored = pd.read_parquet(tmp_path / "scored").sort_values("row").reset_index(drop=True)
    columns = [f"probability_{c}" for c in sorted(CULTIVARS)]
    assert np.allclose(scored[columns].sum(axis=1), 1.0, atol=1e-5)
    assert scored["prediction"].tolist() == [sorted(CULTIVARS)[i] for i in scored[columns].to_numpy().argmax(axis=1)]
    assert (scored["prediction"] == everything["cultivar"]).mean() > 0.9

    everything[["wine id", "cultivar"]].to_csv(tmp_path / "labels.csv", index=False)
    mon = run_cli(
        "monitor", "build/wine", "--current", str(tmp_path / "batch.csv"), "--labels", str(tmp_path / "labels.csv"),
        "--fail-on-alert", cwd=project,
    )  # fmt: skip
    assert mon.returncode == 0, mon.stdout + mon.stderr
    assert "on 178 labelled predictions (100% coverage)" in mon.stdout
    # the same wines labelled by a sommelier who swaps two cultivars: macro F1 collapses, and says so
    swapped = everything["cultivar"].map({"barolo": "barbera", "barbera": "barolo", "grignolino": "grignolino"})
    everything.assign(cultivar=swapped)[["wine id", "cultivar"]].to_csv(tmp_path / "swapped.csv", index=False)
    bad = run_cli(
        "monitor", "build/wine", "--current", str(tmp_path / "batch.csv"), "--labels", str(tmp_path / "swapped.csv"),
        "--fail-on-alert", cwd=project,
    )  # fmt: skip
    assert bad.returncode == 1 and "concept" in bad.stdout + bad.stderr

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlwright", "serve", "build/wine", "--port", str(port)], cwd=project)
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        with httpx.Client() as client:
            for i in (0, 80, 170):
                body = request_body(everything.iloc[i], "cultivar")
                r = client.post(f"http://127.0.0.1:{port}/predict", json=body)
                assert r.status_code == 200, r.text
                got = r.json()
                assert got["prediction"] == scored["prediction"].iloc[i]
                assert got["probability"] == pytest.approx(max(got["probabilities"].values()))
                for c in CULTIVARS:
                    assert got["probabilities"][c] == pytest.approx(scored[f"probability_{c}"].iloc[i], abs=1e-6)
            wrong = client.post(f"http://127.0.0.1:{port}/predict", json={**body, "proline": "lots"})
            assert wrong.status_code == 422 and wrong.json()["field"] == "proline"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    log = [json.loads(line) for line in (built / "logs" / "predictions.jsonl").read_text().splitlines()]
    served = [rec for rec in log if rec["status"] == 200]
    assert len(served) == 3 and all(set(rec["probabilities"]) == set(CULTIVARS) for rec in served)


SHOP = """\
name: shop
version: 0.1.0
spec:
  task: multiclass_classification
  target: tier
  entity: customer
  timestamp: seen_at
  inputs: [customer, region, spend, visits]
data:
  sources:
    - {name: customers, uri: data/customers.parquet, format: parquet}
expectations:
  schema:
    customers:
      customer: {type: string, unique: true}
      seen_at: {type: timestamp}
      region: {type: category, values: [north, south, east]}
      spend: {type: float, min: 0}
      visits: {type: int, min: 0}
      tier: {type: category, values: [bronze, silver, gold]}
training:
  hpo: {trials: 2}
"""


def test_a_parquet_table_written_by_pandas_with_event_times_and_a_category(tmp_path: Path) -> None:
    """pandas writes nanosecond timestamps and large strings: ingest keeps the times
    (they fell back to text before), the split goes by time, the category input gets
    per-value metrics in training and monitoring."""
    rng = np.random.default_rng(1)
    n = 4000
    seen = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.sort(rng.uniform(0, 180, n)), unit="D")
    region = rng.choice(["north", "south", "east"], n)
    spend, visits = rng.gamma(2, 50, n), rng.poisson(5, n)
    score = np.column_stack([spend / 40, visits / 1.5, (region == "east") * 4.0]) + 0.5 * rng.gumbel(size=(n, 3))
    table = pd.DataFrame(
        {"customer": [f"C{i:05d}" for i in range(n)], "seen_at": seen, "region": region, "spend": spend,
         "visits": visits, "tier": np.array(["bronze", "silver", "gold"])[score.argmax(axis=1)]}
    )  # fmt: skip
    root = tmp_path / "repo"
    (root / "shop" / "data").mkdir(parents=True)
    table.to_parquet(root / "shop" / "data" / "customers.parquet", index=False)
    (root / "shop" / "system.yaml").write_text(SHOP)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    assert run_cli("compile", "shop/system.yaml", cwd=root).returncode == 0
    run = run_cli("run", "build/shop", "--quiet", cwd=root)
    assert run.returncode == 0, run.stdout + run.stderr
    built = root / "build" / "shop"
    metrics = json.loads((built / "reports" / "metrics.json").read_text())
    assert metrics["leakage"]["train_end"] < metrics["leakage"]["test_start"]  # split by event time
    assert sorted(metrics["slices"]["region"]) == ["east", "north", "south"]
    assert metrics["test"]["fbeta"] > metrics["baseline_test"]["fbeta"] + 0.3  # the default metric, macro

    table.drop(columns=["tier"]).to_parquet(tmp_path / "current.parquet", index=False)
    table[["customer", "seen_at", "tier"]].to_parquet(tmp_path / "labels.parquet", index=False)
    mon = run_cli(
        "monitor", "build/shop", "--current", str(tmp_path / "current.parquet"),
        "--labels", str(tmp_path / "labels.parquet"), cwd=root,
    )  # fmt: skip
    assert mon.returncode == 0, mon.stdout + mon.stderr
    drift = json.loads((built / "reports" / "drift.json").read_text())
    assert drift["concept"]["overall"]["labels"] == n and drift["concept"]["overall"]["coverage"] == 1.0
    assert sorted(drift["concept"]["slices"]) == ["region=east", "region=north", "region=south"]
