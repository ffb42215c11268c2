"""Driving the emitted DVC pipeline: `mlwright run`, `status`, `push`, `pull`.

DVC does the real work (what changed, what to skip, caching); this module finds
or creates the DVC repository, checks the sources against the manifest before
anything runs, and turns DVC's output into a short account of each stage.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlwright.contract.errors import StageCrashed
from mlwright.runtime.context import GateFailed, StageContext, UserError, load_context
from mlwright.runtime.lifetime import die_with_parent
from mlwright.runtime.stores.remote import remote_url

_RUNNING = re.compile(r"Running stage '([^']+)'")
_SKIP = re.compile(r"Stage '([^']+)' didn't change, skipping")
_FAILED = re.compile(r"failed to reproduce '([^']+)'")
_EXIT = re.compile(r"exited with (\d+)")


def dvc_env(**extra: str) -> dict[str, str]:
    """PATH with this interpreter first, so stages run `python3` from the same environment."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("DVC_NO_ANALYTICS", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra)
    return env


def dvc(args: list[str], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=dvc_env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise UserError(f"dvc {' '.join(args)} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    return proc


def _git_root(path: Path) -> Path | None:
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=path, capture_output=True, text=True)
    return Path(proc.stdout.strip()) if proc.returncode == 0 else None


def existing_dvc_root(build: Path) -> Path | None:
    return next((c for c in (build, *build.parents) if (c / ".dvc").is_dir()), None)


def dvc_root(build: Path, source_root: Path) -> Path:
    """The DVC repository holding `build`; created (at the git root, or beside the data) if none."""
    found = existing_dvc_root(build)
    if found is not None:
        return found
    git = _git_root(build)
    if git is not None:
        dvc(["init", "--quiet"], git)
        return git
    common = Path(os.path.commonpath([build.resolve(), source_root.resolve()]))
    dvc(["init", "--no-scm", "--quiet"], common)
    return common


def check_build(build: Path) -> None:
    if not (build / "dvc.yaml").is_file() or not (build / "params.yaml").is_file():
        raise UserError(
            f"{build}: not a compiled mlwright folder (no dvc.yaml); run `mlwright compile SPEC -o {build}`"
        )


@dataclass
class RunResult:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    published: int = 0  # waiting train runs published to the tracker at the end


def verify_sources(build: Path) -> list[Any]:
    from mlwright.runtime.stages.ingest import MANIFEST, verify

    ctx = load_context(build)
    return verify(ctx) if (build / MANIFEST).is_file() else []


def run_pipeline(
    build: Path, *, stage: str | None, force: bool, new_data: bool, on_line: Callable[[str], None]
) -> RunResult:
    """verify -> dvc repro; raises GateFailed/UserError with the stage's own reason."""
    check_build(build)
    build = build.resolve()
    ctx = load_context(build)
    if not new_data:
        changes = verify_sources(build)
        if changes:
            listing = "\n".join(f"  {c.what}: {c.path}" for c in changes)
            raise GateFailed(
                f"sources differ from the dataset version in data/manifest.csv:\n{listing}\n"
                "  hint: if this data is a new version, run `mlwright run --new-data` to ingest and validate it"
            )
    root = dvc_root(build, ctx.source_root())
    args = ["repro", str((build / "dvc.yaml").relative_to(root))]
    if stage:
        stages = _stage_names(build)
        if stage not in stages:
            raise UserError(f"--stage: unknown stage '{stage}' (stages: {', '.join(stages)})")
        missing_upstream(build, stage)
        args = ["repro", "--single-item", f"{(build / 'dvc.yaml').relative_to(root)}:{stage}"]
    if force:
        args.append("--force")
    started = time.perf_counter()
    result = RunResult()
    dvc_file = str((build / "dvc.yaml").relative_to(root))
    if new_data and not stage:  # sources DVC cannot watch (s3://) change too: ingest again first
        forced = ["repro", "--force", "--single-item", f"{dvc_file}:ingest"]
        repro(forced, root, build, result, on_line, dvc_env(MLWRIGHT_REHASH="1"))
    repro(args, root, build, result, on_line)
    result.published = publish_waiting_runs(ctx, on_line)
    result.seconds = time.perf_counter() - started
    return result


def repro(
    args: list[str],
    root: Path,
    build: Path,
    result: RunResult,
    on_line: Callable[[str], None],
    env: dict[str, str] | None = None,
) -> None:
    """One `dvc repro`, its lines streamed to `on_line` and counted into `result`; a
    stage that already ran in this `mlwright run` is not reported as skipped."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dvc", *args],
        cwd=root,
        env=env or dvc_env(),
        preexec_fn=die_with_parent,  # a killed `mlwright run` leaves no DVC behind
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        output.append(line)
        if m := _RUNNING.search(line):
            result.ran.append(m.group(1).split(":")[-1])
        elif m := _SKIP.search(line):
            if m.group(1).split(":")[-1] in result.ran:
                continue
            result.skipped.append(m.group(1).split(":")[-1])
        on_line(line.rstrip("\n"))
    if proc.wait() != 0:
        raise _failure("".join(output), build)


def publish_waiting_runs(ctx: StageContext, on_line: Callable[[str], None]) -> int:
    """Train runs no `register` published (`--stage train`, or register's inputs were
    unchanged): publish them now, so every run reaches the tracker by the end of `run`."""
    from mlwright.runtime.stores.outbox import OUTBOX, pending, publish_pending
    from mlwright.runtime.stores.tracking import Tracker

    waiting = pending(ctx.root)
    if not waiting:
        return 0
    on_line(f"tracking: publishing {len(waiting)} waiting run(s) from {OUTBOX}")
    with Tracker(ctx.params.train.tracking, ctx.root) as tracker:
        try:
            return len(publish_pending(ctx.root, tracker))
        except UserError as exc:
            raise UserError(f"{exc}; the run waits in {ctx.root / OUTBOX}") from None


def _failure(output: str, build: Path) -> UserError:
    """The failed stage's own reason, classified by how it exited: 1 with the stage's
    line is a gate, 2 bad input; anything else (a traceback, a signal, exit 3) is a
    crash, reported as one, with DVC's whole output kept in logs/ for the reader."""
    if "Unable to acquire lock" in output or "is busy, it is being blocked by" in output:
        return UserError(
            "another `mlwright run` (or `dvc repro`) is running in this repository and holds DVC's lock; "
            "wait for it to finish (or stop it), then run again"
        )
    m = _FAILED.search(output)
    stage = m.group(1).split(":")[-1] if m else "dvc"
    code = _EXIT.search(output[m.end() :] if m else output)
    exit_code = int(code.group(1)) if code else -1
    lines = output.splitlines()
    last = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith(f"{stage}:")), None)
    if last is None or exit_code not in (1, 2):
        log = crash_log(build, stage, output)
        tail = next((ln.strip() for ln in reversed(lines) if ln.strip() and not ln.startswith("ERROR")), "")
        why = lines[last] if last is not None else tail or f"exited with {exit_code}"
        return StageCrashed(
            f"stage '{stage}' crashed (an internal error, not a failed gate): {why}\n"
            f"  full output: {os.path.relpath(log) if log.is_relative_to(Path.cwd()) else log}"
        )
    detail = []
    for ln in lines[last + 1 :]:  # the stage's own detail lines follow, indented
        if not ln.startswith("  "):
            break
        detail.append(ln)
    extra = "\n".join(detail[:20])
    err = GateFailed if exit_code == 1 else UserError
    return err(f"stage '{stage}' failed: {lines[last]}" + (f"\n{extra}" if extra else ""))


def crash_log(build: Path, stage: str, output: str) -> Path:
    from mlwright.runtime.atomic import write_text

    log = build / "logs" / f"{stage}.crash.log"
    write_text(log, output)
    return log


def missing_upstream(build: Path, stage: str) -> None:
    """`--stage` runs one stage: refuse early, by name, when an upstream output is missing."""
    plan = json.loads((build / "plan.json").read_text())
    producer = {out: s["name"] for s in plan["stages"] for out in [*s["outs"], *s["metrics"]]}
    wanted = next(s for s in plan["stages"] if s["name"] == stage)
    absent = sorted({producer[d] for d in wanted["deps"] if d in producer and not (build / d).exists()})
    if absent:
        shown = os.path.relpath(build) if build.is_relative_to(Path.cwd()) else str(build)
        raise UserError(
            f"--stage {stage}: needs the outputs of {', '.join(absent)} first; run `mlwright run {shown}` (or --stage {absent[0]})"
        )


def _stage_names(build: Path) -> list[str]:
    plan = json.loads((build / "plan.json").read_text())
    return [s["name"] for s in plan["stages"]]


def status(build: Path) -> dict[str, list[str]]:
    """Stage -> reasons it is stale (changed params, deps or outs), downstream included.
    Read-only: without a DVC repository yet, every stage is simply never run."""
    check_build(build)
    build = build.resolve()
    root = existing_dvc_root(build)
    if root is None:
        return {name: ["never run (no DVC repository yet: `mlwright run` makes one)"] for name in _stage_names(build)}
    proc = dvc(["status", "--json", str((build / "dvc.yaml").relative_to(root))], root)
    raw = json.loads(proc.stdout or "{}")
    reasons: dict[str, list[str]] = {}
    for key, entries in raw.items():
        name = key.split(":")[-1]
        for entry in entries:
            if isinstance(entry, str):
                reasons.setdefault(name, []).append(entry)
                continue
            for kind, detail in entry.items():
                if isinstance(detail, dict):
                    for path, what in detail.items():
                        if isinstance(what, dict):  # params.yaml: {section: modified}
                            for k, v in what.items():
                                reasons.setdefault(name, []).append(f"changed param: {k} ({v})")
                        else:
                            reasons.setdefault(name, []).append(f"{kind}: {path} ({what})")
                else:
                    reasons.setdefault(name, []).append(f"{kind}: {detail}")
    plan = json.loads((build / "plan.json").read_text())
    order = [s["name"] for s in plan["stages"]]
    ups = {s["name"]: s["upstream"] for s in plan["stages"]}
    for name in order:
        stale_up = [u for u in ups[name] if u in reasons]
        if stale_up and name not in reasons:
            reasons[name] = [f"upstream stage '{stale_up[0]}' will re-run"]
    return {n: reasons[n] for n in order if n in reasons}


def synced(build: Path, action: str) -> str:
    """`dvc push` or `dvc pull` of this pipeline's outputs, through the spec's remote
    resolved now: handed to DVC in memory (`dvc_sync`), never written to its config."""
    from mlwright.runtime.stores.dvc_sync import URL_VARIABLE

    ctx = load_context(build)
    root = dvc_root(build.resolve(), ctx.source_root())
    url = remote_url(build)
    if "://" not in url:
        Path(url).mkdir(parents=True, exist_ok=True)
    target = str((build.resolve() / "dvc.yaml").relative_to(root))
    proc = subprocess.run(
        [sys.executable, "-m", "mlwright.runtime.stores.dvc_sync", action, str(root), target],
        cwd=root,
        env=dvc_env(**{URL_VARIABLE: url}),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise GateFailed(f"dvc {action} failed: {(proc.stderr or proc.stdout).strip()[-400:]}")
    return proc.stdout.strip()


def push(build: Path) -> str:
    from mlwright.runtime.commands.rebuild import push_sources

    sources = push_sources(load_context(build))
    return f"sources: {sources['files']} files ({sources['uploaded']} new); pipeline: {synced(build, 'push')}"


def pull(build: Path) -> str:
    return synced(build, "pull")
