"""Experiment tracking through MLflow (SQLite backend under the build folder by default)
or Weights & Biases in offline mode (`training.tracking.backend: wandb`).

A process talks to MLflow through a worker process (`tracking_worker`): `warm_up`
starts it early so MLflow's import and store opening (~2.5 s of CPU) overlap the
caller's own work, and the caller never imports MLflow (nor does anything on the
compile path). Everything is handed over at once with `publish`: the parent run,
one nested run per search trial, params, metrics and artifacts. `train` does not
start one: it stashes its run in the outbox (`outbox.py`), published by `register`
or at the end of `mlwright run`. The tracking URI comes from the spec
(`training.tracking.uri`, an env reference by default); `none` turns tracking off
for throwaway runs. The worker speaks the same protocol for both backends; W&B's
side is `tracking_wandb`, its offline runs under `.mlwright/wandb/` for `wandb sync`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mlwright.contract.train import Tracking
from mlwright.runtime.context import UserError, resolve_env

RECORD_TAG = "mlwright.record_id"  # a stashed run's id (see outbox): publishing it twice finds it
WANDB_DIR = ".mlwright/wandb"  # W&B's offline runs, under the build folder


@dataclass
class Trial:
    name: str
    params: dict[str, Any]
    metrics: dict[str, float]


@dataclass
class RunRecord:
    """What a stage tracks: the run, its trials, and the folders to attach."""

    name: str
    tags: dict[str, str]
    params: dict[str, Any]
    metrics: dict[str, float]
    artifacts: dict[str, Path] = field(default_factory=dict)
    trials: list[Trial] = field(default_factory=list)


class Tracker:
    def __init__(self, cfg: Tracking, root: Path):
        self.backend = cfg.backend
        uri = str(resolve_env(cfg.uri))
        if (
            self.backend == "mlflow" and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////")
        ):  # relative: to the build folder
            uri = f"sqlite:///{(root / uri[len('sqlite:///') :]).resolve()}"
        self.uri = uri
        self.experiment = cfg.experiment
        self.root = root
        self.enabled = self.uri.lower() != "none"
        self._worker: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self._opened = False

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def warm_up(self) -> None:
        """Start the worker; it opens the store while the stage works."""
        if not self.enabled or self._worker is not None:
            return
        self._stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 - lives as long as the worker; close() ends both
        try:
            self._worker = subprocess.Popen(
                [sys.executable, "-m", "mlwright.runtime.stores.tracking_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                text=True,
            )
        except OSError as exc:
            raise self._unusable(f"cannot start the tracking worker: {exc}") from None
        self._send(
            {
                "backend": self.backend,
                "uri": self.uri,
                "experiment": self.experiment,
                "artifact_location": self._artifact_location(),
                "wandb_dir": str((self.root / WANDB_DIR).resolve()),
            }
        )

    def _artifact_location(self) -> str | None:
        """Beside a local store, under the build folder; a tracking server keeps its own
        (its clients may be on other machines, where a local path means nothing)."""
        if self.backend != "mlflow" or self.uri.startswith(("http://", "https://", "databricks")):
            return None
        return (self.root / ".mlwright" / "mlartifacts").resolve().as_uri()

    def close(self) -> None:
        """End the worker (it exits at end of input); idempotent."""
        if self._worker is None:
            return
        if self._worker.stdin:
            self._worker.stdin.close()
        try:
            self._worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._worker.kill()
        if self._worker.stdout:
            self._worker.stdout.close()
        if self._stderr:
            self._stderr.close()
        self._worker = None

    def _send(self, payload: dict[str, Any]) -> None:
        assert self._worker is not None and self._worker.stdin is not None
        try:
            self._worker.stdin.write(json.dumps(payload) + "\n")
            self._worker.stdin.flush()
        except BrokenPipeError:
            raise self._unusable("the tracking worker exited") from None

    def _receive(self) -> dict[str, Any]:
        assert self._worker is not None and self._worker.stdout is not None
        line = self._worker.stdout.readline()
        if not line:
            raise self._unusable("the tracking worker exited")
        try:
            out: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            raise self._unusable(f"unexpected reply from the tracking worker: {line[:200]!r}") from None
        if not out["ok"]:
            raise self._unusable(out["error"])
        return out

    def _unusable(self, why: str) -> UserError:
        if why == "the tracking worker exited" and self._stderr is not None:
            self._stderr.seek(0)
            tail = self._stderr.read()[-300:].strip()
            why = f"{why}: {tail}" if tail else why
        where = f"W&B ({self.uri})" if self.backend == "wandb" else self.uri
        return UserError(f"experiment tracker at {where} is unusable: {why}")

    def _request(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.warm_up()
        if not self._opened:
            self._receive()  # the store opened (or the reason it did not)
            self._opened = True
        self._send(payload)
        return self._receive()

    def publish(self, record: RunRecord) -> str | None:
        """Log the run, its trials and artifacts; returns the run id (None when tracking is off)."""
        if not self.enabled:
            return None
        out = self._request(
            {
                "op": "publish",
                "name": record.name,
                "tags": record.tags,
                "params": self._params(record.params),
                "metrics": _finite(record.metrics),
                "trials": [
                    {"name": t.name, "params": self._params(t.params), "metrics": _finite(t.metrics)}
                    for t in record.trials
                ],
                "artifacts": {path: str(folder) for path, folder in record.artifacts.items()},
            }
        )
        return str(out["run_id"])

    def run_for(self, record_id: str) -> str | None:
        """The run id a stashed record (see outbox) was published as, if it was."""
        if not self.enabled:
            return None
        run_id = self._request({"op": "find", "record_id": record_id})["run_id"]
        return None if run_id is None else str(run_id)

    def register(self, name: str, run_id: str, path: str, version_tag: str, tags: dict[str, str]) -> str | None:
        """Register the run's model folder; returns the registry's version (MLflow's
        number; for W&B, `<model>:<version>`, the alias the artifact carries)."""
        if not self.enabled:
            return None
        out = self._request(
            {
                "op": "register",
                "model": name,
                "run_id": run_id,
                "path": path,
                "tags": {"model_version": version_tag, **tags},
            }
        )
        return str(out["version"])

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        """MLflow keeps params as text (500 characters at most); W&B's config keeps
        numbers as numbers, so a sweep over `num_leaves` plots as one."""
        if self.backend == "wandb":
            return {k: _plain(v) for k, v in params.items()}
        return {k: str(v)[:500] for k, v in params.items()}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "item"):  # a NumPy scalar
        return value.item()
    return str(value)[:500]


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool) and v == v
    }
