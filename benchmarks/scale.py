"""featurize, train and predict on one process vs a 2-worker Dask LocalCluster (#18).

The churn generator writes N label rows (with ~2.5 payments per row); the system is
compiled twice into two build folders of one project, once as written (`compute`
absent: one process) and once with `profile=cluster` (a LocalCluster of two
single-thread workers, 8 entity buckets). Each stage runs through `mlwright run
--stage S --force` in its own process tree, interleaved over rounds; per run:

- wall time;
- CPU seconds of the whole process tree (this script's RUSAGE_CHILDREN delta: the
  stage, its Dask scheduler and workers, DVC);
- the largest peak RSS of any one process in the tree (ru_maxrss of the children:
  the memory one worker or the single process needed).

The outputs are compared before anything is printed: the offline feature store's
sha256 per part, the model's test metrics and the batch scores must be equal.

    python benchmarks/scale.py [--rows 1000000] [--rounds 2] [--trials 4] [--stages featurize,train,predict]

`--stages` picks what is measured (every stage still runs once first, to put inputs in
place): at 10M rows a measured search is hours on 2 cores, featurize and predict minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("featurize", "train", "predict")


def mlwright(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "mlwright", *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"mlwright {' '.join(args)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return out


def measured(*args: str, cwd: Path) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    mlwright(*args, cwd=cwd)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def peak_rss_mb(*args: str, cwd: Path) -> float:
    """The largest RSS of one process in the tree: measured in a fresh child, whose
    RUSAGE_CHILDREN holds only this run's processes."""
    code = (
        "import resource, subprocess, sys; "
        f"subprocess.run([sys.executable, '-m', 'mlwright', *{list(args)!r}], cwd={str(cwd)!r}, check=True, "
        "capture_output=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def outputs(build: Path, scores: Path) -> dict[str, object]:
    meta = json.loads((build / "features" / "offline" / "_metadata.json").read_text())
    metrics = json.loads((build / "reports" / "metrics.json").read_text())
    import pandas as pd

    frame = pd.concat([pd.read_parquet(p) for p in sorted(scores.glob("part-*.parquet"))])
    return {
        "features": meta["sha256"],
        "test": metrics["test"],
        "scores": frame["probability"].round(12).tolist(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument(
        "--distributed-fit-rows",
        type=int,
        help="compute.distributed_fit_rows of the cluster build (profile: 5M); above --rows the fits are equal",
    )
    ap.add_argument("--stages", default="featurize,train,predict", help="comma-separated: what is measured")
    a = ap.parse_args()
    measured_stages = a.stages.split(",")
    unknown = set(measured_stages) - set(STAGES)
    if unknown:
        raise SystemExit(f"--stages: {', '.join(sorted(unknown))}: not one of {', '.join(STAGES)}")
    project = Path(tempfile.mkdtemp()) / "project"
    shutil.copytree(
        ROOT / "pipelines" / "churn", project / "pipelines" / "churn", ignore=shutil.ignore_patterns("data")
    )
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "pipelines/churn/generate.py", "--rows", str(a.rows)],
        cwd=project,
        check=True,
        capture_output=True,
    )
    print(f"generated {a.rows} label rows in {time.perf_counter() - started:.0f}s", flush=True)
    common = [f"training.hpo.trials={a.trials}", "training.tracking.uri=none"]
    builds = {"one process": "build/local", "LocalCluster 2x1": "build/cluster"}
    mlwright("compile", "pipelines/churn/system.yaml", *common, "--out", builds["one process"], cwd=project)
    mlwright(
        "compile",
        "pipelines/churn/system.yaml",
        *common,
        "profile=cluster",
        *([f"compute.distributed_fit_rows={a.distributed_fit_rows}"] if a.distributed_fit_rows else []),
        "--out",
        builds["LocalCluster 2x1"],
        cwd=project,
    )
    for build in builds.values():
        mlwright("run", build, "--quiet", cwd=project)  # every stage once: inputs in place, caches warm
        print(f"{build}: every stage run once ({time.perf_counter() - started:.0f}s)", flush=True)
    score = "pipelines/churn/data/score/*.parquet"
    work = {
        "featurize": lambda b: ("run", b, "--stage", "featurize", "--force", "--quiet"),
        "train": lambda b: ("run", b, "--stage", "train", "--force", "--quiet"),
        "predict": lambda b: ("predict", b, "--input", score, "--output", f"{b}/scored-{time.monotonic_ns()}"),
    }
    for build in builds.values():
        mlwright(*work["predict"](build), cwd=project)
    scored = {name: sorted((project / build).glob("scored-*"))[-1] for name, build in builds.items()}
    one, cluster = (outputs(project / builds[n], scored[n]) for n in builds)
    assert one["features"] == cluster["features"], "offline feature store differs"
    assert one["test"] == cluster["test"], "model metrics differ"
    assert one["scores"] == cluster["scores"], "batch scores differ"
    work = {stage: args for stage, args in work.items() if stage in measured_stages}
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    for rnd in range(a.rounds):
        order = list(builds.items()) if rnd % 2 == 0 else list(reversed(builds.items()))
        for stage, args in work.items():
            for name, build in order:
                results.setdefault((stage, name), []).append(measured(*args(build), cwd=project))
    peaks = {
        (stage, name): peak_rss_mb(*args(build), cwd=project)
        for stage, args in work.items()
        for name, build in builds.items()
    }
    print(f"{a.rows} label rows, {os.cpu_count()} cores, {a.rounds} interleaved rounds; outputs identical")
    print(f"{'stage':10s} {'engine':18s} {'wall s':>8s} {'CPU s':>8s} {'CPU ratio':>10s} {'peak RSS/process MB':>20s}")
    for stage in work:
        base = statistics.median(r["cpu"] for r in results[(stage, "one process")])
        for name in builds:
            rs = results[(stage, name)]
            wall, cpu = statistics.median(r["wall"] for r in rs), statistics.median(r["cpu"] for r in rs)
            print(f"{stage:10s} {name:18s} {wall:8.1f} {cpu:8.1f} {cpu / base:10.2f} {peaks[(stage, name)]:20.0f}")


if __name__ == "__main__":
    main()
