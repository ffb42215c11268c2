"""The `train` stage vs a plain LightGBM script: same data, parameters and folds.

Both run as processes on the same offline feature store (200,000 rows of the
churn features): expanding-window CV with fixed parameters (no search), the
final fit with early stopping, test scoring. The stage also does its extra work
(leakage checks, cost-optimal threshold, slices, model card, and with tracking on
the run stashed for MLflow); the overhead of all of it is what is measured. The
stashed run is published by `register`, which starts MLflow anyway for the
registry; publishing it is timed on its own (into the store earlier runs left,
and into a new one), so that the stage plus its publish can be set against the
same plain script with the MLflow logging a user would add.

    python benchmarks/train.py [--rows 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PLAIN = r"""
import json, resource, sys, time
import numpy as np, pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq, lightgbm as lgb
from sklearn.metrics import roc_auc_score
folder, params = sys.argv[1], json.loads(sys.argv[2])
t0 = time.perf_counter()
meta = json.load(open(f"{folder}/_metadata.json"))
table = pa.concat_tables([pq.read_table(f"{folder}/{p}") for p in meta["parts"]])
ts = pc.cast(table.column(meta["timestamp"]), pa.int64()).to_numpy()
y = np.array(table.column(meta["target"]).to_pylist(), dtype=np.int64)
cols = []
for name in meta["features"]:
    col = table.column(name)
    if pa.types.is_string(col.type):
        cats = sorted(set(col.to_pylist()) - {None})
        idx = {c: i for i, c in enumerate(cats)}
        cols.append(np.array([idx.get(v, np.nan) for v in col.to_pylist()], dtype=np.float32))
    else:
        cols.append(col.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float32))
X = np.column_stack(cols)
cat = [i for i, n in enumerate(meta["features"]) if pa.types.is_string(table.column(n).type)]
order = np.argsort(ts, kind="stable"); n = len(order)
test, val, train = order[int(n * 0.85):], order[int(n * 0.7):int(n * 0.85)], order[:int(n * 0.7)]
p = {"objective": "binary", "seed": 42, "deterministic": True, "force_row_wise": True, "num_threads": 2, "verbose": -1, "num_leaves": params["num_leaves"], "learning_rate": params["learning_rate"]}
blocks = np.array_split(train, 6)
for k in range(5):
    fit, hold = np.concatenate(blocks[:k + 1]), blocks[k + 1]
    b = lgb.train(p, lgb.Dataset(X[fit], y[fit], categorical_feature=cat), 500, valid_sets=[lgb.Dataset(X[hold], y[hold], categorical_feature=cat)], callbacks=[lgb.early_stopping(50, verbose=False)])
b = lgb.train(p, lgb.Dataset(X[train], y[train], categorical_feature=cat), 500, valid_sets=[lgb.Dataset(X[val], y[val], categorical_feature=cat)], callbacks=[lgb.early_stopping(50, verbose=False)])
auc = roc_auc_score(y[test], b.predict(X[test]))
if len(sys.argv) > 3:  # the MLflow logging a user would add: params, metric, the model file
    import mlflow, tempfile
    mlflow.set_tracking_uri(sys.argv[3]); mlflow.set_experiment("plain")
    with mlflow.start_run():
        mlflow.log_params(p); mlflow.log_metric("test_roc_auc", auc)
        out = tempfile.mkdtemp(); b.save_model(f"{out}/model.txt"); mlflow.log_artifacts(out, "model")
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "auc": auc}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    project = Path(tempfile.mkdtemp()) / "project"
    shutil.copytree(
        ROOT / "pipelines" / "churn", project / "pipelines" / "churn", ignore=shutil.ignore_patterns("data")
    )
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(
        [sys.executable, "pipelines/churn/generate.py", "--rows", str(a.rows)],
        cwd=project,
        check=True,
        capture_output=True,
    )
    fixed = {"num_leaves": 31, "learning_rate": 0.1}
    overrides = ["~training.hpo.space", "training.params.num_leaves=31", "training.params.learning_rate=0.1"]
    cli = [sys.executable, "-m", "mlwright"]
    subprocess.run(
        [*cli, "compile", "pipelines/churn/system.yaml", *overrides], cwd=project, check=True, capture_output=True
    )
    subprocess.run(
        [*cli, "run", "build/churn", "--stage", "ingest", "--quiet"], cwd=project, check=True, capture_output=True
    )
    for step in ("validate", "featurize"):
        subprocess.run(
            [*cli, "run", "build/churn", "--stage", step, "--quiet"], cwd=project, check=True, capture_output=True
        )
    build = project / "build" / "churn"
    runs = {
        "mlwright train stage (tracking on)": lambda: stage(build, tracked=True),
        "mlwright train stage (tracking off)": lambda: stage(build, tracked=False),
        "publish the stashed run (existing store)": lambda: publish(build, fresh=False),
        "publish the stashed run (new store)": lambda: publish(build, fresh=True),
        "plain LightGBM script": lambda: plain(build, fixed, None),
        "plain script + MLflow logging": lambda: plain(build, fixed, project / "plain-mlruns"),
    }
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in runs}
    for rnd in range(a.rounds):
        names = list(runs)
        for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
            results[name].append(runs[name]())
    med = {k: (statistics.median(t for t, _ in v), max(m for _, m in v)) for k, v in results.items()}
    metrics = json.loads((build / "reports" / "metrics.json").read_text())
    print(f"{a.rows} rows; 5 expanding folds + final fit, fixed parameters, each as a process; median of {a.rounds}")
    base_s, base_mb = med["plain LightGBM script"]
    for name, (secs, mb) in med.items():
        print(
            f"  {name:40s} {secs:6.2f} s  peak {mb:5.0f} MB  time {100 * (secs / base_s - 1):+4.0f}%  memory {100 * (mb / base_mb - 1):+4.0f}%"
        )
    print(
        f"  test roc_auc: mlwright {metrics['test']['roc_auc']:.4f} (same data, params and folds as the plain script)"
    )
    tracked = med["mlwright train stage (tracking on)"][0] + med["publish the stashed run (new store)"][0]
    print(
        f"tracked stage + publishing its run into a new store vs tracked plain script: "
        f"{tracked / med['plain script + MLflow logging'][0]:.2f}x (register overlaps the publish with its re-fit)"
    )
    shutil.rmtree(project.parent, ignore_errors=True)


def stage(build: Path, tracked: bool) -> tuple[float, float]:
    """The stage as DVC runs it; with tracking on it leaves its run in the outbox."""
    env = {**os.environ, "MLWRIGHT_TRACKING_URI": os.environ.get("MLWRIGHT_TRACKING_URI", "") if tracked else "none"}
    if tracked and not env["MLWRIGHT_TRACKING_URI"]:
        del env["MLWRIGHT_TRACKING_URI"]
    return timed(
        build,
        env,
        "import runpy, sys; sys.argv = ['train']\ntry:\n    runpy.run_module('mlwright.runtime.stages.train', run_name='__main__')\nexcept SystemExit:\n    pass",
    )


def publish(build: Path, fresh: bool) -> tuple[float, float]:
    """What `register` (or `mlwright run` at its end) does with the waiting runs: start
    the tracking worker, publish. Into a new store, created and migrated by MLflow, or
    into the store earlier runs left, as every re-run does."""
    from mlwright.runtime.stores.outbox import pending

    if not pending(build):
        stage(build, tracked=True)  # untimed: leaves a run to publish
    if fresh:
        shutil.rmtree(build / ".mlwright" / "mlartifacts", ignore_errors=True)
        (build / ".mlwright" / "tracking.db").unlink(missing_ok=True)
    elif not (build / ".mlwright" / "tracking.db").is_file():
        publish(build, fresh=True)  # untimed: leaves the store the timed run reuses
        stage(build, tracked=True)
    return timed(
        build,
        dict(os.environ),
        "from mlwright.runtime.context import load_context\nfrom mlwright.runtime.commands.pipeline import publish_waiting_runs\nassert publish_waiting_runs(load_context(), print) == 1",
    )


def timed(build: Path, env: dict[str, str], code: str) -> tuple[float, float]:
    """Wall time and peak memory (the process's or its largest child's: the tracking worker)."""
    code += "\nimport json, resource\nprint(json.dumps({'peak_mb': max(resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024}))"
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=build, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - t, json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"]


def plain(build: Path, fixed: dict[str, float], mlruns: Path | None) -> tuple[float, float]:
    args = [sys.executable, "-c", PLAIN, str(build / "features" / "offline"), json.dumps(fixed)]
    if mlruns is not None:
        shutil.rmtree(mlruns, ignore_errors=True)
        mlruns.mkdir(parents=True)
        args.append(f"sqlite:///{mlruns}/mlflow.db")
    t = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, check=True, cwd=mlruns or build)
    return time.perf_counter() - t, json.loads(out.stdout.strip().splitlines()[-1])["peak_mb"]


if __name__ == "__main__":
    main()
