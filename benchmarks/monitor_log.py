"""`monitor` over a 1,000,000-line JSONL prediction log (#18 item 6).

The log is what the endpoint writes (request id, ISO time, status, prediction,
probability, inputs), 2 % of lines refused requests. Three readers of the same
file, each in its own process (peak RSS is per process), interleaved over rounds:

- mlwright: `prediction_log.read_log` (DuckDB's parallel JSON reader into columns)
  plus the drift statistics against a reference profile: what `monitor` does;
- record by record: `json.loads` per line into Python objects, the reader monitor
  used before (the same values, checked equal on a sample in the unit tests);
- Evidently, when a Python with it is given: `pandas.read_json(lines=True)`, the
  inputs flattened, then DataDriftPreset(num_method="ks", cat_method="chisquare").

    python benchmarks/monitor_log.py [--lines 1000000] [--rounds 3] [--evidently-python /tmp/peers/bin/python]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson

INPUTS = ("plan", "monthly_fee", "support_tickets", "country")


def write_log(path: Path, lines: int, seed: int, shift: float) -> None:
    rnd = random.Random(seed)
    with path.open("wb") as f:
        for i in range(lines):
            ok = rnd.random() > 0.02
            record = {
                "request_id": f"{rnd.getrandbits(128):032x}",
                "timestamp": f"2026-11-{1 + i * 28 // lines:02d}T{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:"
                f"{rnd.randrange(60):02d}.{rnd.randrange(10**6):06d}Z",
                "model_version": "v1.0.0",
                "variant": "stable",
                "latency_ms": round(rnd.random(), 3),
                "status": 200 if ok else 422,
                "prediction": rnd.randrange(2) if ok else None,
                "probability": rnd.random() if ok else None,
                "inputs": {
                    "customer_id": f"C{rnd.randrange(50_000):06d}",
                    "plan": rnd.choice(["basic", "pro", "enterprise"]),
                    "monthly_fee": round(rnd.gauss(60 + shift, 15), 2) if ok else "abc",
                    "support_tickets": rnd.randrange(10),
                    "country": rnd.choice(["US", "DE", "FR", "JP"]),
                },
            }
            f.write(orjson.dumps(record) + b"\n")


MLWRIGHT = """
import json, resource, sys, time
from pathlib import Path
from mlwright.contract.monitor import Covariate
from mlwright.runtime.monitoring.monitor import drift_all
from mlwright.runtime.monitoring.prediction_log import read_log
from mlwright.runtime.models.bundle import load_reference
reference = load_reference(Path(sys.argv[2]))
t = time.perf_counter()
cur = read_log(Path(sys.argv[1]), reference, "customer_id")
read = time.perf_counter() - t
drift = drift_all(reference, cur.columns, Covariate(metric="psi", threshold=0.2, bins=10, ks_p_value=0.01, epsilon=1e-4, min_rows=50))
print(json.dumps({"seconds": time.perf_counter() - t, "read": read, "rows": cur.rows,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "psi": {k: round(v["psi"], 4) for k, v in drift.items()}}))
"""

RECORD_BY_RECORD = """
import json, resource, sys, time
import numpy as np
from pathlib import Path
from mlwright.contract.monitor import Covariate
from mlwright.runtime.monitoring.monitor import drift_all
from mlwright.runtime.models.bundle import load_reference
reference = load_reference(Path(sys.argv[2]))
t = time.perf_counter()
recs = []
with open(sys.argv[1], encoding="utf-8") as fh:
    for line in fh:
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("status") == 200 and isinstance(r.get("inputs"), dict):
            recs.append(r)
cols = {}
for name, prof in reference.items():
    values = [r["inputs"].get(name) for r in recs]
    if prof["kind"] == "numeric":
        cols[name] = np.array([np.nan if v is None or isinstance(v, str) else float(v) for v in values])
    else:
        cols[name] = [None if v is None else str(v) for v in values]
ids = [r.get("request_id") for r in recs]
read = time.perf_counter() - t
drift = drift_all(reference, cols, Covariate(metric="psi", threshold=0.2, bins=10, ks_p_value=0.01, epsilon=1e-4, min_rows=50))
print(json.dumps({"seconds": time.perf_counter() - t, "read": read, "rows": len(recs),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "psi": {k: round(v["psi"], 4) for k, v in drift.items()}}))
"""

EVIDENTLY = """
import json, resource, sys, time
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
t = time.perf_counter()
def frame(path):
    log = pd.read_json(path, lines=True)
    log = log[log["status"] == 200]
    inputs = pd.json_normalize(log["inputs"].tolist())[INPUTS_LIST]
    inputs["monthly_fee"] = pd.to_numeric(inputs["monthly_fee"], errors="coerce")
    return inputs
ref, cur = frame(sys.argv[3]), frame(sys.argv[1])
Report([DataDriftPreset(num_method="ks", cat_method="chisquare")]).run(reference_data=ref, current_data=cur)
print(json.dumps({"seconds": time.perf_counter() - t, "rows": len(cur),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
""".replace("INPUTS_LIST", repr(list(INPUTS)))


def write_reference(path: Path, folder: Path) -> None:
    """The registered reference profile (profile.json and its samples, as in a bundle),
    built from a log of training-time traffic."""
    import numpy as np

    from mlwright.runtime.stats.two_sample import categorical_profile, numeric_profile

    recs = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    recs = [r for r in recs if r["status"] == 200]
    out: dict[str, dict[str, object]] = {}
    for name in INPUTS:
        values = [r["inputs"][name] for r in recs]
        if isinstance(values[0], str):
            out[name] = categorical_profile(values)
        else:
            profile = numeric_profile(np.array(values, dtype=np.float64), 10)
            np.save(folder / f"{name}.npy", profile.pop("sample"))
            out[name] = {**profile, "sample_file": f"{name}.npy"}
    (folder / "profile.json").write_text(json.dumps(out))


def run(code: str, python: str, *args: str) -> dict[str, float]:
    out = subprocess.run([python, "-c", code, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-800:])
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--evidently-python", default=None)
    a = ap.parse_args()
    folder = Path(tempfile.mkdtemp())
    current, ref_log = folder / "predictions.jsonl", folder / "reference.jsonl"
    write_log(current, a.lines, 1, shift=6.0)
    write_log(ref_log, min(a.lines, 200_000), 0, shift=0.0)
    reference = folder / "reference"
    reference.mkdir()
    write_reference(ref_log, reference)
    runs = {
        "mlwright (DuckDB JSON reader + drift)": (MLWRIGHT, sys.executable, str(current), str(reference)),
        "record by record (json.loads + drift)": (RECORD_BY_RECORD, sys.executable, str(current), str(reference)),
    }
    if a.evidently_python:
        runs["Evidently (read_json + DataDriftPreset)"] = (
            EVIDENTLY,
            a.evidently_python,
            str(current),
            str(reference),
            str(ref_log),
        )
    results: dict[str, list[dict[str, float]]] = {k: [] for k in runs}
    for rnd in range(a.rounds):
        names = list(runs)
        for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
            code, python, *args = runs[name]
            results[name].append(run(code, python, *args))
    ours, theirs = results["mlwright (DuckDB JSON reader + drift)"], results["record by record (json.loads + drift)"]
    assert ours[0]["psi"] == theirs[0]["psi"] and ours[0]["rows"] == theirs[0]["rows"], "the readers disagree"
    size = current.stat().st_size / 1e6
    print(f"log: {a.lines} lines, {size:.0f} MB, {ours[0]['rows']:.0f} answered; {a.rounds} interleaved rounds")
    base = statistics.median(r["seconds"] for r in ours)
    for name, rs in results.items():
        seconds = statistics.median(r["seconds"] for r in rs)
        read = statistics.median(r.get("read", float("nan")) for r in rs)
        rss = max(r["rss_mb"] for r in rs)
        print(f"  {name:44s} {seconds:7.2f} s (read {read:5.2f} s)  peak RSS {rss:6.0f} MB  {seconds / base:5.1f}x")


if __name__ == "__main__":
    main()
