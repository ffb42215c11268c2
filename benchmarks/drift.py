"""Drift checks on 1,000,000 rows x 25 features (20 numeric, 5 categorical).

mlwright (reference profile built once at registration; per check: PSI on
reference-quantile bins, exact KS, chi-square) vs a plain numpy/scipy
implementation (PSI + `ks_2samp` + `chi2_contingency`) vs the `np.sort` floor,
and Evidently's DataDriftPreset(num_method="ks", cat_method="chisquare") when a
Python with Evidently is given (it runs in its own venv: its pins are its own).

    python benchmarks/drift.py [--rows 1000000] [--rounds 3] [--evidently-python /tmp/peers/bin/python]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from scipy import stats

from mlwright.contract.monitor import Covariate
from mlwright.runtime.monitoring.monitor import drift_all
from mlwright.runtime.stats.two_sample import categorical_profile, numeric_profile, psi_from_shares, quantile_edges

N_NUM, N_CAT = 20, 5
COV = Covariate(metric="psi", threshold=0.2, bins=10, ks_p_value=0.01, epsilon=1e-4, min_rows=50)
CATS = np.array(["a", "b", "c", "d", "e", "f"])


def make(n: int, seed: int, shift: bool) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    cols: dict[str, object] = {}
    for i in range(N_NUM):
        mu = 0.3 if shift and i % 4 == 0 else 0.0
        cols[f"n{i}"] = rng.normal(mu, 1.0, n)
    for j in range(N_CAT):
        p = (
            np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
            if not (shift and j == 0)
            else np.array([0.2, 0.25, 0.2, 0.15, 0.1, 0.1])
        )
        cols[f"c{j}"] = pa.array(CATS[rng.choice(6, n, p=p)])
    return cols


def mlwright_check(profile: dict, cur: dict) -> dict:
    return drift_all(profile, cur, COV)


def plain_check(ref: dict, cur: dict) -> dict:
    out = {}
    for k, v in cur.items():
        r = ref[k]
        if isinstance(v, np.ndarray):
            edges = quantile_edges(np.sort(r), 10)
            rs = np.bincount(np.searchsorted(edges, r), minlength=len(edges) + 1) / len(r)
            cs = np.bincount(np.searchsorted(edges, v), minlength=len(edges) + 1) / len(v)
            out[k] = (psi_from_shares(rs, cs), stats.ks_2samp(r, v).pvalue)
        else:
            rv, cv = r.to_numpy(zero_copy_only=False), v.to_numpy(zero_copy_only=False)
            cats = np.union1d(np.unique(rv), np.unique(cv))
            rc = np.array([np.sum(rv == c) for c in cats])
            cc = np.array([np.sum(cv == c) for c in cats])
            out[k] = (psi_from_shares(rc / rc.sum(), cc / cc.sum()), stats.chi2_contingency(np.vstack([rc, cc]))[1])
    return out


def sort_floor(cur: dict) -> None:
    for v in cur.values():
        if isinstance(v, np.ndarray):
            np.sort(v)


def evidently(python: str, ref: dict, cur: dict) -> float:
    folder = Path(tempfile.mkdtemp())
    for name, data in (("ref", ref), ("cur", cur)):
        pa.parquet = __import__("pyarrow.parquet").parquet
        pa.parquet.write_table(
            pa.table({k: (pa.array(v) if isinstance(v, np.ndarray) else v) for k, v in data.items()}),
            folder / f"{name}.parquet",
        )
    code = f"""
import time, pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
ref = pd.read_parquet({str(folder / "ref.parquet")!r}); cur = pd.read_parquet({str(folder / "cur.parquet")!r})
t = time.perf_counter()
Report([DataDriftPreset(num_method="ks", cat_method="chisquare")]).run(reference_data=ref, current_data=cur)
print(time.perf_counter() - t)
"""
    out = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-500:])
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--evidently-python", default=None)
    a = ap.parse_args()
    ref, cur = make(a.rows, 0, False), make(a.rows, 1, True)
    t = time.perf_counter()
    profile = {
        k: numeric_profile(v, 10) if isinstance(v, np.ndarray) else categorical_profile(v.to_pylist())
        for k, v in ref.items()
    }
    profile_s = time.perf_counter() - t
    # agreement before timing: the same columns drift in both implementations
    ours, plain = mlwright_check(profile, cur), plain_check(ref, cur)
    assert {k for k, v in ours.items() if v["psi"] > 0.02} == {k for k, (psi, _) in plain.items() if psi > 0.02}, (
        "implementations disagree"
    )
    times: dict[str, list[float]] = {"mlwright": [], "numpy/scipy": [], "np.sort floor": []}
    runs = {
        "mlwright": lambda: mlwright_check(profile, cur),
        "numpy/scipy": lambda: plain_check(ref, cur),
        "np.sort floor": lambda: sort_floor(cur),
    }
    for rnd in range(a.rounds):
        names = list(runs)
        for name in names[rnd % 3 :] + names[: rnd % 3]:
            t = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    if a.evidently_python:
        med["Evidently (ks/chisquare)"] = evidently(a.evidently_python, ref, cur)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"rows {a.rows} x {N_NUM + N_CAT} features; reference profile built once in {profile_s:.2f}s; peak RSS {peak:.0f} MB"
    )
    for k, v in med.items():
        print(f"  {k:26s} {v:8.3f} s   ratio vs mlwright {v / med['mlwright']:6.1f}x")
    print(json.dumps({"median_s": med, "profile_s": profile_s, "peak_rss_mb": peak}))


if __name__ == "__main__":
    sys.exit(main())
