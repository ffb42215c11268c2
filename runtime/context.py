"""What every stage gets: its build folder, the typed contract, and one way to fail.

A stage runs with the build folder as working directory (DVC's `wdir`), parses
`params.yaml` into the contract (`mlwright.contract.Params`) once at start, reads
typed attributes of its own section (and the keys of others it declares to DVC),
and reports a user-facing failure by
raising `UserError` / `GateFailed`; `stage_main` turns those into one line on
stderr and the exit code, never a traceback (unless MLWRIGHT_DEBUG=1).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mlwright.contract import IR_VERSION, Params
from mlwright.contract.errors import GateFailed, StageCrashed, UserError

__all__ = ["GateFailed", "StageContext", "UserError", "load_context", "resolve_env", "stage_main"]


def resolve_env(value: Any) -> Any:
    """Resolve `${oc.env:NAME,default}` references (OmegaConf semantics) at run time."""
    if isinstance(value, dict):
        return {k: resolve_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v) for v in value]
    if isinstance(value, str) and "${" in value:
        from omegaconf import OmegaConf

        resolved: Any = OmegaConf.to_container(OmegaConf.create({"v": value}), resolve=True)
        return resolved["v"]
    return value


@dataclass
class StageContext:
    root: Path  # the build folder
    params: Params  # params.yaml, parsed (and, with MLWRIGHT_TRACK_READS, recording each read)

    def path(self, rel: str) -> Path:
        return self.root / rel

    def source_root(self) -> Path:
        return (self.root / self.params.ingest.source_root).resolve()


def load_context(root: Path | None = None) -> StageContext:
    root = Path(root or Path.cwd())
    params_file = root / "params.yaml"
    if not params_file.is_file():
        raise UserError(f"{root}: not a compiled mlwright folder (no params.yaml); run `mlwright compile` first")
    check_ir_version(root)
    params = parsed_params(params_file)
    from mlwright.runtime.read_tracking import enabled, tracked_params

    return StageContext(root.resolve(), tracked_params(params) if enabled() else params)


def parsed_params(params_file: Path) -> Params:
    """The contract, parsed and checked once: a file that does not fit it (hand-edited, or
    written by another compiler) is refused naming the file and the first key."""
    try:
        with params_file.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        return Params.model_validate(data)
    except yaml.YAMLError as exc:
        raise UserError(f"{params_file}: not valid YAML ({exc}); recompile with `mlwright compile SPEC`") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise UserError(
            f"{params_file}: {key}: {err['msg']}; recompile the spec with this mlwright (`mlwright compile SPEC`)"
        ) from None


# The shape of params.yaml this runtime reads: the contract's version, shared with the
# compiler that writes it. A build folder compiled by another version is refused, naming
# the fix, before a key that moved is read.
LOCK = "mlwright.lock.json"


def check_ir_version(root: Path) -> None:
    import json

    lock = root / LOCK
    try:
        found = json.loads(lock.read_text(encoding="utf-8")).get("ir_version") if lock.is_file() else None
    except ValueError:
        raise UserError(f"{lock}: not valid JSON; recompile with `mlwright compile SPEC`") from None
    if found is not None and found != IR_VERSION:
        raise UserError(
            f"{lock}: compiled for IR version {found}, and this mlwright reads version {IR_VERSION}; "
            "recompile the spec with this mlwright (`mlwright compile SPEC`)"
        )


def say(text: str) -> None:
    print(text, flush=True)


def stage_main(name: str, run: Callable[[StageContext], Any]) -> None:
    """Run one stage as a command: errors become one line and an exit code."""
    started = time.perf_counter()
    from mlwright.runtime.lifetime import die_with_parent

    die_with_parent()  # DVC killed: this stage stops too, instead of running on as an orphan
    from mlwright.runtime.read_tracking import start

    start(name)  # MLWRIGHT_TRACK_READS: which settings this stage reads, for the test that holds every one acts
    try:
        ctx = load_context()
        from mlwright.runtime.lock_integrity import refuse_changed_inputs

        refuse_changed_inputs(ctx.root, name)
        run(ctx)
    except UserError as exc:
        if os.environ.get("MLWRIGHT_DEBUG"):
            raise
        sys.stderr.write(f"{name}: {exc}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write(f"{name}: interrupted\n")
        sys.exit(130)
    except Exception as exc:  # a crash: the traceback for the log, one line for the reader, its own exit code
        if os.environ.get("MLWRIGHT_DEBUG"):
            raise
        traceback.print_exc(file=sys.stderr)
        sys.stderr.write(f"{name}: internal error: {type(exc).__name__}: {exc}\n")
        sys.exit(StageCrashed.exit_code)
    say(f"{name}: done in {time.perf_counter() - started:.1f}s")
