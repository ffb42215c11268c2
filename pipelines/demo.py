"""The demo: one example system from YAML to a served, monitored model, with real commands.

    python pipelines/demo.py churn      # (make demo)
    python pipelines/demo.py brain_ct   # (make demo-ct)

Works in ./demo/<name>/ (a fresh git repository holding a copy of the example), so
the checkout stays clean. Every step is the `mlwright` command a user would type;
the script prints each command and its output, then where the reports are.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def sh(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    print(f"\n$ {' '.join(args)}", flush=True)
    proc = subprocess.run(list(args), cwd=cwd, text=True, capture_output=True)
    sys.stdout.write(proc.stdout)
    sys.stdout.write(proc.stderr)
    if check and proc.returncode != 0:
        raise SystemExit(f"demo: `{' '.join(args)}` exited {proc.returncode}")
    return proc


def mlwright(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh(sys.executable, "-m", "mlwright", *args, cwd=cwd, check=check)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def workspace(name: str) -> Path:
    work = ROOT / "demo" / name
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(
        ROOT / "pipelines" / name, work / "pipelines" / name, ignore=shutil.ignore_patterns("data", "__pycache__")
    )
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    return work


def serve(work: Path, name: str, requests: list[dict]) -> None:
    port = free_port()
    print(f"\n$ mlwright serve build/{name} --port {port} &", flush=True)
    proc = subprocess.Popen([sys.executable, "-m", "mlwright", "serve", f"build/{name}", "--port", str(port)], cwd=work)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        for body in requests:
            shown = {k: (v[:24] + "...") if k == "image" else v for k, v in body.items()}
            r = httpx.post(f"{url}/predict", json=body, timeout=30)
            print(f"POST /predict {json.dumps(shown)}\n  -> {r.status_code} {r.text}")
        r = httpx.post(f"{url}/predict", json={**requests[0], "unknown_field": 1}, timeout=30)
        print(f"POST /predict with an unknown field\n  -> {r.status_code} {r.text}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def churn() -> None:
    import pyarrow.parquet as pq

    work = workspace("churn")
    sh(sys.executable, "pipelines/churn/generate.py", cwd=work)
    mlwright("compile", "pipelines/churn/system.yaml", cwd=work)
    mlwright("run", "build/churn", cwd=work)
    mlwright("run", "build/churn", cwd=work)  # nothing changed: every stage skipped
    mlwright("diff", "pipelines/churn/system.yaml", "training.hpo.trials=50", cwd=work)
    rows = pq.read_table(work / "pipelines/churn/data/score/batch-000.parquet").slice(0, 3).to_pylist()
    serve(
        work,
        "churn",
        [{k: r[k] for k in ("customer_id", "plan", "monthly_fee", "support_tickets", "country")} for r in rows],
    )
    mlwright(
        "predict", "build/churn", "--input", "pipelines/churn/data/score/*.parquet", "--output", "predictions", cwd=work
    )
    scenario = ("--out", "scenario", "--churn-stops", "DE", "--drift-batch-fee", "1.5")
    sh(sys.executable, "pipelines/churn/generate.py", *scenario, cwd=work)
    mlwright(
        "monitor",
        "build/churn",
        "--current",
        "scenario/score/*.parquet",
        "--labels",
        "scenario/labels/delayed.csv",
        cwd=work,
        check=False,
    )
    report(work, "churn")


def brain_ct() -> None:
    import pydicom

    work = workspace("brain_ct")
    sh(sys.executable, "pipelines/brain_ct/generate.py", cwd=work)
    mlwright("compile", "pipelines/brain_ct/system.yaml", cwd=work)
    mlwright("run", "build/brain_ct", cwd=work)
    files = sorted((work / "pipelines/brain_ct/data/brain_ct/incoming").rglob("*.dcm"))[:3]
    bodies = []
    for f in files:
        ds = pydicom.dcmread(f)
        bodies.append(
            {
                "image": base64.b64encode(f.read_bytes()).decode(),
                "patient_age": int(str(ds.PatientAge)[:3]),
                "scanner_model": str(ds.ManufacturerModelName),
            }
        )
    serve(work, "brain_ct", bodies)
    mlwright(
        "predict",
        "build/brain_ct",
        "--input",
        "pipelines/brain_ct/data/brain_ct/incoming/**/*.dcm",
        "--output",
        "predictions",
        cwd=work,
    )
    print("\n# A scanner upgrade shifts pixel intensity by 1.8 SD; its batch arrives for training:")
    sh(sys.executable, "pipelines/brain_ct/generate.py", "--scanner-upgrade", "--out", "upgrade", cwd=work)
    mlwright("monitor", "build/brain_ct", "--current", "upgrade/incoming/**/*.dcm", cwd=work, check=False)
    data = work / "pipelines/brain_ct/data/brain_ct"
    shutil.rmtree(data / "slices")
    shutil.copytree(work / "upgrade/slices", data / "slices")
    shutil.copy(work / "upgrade/labels.csv", data / "labels.csv")
    mlwright("run", "build/brain_ct", "--new-data", cwd=work, check=False)
    report(work, "brain_ct")


def report(work: Path, name: str) -> None:
    built = work / "build" / name
    print("\nWhere things are:")
    for rel in (
        "ml_spec.md",
        "reports/validation.html",
        "reports/metrics.json",
        "reports/model_card.md",
        "reports/drift.html",
        "logs/predictions.jsonl",
        "logs/alerts.jsonl",
        "dist/Dockerfile",
    ):
        if (built / rel).exists():
            print(f"  {built / rel}")
    print(f"  experiment tracker: mlflow ui --backend-store-uri sqlite:///{built / '.mlwright/tracking.db'}")


if __name__ == "__main__":
    {"churn": churn, "brain_ct": brain_ct}[sys.argv[1] if len(sys.argv) > 1 else "churn"]()
