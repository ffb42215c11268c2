"""The `mlwright` command line: a thin face over the compiler and the runtime.

This is the only module that knows both. Compile-side verbs call
`mlwright.compiler`; run-side verbs import `mlwright.runtime` lazily so that
`mlwright compile` never loads a heavy library. User errors print one line per
problem and exit 2 (bad input) or 1 (a gate failed); `--debug` shows tracebacks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from mlwright import __version__

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="One YAML file in, a production ML system out.")
canary_app = typer.Typer(no_args_is_help=True, help="Canary operations: status, promote, rollback, analyze.")
features_app = typer.Typer(no_args_is_help=True, help="Feature store operations.")
app.add_typer(canary_app, name="canary")
app.add_typer(features_app, name="features")

STATE: dict[str, bool] = {"debug": False}

Overrides = Annotated[list[str] | None, typer.Argument(help="Hydra overrides: key=value, +key=value, ~key, profile=prod")]
OutDir = Annotated[Path | None, typer.Option("-o", "--out", help="Output folder (default build/<name>)")]


def _err(text: str) -> None:
    sys.stderr.write(text.rstrip("\n") + "\n")


def _fail(text: str, code: int) -> NoReturn:
    _err(text)
    raise typer.Exit(code)


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    STATE["debug"] = debug
    if version:
        print(f"mlwright {__version__}")
        raise typer.Exit(0)


def _compile(spec: Path, overrides: list[str] | None, out: Path | None) -> Any:
    from mlwright.compiler import SpecError, compile_system

    if not spec.is_file():
        _fail(f"{spec}: error: no such spec file", 2)
    try:
        return compile_system(spec, overrides or [], out)
    except SpecError as exc:
        _fail(exc.render(), 2)


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
    print(f"compiled {compiled.plan.name} {compiled.plan.model_version} -> {compiled.out_dir} ({len(compiled.files)} files, {len(changed)} changed)")


@app.command("diff")
def diff_cmd(spec: Annotated[Path, typer.Argument()], overrides: Overrides = None, out: OutDir = None) -> None:
    """What a compile would change: files, config keys, and the stages each change re-runs."""
    from mlwright.compiler.diff import rerun_stages, spec_changes
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
    stages = rerun_stages(compiled.plan, disk, compiled.files)
    print(f"\nStages re-run: {', '.join(stages) if stages else 'none'}")
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


def main() -> None:
    """Console entry point: user errors never show a traceback unless --debug."""
    debug = "--debug" in sys.argv
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
    except Exception as exc:
        from mlwright.errors import UserError

        if isinstance(exc, UserError):
            if debug:
                raise
            _err(str(exc))
            sys.exit(exc.exit_code)
        if debug:
            raise
        _err(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback; please report it)")
        sys.exit(3)
