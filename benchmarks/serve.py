"""Serving: mlwright serve vs a minimal hand-written FastAPI + LightGBM app vs a
bare ASGI app (the HTTP floor), each on one uvicorn worker on 127.0.0.1.

Sequential p50/p99 latency from a Python client (the same client for all), and
throughput at concurrency 16 with wrk (Debian package) when installed. mlwright
runs with everything on: validation, online feature lookup, JSONL logging,
metrics and canary routing. The model is the churn example's, trained here.

    python benchmarks/serve.py [--requests 3000] [--duration 10] [--rounds 3] [--built build/churn]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

MINIMAL_APP = """
import json, numpy as np, lightgbm as lgb
from fastapi import FastAPI
from pydantic import BaseModel

meta = json.load(open({meta!r}))
booster = lgb.Booster(model_file={model!r})
cats = {{c["name"]: c["categories"] for c in meta["preprocessor"]}}
names = [c["name"] for c in meta["preprocessor"]]

class Req(BaseModel):
    customer_id: str
    plan: str
    monthly_fee: float
    support_tickets: int
    country: str

app = FastAPI()

@app.post("/predict")
async def predict(r: Req):
    row = r.model_dump()
    row["fee_per_ticket"] = row["monthly_fee"] / (row["support_tickets"] + 1)
    x = np.array([[float(cats[n].index(row[n])) if cats[n] and row.get(n) in cats[n] else float(row.get(n, np.nan)) if not cats[n] else np.nan for n in names]])
    p = float(booster.predict(x, num_threads=1)[0])
    return {{"prediction": int(p >= meta["threshold"]), "probability": p, "model_version": "v1.0.0"}}
"""

BARE_ASGI = """
import orjson
BODY = orjson.dumps({"prediction": 1, "probability": 0.5, "model_version": "v1.0.0", "latency_ms": 0.0})

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        msg = await receive()
        more = msg.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})
"""


def port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


def sequential(url: str, body: dict, n: int) -> tuple[float, float]:
    lat = []
    with httpx.Client() as c:
        for _ in range(200):
            c.post(url, json=body)
        for _ in range(n):
            t = time.perf_counter()
            c.post(url, json=body)
            lat.append(time.perf_counter() - t)
    return float(np.percentile(lat, 50) * 1e6), float(np.percentile(lat, 99) * 1e6)


def _wrk(url: str, body: dict, seconds: int, folder: Path, threads: int, conns: int) -> str | None:
    exe = shutil.which("wrk")
    if exe is None:
        return None
    script = folder / "post.lua"
    lua_body = json.dumps(json.dumps(body))
    script.write_text(f'wrk.method = "POST"\nwrk.body = {lua_body}\nwrk.headers["Content-Type"] = "application/json"\n')
    cmd = [exe, "-t", str(threads), "-c", str(conns), "-d", f"{seconds}s", "--latency", "-s", str(script), url]
    return subprocess.run(cmd, capture_output=True, text=True).stdout


def wrk(url: str, body: dict, seconds: int, folder: Path) -> float | None:
    """Throughput at concurrency 16."""
    out = _wrk(url, body, seconds, folder, 2, 16)
    line = next((ln for ln in (out or "").splitlines() if ln.startswith("Requests/sec")), None)
    return float(line.split()[1]) if line else None


def wrk_sequential(url: str, body: dict, seconds: int, folder: Path) -> tuple[float, float] | None:
    """p50/p99 in microseconds with one connection and a C client (wrk --latency)."""
    out = _wrk(url, body, seconds, folder, 1, 1)
    found = {}
    for ln in (out or "").splitlines():
        parts = ln.split()
        if len(parts) == 2 and parts[0] in ("50%", "99%"):
            v = parts[1]
            scale = 1.0 if v.endswith("us") else 1000.0 if v.endswith("ms") else 1e6
            found[parts[0]] = float(v.rstrip("usm")) * scale
    return (found["50%"], found["99%"]) if len(found) == 2 else None


def build_model(folder: Path) -> Path:
    project = folder / "project"
    shutil.copytree(
        ROOT / "pipelines" / "churn", project / "pipelines" / "churn", ignore=shutil.ignore_patterns("data")
    )
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run([sys.executable, "pipelines/churn/generate.py"], cwd=project, check=True, capture_output=True)

    def run(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "mlwright", *args], cwd=project, check=True, capture_output=True)

    run("compile", "pipelines/churn/system.yaml", "training.hpo.trials=3", "serving.workers=1")
    run("run", "build/churn", "--quiet")
    return project / "build" / "churn"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--built", type=Path, default=None, help="reuse a churn build folder with a registered model")
    a = ap.parse_args()
    folder = Path(tempfile.mkdtemp())
    built = a.built.resolve() if a.built else build_model(folder)
    body = {"customer_id": "C000001", "plan": "basic", "monthly_fee": 20.0, "support_tickets": 3, "country": "DE"}
    (folder / "minimal.py").write_text(
        textwrap.dedent(
            MINIMAL_APP.format(
                meta=str(built / "models/registered/bundle.json"), model=str(built / "models/registered/model.txt")
            )
        )
    )
    (folder / "bare.py").write_text(BARE_ASGI)
    apps = {
        "mlwright serve": [sys.executable, "-m", "mlwright", "serve", str(built)],
        "minimal FastAPI+LightGBM": [
            sys.executable,
            "-m",
            "uvicorn",
            "minimal:app",
            "--log-level",
            "warning",
            "--app-dir",
            str(folder),
        ],
        "bare ASGI (floor)": [
            sys.executable,
            "-m",
            "uvicorn",
            "bare:app",
            "--log-level",
            "warning",
            "--app-dir",
            str(folder),
        ],
    }
    procs, urls = {}, {}
    try:
        for name, cmd in apps.items():  # all up at once; each idles while another is measured
            p = port()
            procs[name] = subprocess.Popen(
                [*cmd, "--host", "127.0.0.1", "--port", str(p)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            urls[name] = f"http://127.0.0.1:{p}/predict"
            wait(f"http://127.0.0.1:{p}/")
        httpx_lat = {name: sequential(url, body, a.requests) for name, url in urls.items()}
        seq: dict[str, list[tuple[float, float]]] = {name: [] for name in apps}
        rps: dict[str, list[float]] = {name: [] for name in apps}
        for rnd in range(a.rounds):  # interleaved rounds: machine noise hits every app alike
            names = list(apps)
            for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
                got = wrk_sequential(urls[name], body, max(a.duration // 2, 1), folder)
                if got:
                    seq[name].append(got)
                r = wrk(urls[name], body, a.duration, folder)
                if r:
                    rps[name].append(r)
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=20)

    def med(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    print(f"median of {a.rounds} interleaved rounds; wrk -c1 for sequential latency, wrk -c16 for throughput")
    print(f"{'app':26s} {'httpx p50':>10s} {'p99':>7s} {'wrk -c1 p50':>12s} {'p99':>7s} {'req/s c16':>10s}   (µs)")
    summary = {}
    for name in apps:
        w50, w99 = med([x for x, _ in seq[name]]), med([y for _, y in seq[name]])
        summary[name] = (w50, med(rps[name]))
        h50, h99 = httpx_lat[name]
        print(f"{name:26s} {h50:10.0f} {h99:7.0f} {w50:12.0f} {w99:7.0f} {summary[name][1]:10.0f}")
    (m50, mr), (f50, fr) = summary["mlwright serve"], summary["minimal FastAPI+LightGBM"]
    print(f"mlwright / minimal app: throughput {mr / fr:.2f}x, sequential p50 {m50 / f50:.2f}x")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
