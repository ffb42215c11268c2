"""The `mlwright` command line: a thin face over the compiler and the runtime.

This is the only module that knows both. Compile-side verbs call
`mlwright.compiler`; run-side verbs import `mlwright.runtime` lazily so that
`mlwright compile` never loads a heavy library. User errors print one line per
problem and exit 2 (bad input) or 1 (a gate failed); `--debug` shows tracebacks.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from mlwright import __version__

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="One YAML file in, a production ML system out.",
)
canary_app = typer.Typer(no_args_is_help=True, help="Canary operations: status, promote, rollback, analyze.")
features_app = typer.Typer(no_args_is_help=True, help="Feature store operations.")
app.add_typer(canary_app, name="canary")
export_app = typer.Typer(no_args_is_help=True, help="Write the spec's rules for other tools.")
app.add_typer(features_app, name="features")
app.add_typer(export_app, name="export")

STATE: dict[str, bool] = {"debug": False}

Overrides = Annotated[
    list[str] | None, typer.Argument(help="Hydra overrides: key=value, +key=value, ~key, profile=prod")
]
OutDir = Annotated[Path | None, typer.Option("-o", "--out", help="Output folder (default build/<name>)")]


def _err(text: str) -> None:
    sys.stderr.write(text.rstrip("\n") + "\n")


def _fail(text: str, code: int) -> NoReturn:
    _err(text)
    raise typer.Exit(code)


def _print_version(value: bool) -> None:
    if value:
        print(f"mlwright {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool,
        # eager: answered before a command is required (`mlwright --version` alone)
        typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    STATE["debug"] = debug


def _compile(spec: Path, overrides: list[str] | None, out: Path | None) -> Any:
    from mlwright.compiler import SpecError, compile_system

    if not spec.is_file():
        _fail(f"{spec}: error: no such spec file", 2)
    try:
        return compile_system(spec, overrides or [], out)
    except SpecError as exc:
        _fail(exc.render(), 2)


@app.command("init")
def init_cmd(
    data: Annotated[list[str], typer.Argument(help="Data files or globs, one per source (.csv, .parquet, .jsonl)")],
    target: Annotated[str, typer.Option("--target", help="The label column")],
    entity: Annotated[
        str | None, typer.Option("--entity", help="Entity column (default: the first unique one)")
    ] = None,
    timestamp: Annotated[str | None, typer.Option("--timestamp", help="Event-time column of the target's file")] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="binary_classification | multiclass_classification | regression")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="System name (default: from the target's file)")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the spec")] = Path("system.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing spec")] = False,
) -> None:
    """A starter system.yaml inferred from data files; it compiles before it is written."""
    import os

    from mlwright.compiler import SpecError, compile_system
    from mlwright.runtime.commands.starter_spec import InitChoices, profile, starter_yaml

    if out.exists() and not force:
        _fail(f"{out}: exists already (--force to overwrite)", 2)
    spec_dir = out.resolve().parent
    profiles = [_user_errors(profile, pattern, spec_dir) for pattern in data]
    text = _user_errors(starter_yaml, profiles, InitChoices(target, entity, timestamp, task, name))
    draft = spec_dir / f".{out.name}.init.tmp"
    draft.write_text(text, encoding="utf-8")
    try:
        compiled = compile_system(draft, [], spec_dir / "build" / ".init-check")
    except SpecError as exc:  # e.g. data outside the project, or two headers that read as one name: write nothing
        _fail(
            f"{out}: not written: the spec inferred from these files does not compile:\n{exc.render()}\n"
            "(data must be inside the project that holds the spec; if it is, please report this)",
            2,
        )
    finally:
        draft.unlink(missing_ok=True)
    os.replace(_written(out, text), out)
    print(f"wrote {out}: {len(profiles)} source(s), task {compiled.plan.task}, {len(compiled.plan.inputs)} inputs")
    print(f"next: mlwright compile {out} && mlwright run build/{compiled.plan.name}")


def _written(out: Path, text: str) -> Path:
    """`text` in a temporary file beside `out` (renamed over it: never half-written)."""
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    return tmp


@app.command("compile")
def compile_cmd(
    spec: Annotated[Path, typer.Argument(help="The system YAML")],
    overrides: Overrides = None,
    out: OutDir = None,
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 with a diff when DIR is stale")] = False,
) -> None:
    """Validate SPEC and emit the project folder (deterministic, reviewable)."""
    from mlwright.compiler.write import stale_files, unified_diff, write_tree

    compiled = _compile(spec, overrides, out)
    if check:
        stale = stale_files(compiled.files, compiled.out_dir)
        if stale:
            sys.stdout.write(unified_diff(compiled.files, compiled.out_dir, stale))
            _fail(f"{compiled.out_dir}: stale ({len(stale)} file(s)); run `mlwright compile {spec}`", 1)
        print(f"{compiled.out_dir}: up to date")
        return
    changed = write_tree(compiled.files, compiled.out_dir)
    print(
        f"compiled {compiled.plan.name} {compiled.plan.model_version} -> {compiled.out_dir} ({len(compiled.files)} files, {len(changed)} changed)"
    )


class SuiteFormat(StrEnum):
    pandera = "pandera"
    great_expectations = "great-expectations"


@export_app.command("expectations")
def export_expectations_cmd(
    target: Dir,
    to: Annotated[SuiteFormat, typer.Option("--to", help="pandera (a Python module) or great-expectations (JSON)")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout)")] = None,
) -> None:
    """The spec's layer-A schema as a pandera module or Great Expectations suites."""
    from mlwright.runtime.commands.expectations_export import export
    from mlwright.runtime.context import load_context

    text = _user_errors(lambda: export(load_context(target), to.value))
    if out is None:
        sys.stdout.write(text)
        return
    from mlwright.runtime.atomic import write_text

    write_text(out, text)
    print(f"wrote {out}")


@app.command("explain")
def explain_cmd(
    spec: Annotated[Path, typer.Argument(help="The system YAML")],
    key: Annotated[str, typer.Argument(help="A dotted setting, e.g. monitoring.covariate.bins")],
    overrides: Overrides = None,
    out: OutDir = None,
) -> None:
    """One setting: its value, where it was set, what it means and allows, which stages it reaches."""
    from mlwright.compiler import SpecError
    from mlwright.compiler.explain import explain

    if not spec.is_file():
        _fail(f"{spec}: error: no such spec file", 2)
    try:
        e = explain(spec, key, overrides or [], out)
    except SpecError as exc:
        _fail(exc.render(), 2)
    print(f"{e.key} = {json.dumps(e.value)}")
    print(f"  set at:  {e.origin}")
    if e.meaning:
        print(f"  means:   {e.meaning}")
    print(f"  allowed: {e.allowed}")
    if e.changed is None:
        print("  stages:  not determined (no other value to try here; change it and run `mlwright diff`)")
    elif not e.changed:
        print(f"  stages:  none read it (changing it to {e.tried} re-runs nothing)")
    else:
        rest = [s for s in e.rerun if s not in e.changed]
        print(
            f"  stages:  read by {', '.join(e.changed)}; changing it (e.g. to {e.tried}) re-runs "
            + ", ".join(e.rerun)
            + (f" ({', '.join(rest)} downstream)" if rest else "")
        )


@app.command("diff")
def diff_cmd(spec: Annotated[Path, typer.Argument()], overrides: Overrides = None, out: OutDir = None) -> None:
    """What a compile would change: files, config keys, and the stages each change re-runs."""
    from mlwright.compiler.diff import changed_stages, rerun_stages, spec_changes
    from mlwright.compiler.write import current_tree, stale_files, unified_diff

    compiled = _compile(spec, overrides, out)
    disk = current_tree(compiled.out_dir, compiled.files)
    stale = stale_files(compiled.files, compiled.out_dir)
    if not stale:
        print("no changes")
        return
    sys.stdout.write(unified_diff(compiled.files, compiled.out_dir, stale))
    print("\nChanged keys:")
    for ch in spec_changes(disk, compiled.files):
        print(f"  {ch.key}: {json.dumps(ch.before)} -> {json.dumps(ch.after)}")
    changed = changed_stages(compiled.plan, disk, compiled.files)
    stages = rerun_stages(compiled.plan, disk, compiled.files)
    downstream = [s for s in stages if s not in changed]
    print(f"\nStages re-run: {', '.join(stages) if stages else 'none'}")
    if changed:  # what DVC finds stale, and what follows from their new outputs
        print(f"  changed: {', '.join(changed)}" + (f"; downstream: {', '.join(downstream)}" if downstream else ""))
    print(f"Files changed: {', '.join(stale)}")


@app.command("validate")
def validate_cmd(spec: Annotated[Path, typer.Argument()], overrides: Overrides = None) -> None:
    """Only check the spec (exit 0 valid, 2 invalid)."""
    compiled = _compile(spec, overrides, None)
    print(f"{spec}: ok ({compiled.plan.name} {compiled.plan.model_version})")


@app.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of the system YAML (for editors)."""
    from mlwright.compiler import json_schema

    print(json.dumps(json_schema(), indent=2, sort_keys=True))


@app.command("graph")
def graph_cmd(
    target: Annotated[Path, typer.Argument(help="A spec file or a compiled folder")],
    fmt: Annotated[str, typer.Option("--format", help="text | mermaid")] = "text",
) -> None:
    """The stage graph, as text or Mermaid."""
    if fmt not in ("text", "mermaid"):
        _fail(f"error: --format: '{fmt}' is not one of: text, mermaid", 2)
    stages = _graph_stages(target)
    if fmt == "mermaid":
        print("graph TD")
        for name, up in stages:
            print(f"  {name}[{name}]")
            for u in up:
                print(f"  {u} --> {name}")
        print("  register -. bundle .-> monitor[monitor]")
    else:
        for name, up in stages:
            print(f"{name}" + (f"  <- {', '.join(up)}" if up else ""))
        print("monitor  <- register (run by `mlwright monitor` on production logs)")


def _graph_stages(target: Path) -> list[tuple[str, list[str]]]:
    if target.is_dir():
        plan_file = target / "plan.json"
        if not plan_file.is_file():
            _fail(f"{target}: error: not a compiled folder (no plan.json)", 2)
        data = json.loads(plan_file.read_text())
        return [(s["name"], list(s["upstream"])) for s in data["stages"]]
    compiled = _compile(target, None, None)
    return [(s.name, list(s.upstream)) for s in compiled.plan.stages]


Dir = Annotated[Path, typer.Argument(help="A compiled folder (build/<name>)")]


def _user_errors(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a runtime call; its UserError/GateFailed become one line and an exit code."""
    from mlwright.contract.errors import UserError

    try:
        return fn(*args, **kwargs)
    except UserError as exc:
        if STATE["debug"]:
            raise
        _fail(f"error: {exc}", exc.exit_code)


@app.command("run")
def run_cmd(
    target: Dir,
    stage: Annotated[
        str | None, typer.Option("--stage", help="Run only this stage (if stale, or with --force)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Re-run even unchanged stages")] = False,
    new_data: Annotated[
        bool, typer.Option("--new-data", help="Accept changed sources as a new dataset version")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Plain log lines (for CI)")] = False,
) -> None:
    """Run the pipeline through DVC: verify -> ingest -> validate -> featurize -> train -> register -> package."""
    from mlwright.runtime.commands.pipeline import run_pipeline

    from .progress import StageProgress

    with StageProgress(quiet=quiet) as progress:
        result = _user_errors(run_pipeline, target, stage=stage, force=force, new_data=new_data, on_line=progress.line)
    if not result.ran:
        published = f"; published {result.published} waiting train run(s)" if result.published else ""
        print(f"{target}: nothing changed; every stage skipped{published} ({result.seconds:.1f}s)")
    else:
        print(
            f"{target}: ran {', '.join(result.ran)}"
            + (f"; skipped {', '.join(result.skipped)}" if result.skipped else "")
            + (f"; published {result.published} train run(s) to the tracker" if result.published else "")
            + f" ({result.seconds:.1f}s)"
        )
        if stage is None:  # the whole pipeline ran: where the system stands against its acceptance criteria
            _print_gates(target)


def _print_gates(target: Path) -> list[Any]:
    from mlwright.runtime.commands.gates import evaluate, table

    gates = _user_errors(evaluate, target)
    print(f"gates ({target / 'reports' / 'gates.html'}):")
    print(table(gates))
    return list(gates)


@app.command("gates")
def gates_cmd(
    target: Dir,
    fail: Annotated[bool, typer.Option("--fail", help="Exit 1 when a row failed (for CI)")] = False,
) -> None:
    """The seed's acceptance table: each stage's criterion, measured value and verdict."""
    gates = _print_gates(target)
    if fail and any(g.verdict == "failed" for g in gates):
        raise typer.Exit(1)


@app.command("status")
def status_cmd(target: Dir) -> None:
    """Which stages are stale and why (changed param, dep or out)."""
    from mlwright.runtime.commands.pipeline import status
    from mlwright.runtime.stores.outbox import OUTBOX, pending

    stale = _user_errors(status, target)
    if not stale:
        print(f"{target}: up to date")
    for stage, reasons in stale.items():
        print(f"{stage}:")
        for r in reasons:
            print(f"  {r}")
    waiting = pending(target.resolve())
    if waiting:
        print(
            f"tracking: {len(waiting)} train run(s) waiting in {OUTBOX} for the tracker; `mlwright run` publishes them"
        )


@app.command("verify")
def verify_cmd(target: Dir) -> None:
    """Re-hash the sources against the manifest, the snapshots against what ingest
    wrote, and every stage's outputs against dvc.lock (exit 1 naming each changed path)."""
    from mlwright.runtime.context import load_context
    from mlwright.runtime.lock_integrity import out_changes
    from mlwright.runtime.stages.ingest import snapshot_changes, verify

    ctx = _user_errors(load_context, target)
    changes = [*_user_errors(verify, ctx), *_user_errors(snapshot_changes, ctx)]
    shown = {c.path for c in changes}
    changes += [c for c in out_changes(ctx.root) if c.path not in shown]
    if changes:
        for c in changes:
            print(f"{c.what}: {c.path}")
        _fail(f"{target}: {len(changes)} file(s) changed since they were recorded", 1)
    print(
        f"{target}: all sources match data/manifest.csv, every snapshot the one ingest wrote, "
        "and every stage output the md5 in dvc.lock"
    )


@app.command("push")
def push_cmd(target: Dir) -> None:
    """Move versioned data to the DVC remote."""
    from mlwright.runtime.commands.pipeline import push

    print(_user_errors(push, target) or "pushed")


@app.command("pull")
def pull_cmd(target: Dir) -> None:
    """Fetch versioned data from the DVC remote."""
    from mlwright.runtime.commands.pipeline import pull

    print(_user_errors(pull, target) or "pulled")


@app.command("rebuild")
def rebuild_cmd(
    target: Dir,
    version: Annotated[str | None, typer.Option("--version", help="Dataset version id (default: current)")] = None,
    into: Annotated[Path | None, typer.Option("--into", help="Clean folder to rebuild into")] = None,
) -> None:
    """Reconstruct a dataset version from the remote into a clean folder and verify every hash."""
    from mlwright.runtime.commands.rebuild import rebuild

    report = _user_errors(rebuild, target, version, into)
    print(
        f"rebuilt {report['version_id'][:12]}: {report['files']} files verified in {report['seconds']:.1f}s (SLA {report['sla_seconds']}s) -> {report['folder']}"
    )
    if not report["within_sla"]:
        _fail("rebuild exceeded data.versioning.rebuild_sla", 1)


@app.command("serve")
def serve_cmd(
    target: Dir,
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
) -> None:
    """Serve the registered model (POST /predict, /health, /ready, /metrics)."""
    from mlwright.runtime.serving.serve import serve_forever

    _user_errors(serve_forever, target, host, port)


class OutOfContract(StrEnum):
    flag = "flag"
    refuse = "refuse"


@app.command("predict")
def predict_cmd(
    target: Dir,
    input: Annotated[
        str | None,
        typer.Option("--input", help="Input file or glob (.parquet, .csv, .jsonl, .dcm); default: serving.batch.input"),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Output folder (one Parquet file per chunk); default: serving.batch.output"),
    ] = None,
    chunk_rows: Annotated[int | None, typer.Option("--chunk-rows")] = None,
    pass_through: Annotated[
        list[str] | None,
        typer.Option(
            "--pass-through", help="Input column copied beside each score (repeat); default: serving.batch.pass_through"
        ),
    ] = None,
    out_of_contract: Annotated[
        OutOfContract | None,
        typer.Option(
            "--out-of-contract",
            help="Rows the endpoint would refuse: flag (unscored, with the problem) or refuse the batch; default: serving.batch.out_of_contract",
        ),
    ] = None,
) -> None:
    """Batch inference: chunked, checkpointed, resumable; rows checked against the endpoint's input contract."""
    from mlwright.runtime.serving.predict import BatchOptions, run_batch

    options = BatchOptions(
        pass_through=tuple(pass_through) if pass_through else None,
        out_of_contract=out_of_contract.value if out_of_contract else None,
    )
    _user_errors(run_batch, target, input, output, chunk_rows, options=options)


@app.command("monitor")
def monitor_cmd(
    target: Dir,
    current: Annotated[str, typer.Option("--current", help="Prediction log (.jsonl) or a batch file/glob")],
    labels: Annotated[str | None, typer.Option("--labels", help="Delayed ground truth (CSV file or glob)")] = None,
    fail_on_alert: Annotated[bool, typer.Option("--fail-on-alert", help="Exit 1 when an alert fired")] = False,
) -> None:
    """Covariate and concept drift, per window and slice; alerts; reports/drift.{json,html}."""
    from mlwright.runtime.monitoring.monitor import run_monitor

    report = _user_errors(run_monitor, target, current, labels)
    for name, f in report["features"].items():
        psi = "-" if f["psi"] is None else f"{f['psi']:.4f}"
        print(f"  {name:24s} PSI {psi:>8s}  {f['status']}")
    print(f"  concept: {report['concept']['message']}")
    for a in report["alerts"]:
        print(
            f"ALERT {a['kind']}: {a['feature'] or a['slice'] or 'all'} = {a['value']:.4f} > {a['threshold']} (window {a['window']})"
        )
    print(f"report: {target / 'reports' / 'drift.html'}")
    if fail_on_alert and report["alerts"]:
        raise typer.Exit(1)


@features_app.command("get")
def features_get_cmd(target: Dir, ids: Annotated[list[str], typer.Argument(help="Entity ids")]) -> None:
    """Online feature values by entity id (exit 1 when an id is unknown)."""
    from mlwright.runtime.stores.feature_store import get_online

    rows = _user_errors(get_online, target, ids)
    print(json.dumps(rows, indent=2, sort_keys=True, default=str))
    if any(v is None for v in rows.values()):
        raise typer.Exit(1)


@features_app.command("history")
def features_history_cmd(target: Dir) -> None:
    """The versions of a Delta offline store, newest first: Delta version, commit time
    (UTC), dataset version, feature-set hash and rows; `features.store.offline.as_of`
    takes a dataset version from here."""
    from datetime import UTC, datetime

    from mlwright.runtime.stores.feature_store import offline_history

    for v in _user_errors(offline_history, target):
        at = datetime.fromtimestamp(v.timestamp_ms / 1000, UTC).isoformat(timespec="seconds")
        print(f"v{v.version}  {at}  dataset {v.dataset_version}  features {v.feature_set_hash[:12]}  {v.rows} rows")


def _canary(target: Path) -> Any:
    from mlwright.runtime.serving.canary_ops import controller

    return _user_errors(controller, target)


@canary_app.command("status")
def canary_status_cmd(target: Dir) -> None:
    """The canary's state: versions, weight, step, history (times in UTC, ISO 8601)."""
    print(json.dumps(_readable_times(_canary(target).state.to_json()), indent=2, sort_keys=True))


def _readable_times(value: Any, key: str = "") -> Any:
    """Epoch seconds under time-like keys (`at`, `*_at`, `since`, `started`) as ISO 8601 UTC."""
    from datetime import UTC, datetime

    if isinstance(value, dict):
        return {k: _readable_times(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_readable_times(v, key) for v in value]
    timed = key in ("at", "since", "started", "window_started") or key.endswith("_at")
    if timed and isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")
    return value


def _json_safe(value: Any) -> Any:
    """NaN and infinities as null: the output stays JSON that any parser reads."""
    import math

    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _canary_act(target: Path, action: str, kubectl: bool = False) -> None:
    import time

    from mlwright.runtime.serving.rollouts import deployment, kubectl_command, run_kubectl

    k8s = _user_errors(deployment, target)
    if k8s is not None:  # the cluster's controller owns the canary: its command, printed or run
        command = _user_errors(kubectl_command, k8s, action)
        print(" ".join(command))
        if kubectl:
            code = _user_errors(run_kubectl, command)
            if code:
                _fail(f"error: kubectl exited {code}", 1)
        return
    if kubectl:
        _fail(f"error: --kubectl: {target} has no serving.kubernetes section", 2)
    c = _canary(target)
    if c.state.status != "running":
        _fail(f"error: no running canary (status: {c.state.status})", 1)
    event = c.promote(time.time()) if action == "promote" else c.rollback(time.time())
    words = {
        "step": f"canary: candidate now gets {c.state.weight:.0%} of traffic (step {c.state.step + 1})",
        "promoted": "canary: promoted; the candidate is the stable model and gets all traffic",
        "rolled_back": "canary: rolled back; the stable model gets all traffic",
    }
    print(words.get(event, f"canary: {event}"))


Kubectl = Annotated[
    bool, typer.Option("--kubectl", help="Kubernetes build: run the controller's command (default: print it)")
]


@canary_app.command("promote")
def canary_promote_cmd(target: Dir, kubectl: Kubectl = False) -> None:
    """Advance the candidate one step (to 100% at the last); on Kubernetes, `kubectl argo rollouts promote`."""
    _canary_act(target, "promote", kubectl)


@canary_app.command("rollback")
def canary_rollback_cmd(target: Dir, kubectl: Kubectl = False) -> None:
    """Send all traffic back to the stable model; on Kubernetes, `kubectl argo rollouts abort`."""
    _canary_act(target, "rollback", kubectl)


@canary_app.command("analyze")
def canary_analyze_cmd(
    log: Annotated[Path, typer.Argument(help="JSONL prediction log")],
    target: Annotated[
        Path | None, typer.Option("--dir", help="Compiled folder for the criteria (default: built-in)")
    ] = None,
    success_rate: Annotated[float, typer.Option("--success-rate")] = 0.999,
    latency_p99_ms: Annotated[float, typer.Option("--latency-p99-ms")] = float("inf"),
    min_requests: Annotated[int, typer.Option("--min-requests")] = 100,
) -> None:
    """Recompute the canary verdict from a prediction log alone (exit 1 unless 'promote')."""
    from mlwright.runtime.serving.canary import CanaryConfig, analyze_log

    if not log.is_file():
        _fail(f"error: {log}: no such file", 2)
    if target is not None:
        from mlwright.runtime.serving.canary_ops import canary_config

        config = _user_errors(canary_config, target)
    else:
        config = CanaryConfig(0.05, 0, success_rate, (1.0,), min_requests, latency_p99_ms)
    out = analyze_log(log, config)
    print(json.dumps(_json_safe(out), indent=2, sort_keys=True, default=str, allow_nan=False))
    if out["verdict"] != "promote":
        raise typer.Exit(1)


def _plain_flags(command: Any) -> None:
    """On/off flags show no `<bool>` value placeholder in help: they take no value."""
    import click

    helper = command.get_help_option(click.Context(command))  # made once and cached by click
    for param in [*command.params, *([helper] if helper is not None else [])]:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _plain_flags(sub)


def main() -> None:
    """Console entry point: user errors never show a traceback unless --debug."""
    debug = "--debug" in sys.argv
    try:
        from typer.main import get_command

        command = get_command(app)
        _plain_flags(command)
        command()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
    except Exception as exc:
        from mlwright.contract.errors import UserError

        if isinstance(exc, UserError):
            if debug:
                raise
            _err(str(exc))
            sys.exit(exc.exit_code)
        if debug:
            raise
        _err(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback; please report it)")
        sys.exit(3)
