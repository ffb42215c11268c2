"""The seed's acceptance table as code: one row per stage, its criterion, the value
measured on this system, the verdict, and where the evidence is (#20 item 1).

`mlwright gates DIR [--fail]` writes `reports/gates.json` and `reports/gates.html` and
prints the table; `mlwright run` prints it at its end. A criterion that could not be
measured says "not measured" and why (no image built, no canary run yet, no monitor
run, no rebuild timed), never "passed". Values are measured where that is cheap and
real (retrieval by id on the real online store), otherwise read from the report the
stage that measured them wrote.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlwright.runtime.atomic import write_json
from mlwright.runtime.context import StageContext, load_context

PASSED, FAILED, NOT_MEASURED = "passed", "failed", "not measured"
RETRIEVAL_SAMPLE = 500  # entities read one by one from the online store
REBUILD_REPORT = "reports/rebuild.json"


@dataclass(frozen=True)
class Gate:
    stage: int
    name: str
    criterion: str
    value: str
    verdict: str  # passed | failed | not measured
    evidence: str  # a path in the build folder, or how to produce the evidence


def _json(ctx: StageContext, rel: str) -> dict[str, Any] | None:
    path = ctx.path(rel)
    return json.loads(path.read_text()) if path.is_file() else None


def problem_gate(ctx: StageContext) -> Gate:
    sla = ctx.params.serve.sla
    metrics = _json(ctx, "reports/metrics.json")
    criterion = "metric aligned with the error costs; latency SLA documented"
    documented = f"SLA p99 {sla.latency_p99_ms:g} ms, availability {sla.availability:g}"
    if metrics is None:
        return Gate(1, "problem", criterion, f"no metrics yet; {documented}", NOT_MEASURED, "run the pipeline")
    test = metrics["test"]
    if "expected_cost_at_0.5" not in test:  # regression or multiclass: no decision threshold to align
        return Gate(
            1, "problem", criterion, f"{metrics['metric']} (no decision threshold); {documented}", PASSED, "ml_spec.md"
        )
    chosen, default = test["expected_cost"], test["expected_cost_at_0.5"]
    verdict = PASSED if chosen <= default + 1e-12 else FAILED
    value = f"test cost per prediction {chosen:.4f} at threshold {metrics['threshold']:.3f} vs {default:.4f} at 0.5; {documented}"
    return Gate(1, "problem", criterion, value, verdict, "reports/metrics.json")


def data_gate(ctx: StageContext) -> Gate:
    sla = ctx.params.versioning.rebuild_sla_seconds
    criterion = f"full reconstruction from the remote within {sla}s"
    report = _json(ctx, REBUILD_REPORT)
    if report is None:
        return Gate(2, "data", criterion, "no rebuild timed", NOT_MEASURED, "mlwright push DIR; mlwright rebuild DIR")
    value = f"rebuilt {report['files']} file(s) of {report['version_id'][:12]} in {report['seconds']:.1f}s"
    return Gate(2, "data", criterion, value, PASSED if report["seconds"] <= sla else FAILED, REBUILD_REPORT)


def validation_gate(ctx: StageContext) -> Gate:
    report = _json(ctx, "reports/validation.json")
    criterion = "every expectation passed, or overridden with a written justification"
    if report is None:
        return Gate(3, "validation", criterion, "no validation report", NOT_MEASURED, "run the pipeline")
    s = report["summary"]
    overridden = [e for e in report["expectations"] if e["status"] == "overridden"]
    just = "; ".join(f"{e['id']}: {e.get('justification', '')}" for e in overridden[:3])
    value = f"{s['passed']} passed, {s['failed']} failed, {s['overridden']} overridden" + (f" ({just})" if just else "")
    ok = s["failed"] == 0 and all(e.get("justification") for e in overridden)
    return Gate(3, "validation", criterion, value, PASSED if ok else FAILED, "reports/validation.html")


def retrieval_p99_ms(ctx: StageContext) -> tuple[float, int]:
    """p99 of reading one entity at a time from the real online store, in ms."""
    from mlwright.runtime.stages.featurize import load_offline
    from mlwright.runtime.stores.online_store import open_store

    cfg = ctx.params.featurize
    table, _meta = load_offline(ctx.root, cfg.offline_path, cfg.offline_format)
    ids = list(dict.fromkeys(str(v) for v in table.column(cfg.entity).to_pylist() if v is not None))
    rng = np.random.default_rng(0)
    sample = [ids[i] for i in rng.permutation(len(ids))[:RETRIEVAL_SAMPLE]]
    store = open_store(cfg.online, ctx.root, ctx.params.register_.name, readonly=True)
    try:
        store.get(sample[:1])  # a connection opened, not counted
        times = []
        for entity in sample:
            t = time.perf_counter()
            store.get([entity])
            times.append((time.perf_counter() - t) * 1000)
    finally:
        store.close()
    return float(np.percentile(times, 99)), len(times)


def features_gate(ctx: StageContext) -> Gate:
    limit = ctx.params.gates.retrieval_p99_ms
    criterion = f"retrieval by entity id from the online store, p99 within {limit:g} ms"
    try:
        p99, n = retrieval_p99_ms(ctx)
    except Exception as exc:  # noqa: BLE001 - a store that cannot be read is reported, not a crash
        return Gate(
            4, "features", criterion, f"online store not readable: {str(exc).splitlines()[0]}", NOT_MEASURED, ""
        )
    verdict = PASSED if p99 <= limit else FAILED
    return Gate(4, "features", criterion, f"p99 {p99:.3f} ms over {n} real entities", verdict, "measured now")


def training_gate(ctx: StageContext) -> Gate:
    register, metrics = _json(ctx, "reports/register.json"), _json(ctx, "reports/metrics.json")
    criterion = "metrics reproduced on re-run within tolerance; leakage checks clean"
    if register is None or metrics is None:
        return Gate(5, "training", criterion, "not trained and registered yet", NOT_MEASURED, "run the pipeline")
    suspects = sorted(metrics["leakage"].get("suspect_features", {}))
    reproduced = register.get("reproduced")
    value = (
        f"re-run {'reproduced' if reproduced else 'did not reproduce'} the metrics within {register['tolerance']}"
        f" ({'registered' if register['registered'] else 'not registered'}); "
        + (f"leakage suspects: {', '.join(suspects)}" if suspects else "no leakage suspects")
    )
    if reproduced is None:
        return Gate(
            5, "training", criterion, value + " (register.reproduce is off)", NOT_MEASURED, "reports/register.json"
        )
    ok = bool(reproduced) and register["registered"] and not suspects
    return Gate(5, "training", criterion, value, PASSED if ok else FAILED, "reports/register.json")


def image_size(name: str, tag: str) -> int | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    out = subprocess.run(
        [docker, "image", "inspect", f"{name}:{tag}", "--format", "{{.Size}}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return int(out.stdout.strip()) if out.returncode == 0 and out.stdout.strip().isdigit() else None


def deployment_gate(ctx: StageContext) -> Gate:
    pkg = ctx.params.package
    rate = ctx.params.serve.canary.success_rate
    criterion = f"image under {pkg.max_size_bytes / 1e9:g} GB; canary success rate at least {rate:g}"
    size = image_size(pkg.name, pkg.model_version)
    parts, verdicts = [], []
    if size is None:
        parts.append(f"no image {pkg.name}:{pkg.model_version} built")
        verdicts.append(NOT_MEASURED)
    else:
        parts.append(f"image {size / 1e9:.2f} GB")
        verdicts.append(PASSED if size <= pkg.max_size_bytes else FAILED)
    state = _json(ctx, "state/canary.json")
    status = (state or {}).get("status", "idle")
    if status in ("idle", "running"):
        parts.append("no canary finished" if status == "idle" else f"canary running at {state['weight']:.0%}")  # type: ignore[index]
        verdicts.append(NOT_MEASURED)
    else:
        parts.append(f"canary {status.replace('_', ' ')}")
        verdicts.append(PASSED if status == "promoted" else FAILED)
    verdict = FAILED if FAILED in verdicts else (NOT_MEASURED if NOT_MEASURED in verdicts else PASSED)
    return Gate(6, "deployment", criterion, "; ".join(parts), verdict, "reports/package.json, state/canary.json")


def observability_gate(ctx: StageContext) -> Gate:
    mon = ctx.params.monitor
    psi, drop = mon.covariate.threshold, mon.concept.max_relative_drop
    criterion = f"alerts armed at PSI > {psi:g} and a {drop:.0%} relative drop; last monitor verdict"
    rules_path = ctx.path("monitoring/alerts.rules.yml")
    if not rules_path.is_file():
        return Gate(7, "observability", criterion, "no alert rules emitted", FAILED, "monitoring/alerts.rules.yml")
    rules = rules_path.read_text()
    at_thresholds = [re.search(rf"> {re.escape(str(v))}\b", rules) is not None for v in (psi, drop)]
    armed = all(at_thresholds)  # both alerts fire at the spec's own numbers
    checked = ""
    promtool = shutil.which("promtool")
    if promtool:
        ok = subprocess.run([promtool, "check", "rules", str(rules_path)], capture_output=True).returncode == 0
        checked = ", promtool check passed" if ok else ", promtool check FAILED"
        armed = armed and ok
    drift = _json(ctx, "reports/drift.json")
    if drift is None:
        value = f"rules {'armed' if armed else 'NOT at the spec thresholds'}{checked}; no monitor run yet"
        return Gate(7, "observability", criterion, value, FAILED if not armed else NOT_MEASURED, "mlwright monitor DIR")
    alerts = len(drift.get("alerts", []))
    value = f"rules {'armed' if armed else 'NOT at the spec thresholds'}{checked}; last monitor: {alerts} alert(s)"
    return Gate(7, "observability", criterion, value, PASSED if armed and alerts == 0 else FAILED, "reports/drift.html")


GATES = (problem_gate, data_gate, validation_gate, features_gate, training_gate, deployment_gate, observability_gate)


def evaluate(build: Path) -> list[Gate]:
    ctx = load_context(build)
    gates = [gate(ctx) for gate in GATES]
    write_json(
        ctx.path("reports/gates.json"), {"system": ctx.params.register_.name, "gates": [asdict(g) for g in gates]}
    )
    from mlwright.runtime.reports import render_html

    render_html("reports/gates.html.j2", ctx.path("reports/gates.html"), gates=gates, system=ctx.params.register_.name)
    write_system_page(ctx, gates)
    return gates


@dataclass(frozen=True)
class ReportLink:
    title: str
    href: str  # relative to reports/
    what: str
    present: bool
    missing: str  # what makes it appear


REPORTS = (
    ("ML spec", "../ml_spec.md", "the problem: target, metric and why, error costs, SLA", "ml_spec.md", "compile"),
    ("Gates", "gates.html", "the seed's acceptance table, row by row", "reports/gates.html", "mlwright gates"),
    ("Validation", "validation.html", "schema, distribution and target expectations", "reports/validation.html", "run"),
    ("Model card", "model_card.md", "metrics, baselines, slices, leakage checks", "reports/model_card.md", "run"),
    ("Metrics", "metrics.json", "every number the model card shows", "reports/metrics.json", "run"),
    ("Registration", "register.json", "the reproduced re-run and its differences", "reports/register.json", "run"),
    (
        "Drift",
        "drift.html",
        "covariate and concept drift per window and slice",
        "reports/drift.html",
        "mlwright monitor",
    ),
)


def write_system_page(ctx: StageContext, gates: list[Gate]) -> None:
    """reports/index.html: the gates' verdict and a link to every report, present or not."""
    from mlwright.runtime.reports import render_html

    links = [
        ReportLink(title, href, what, ctx.path(rel).is_file(), f"not yet ({how})")
        for title, href, what, rel, how in REPORTS
    ]
    register = _json(ctx, "reports/register.json") or {}
    uri = ctx.params.register_.tracking.uri
    run = register.get("train_run_id")
    off = "tracking off" if uri == "none" else "not published yet"
    tracking = f"MLflow run {run} in {uri}" if run else f"no tracked run ({off})"
    render_html(
        "reports/index.html.j2",
        ctx.path("reports/index.html"),
        system=ctx.params.register_.name,
        model_version=ctx.params.register_.model_version,
        gates=gates,
        links=links,
        tracking=tracking,
    )


def table(gates: list[Gate]) -> str:
    """The gates as aligned text lines, for the console."""
    return "\n".join(f"  {g.stage} {g.name:13s} {g.verdict:12s} {g.value}" for g in gates)
