"""Experiment tracking through MLflow (SQLite backend under the build folder by default).

MLflow is imported here only, never on the compile path. Opening its SQLite store
costs seconds (import, schema migrations), so `warm_up` starts that in a thread
while the stage trains (LightGBM and torch release the GIL), and the stage hands
everything over once at the end with `publish`: the parent run, one nested run
per search trial, params, metrics and artifacts. The tracking URI comes from the
spec (`training.tracking.uri`, an env reference by default); `none` turns
tracking off for throwaway runs.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .context import UserError, resolve_env


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
    def __init__(self, cfg: dict[str, Any], root: Path):
        uri = str(resolve_env(cfg["uri"]))
        if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):  # relative: to the build folder
            uri = f"sqlite:///{(root / uri[len('sqlite:///') :]).resolve()}"
        self.uri = uri
        self.experiment = cfg["experiment"]
        self.root = root
        self.enabled = self.uri.lower() != "none"
        self._mlflow: Any = None
        self._error: UserError | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def warm_up(self) -> None:
        """Open the store in the background; `publish` waits for it."""
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._open_quietly, name="mlwright-tracking", daemon=True)
            self._thread.start()

    def _open_quietly(self) -> None:
        try:
            self._client()
        except UserError as exc:
            self._error = exc

    def _client(self) -> Any:
        with self._lock:
            if self._mlflow is None:
                self._mlflow = self._open()
            return self._mlflow

    def _open(self) -> Any:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
        import mlflow

        for name in ("mlflow", "alembic", "sqlalchemy"):
            logging.getLogger(name).setLevel(logging.ERROR)
        if self.uri.startswith("sqlite:///"):
            Path(self.uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(self.uri)
        try:
            if mlflow.get_experiment_by_name(self.experiment) is None:
                artifacts = (self.root / ".mlwright" / "mlartifacts").resolve().as_uri()
                mlflow.create_experiment(self.experiment, artifact_location=artifacts)
            mlflow.set_experiment(self.experiment)
        except Exception as exc:  # MLflow raises many types for an unreachable server
            raise UserError(
                f"experiment tracker at {self.uri} is unusable: {type(exc).__name__}: {str(exc)[:200]}"
            ) from None
        return mlflow

    def _ready(self) -> Any:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._client()

    def publish(self, record: RunRecord) -> str | None:
        """Log the run, its trials and artifacts; returns the run id (None when tracking is off)."""
        if not self.enabled:
            return None
        mlflow = self._ready()
        with mlflow.start_run(run_name=record.name, tags=record.tags) as active:
            mlflow.log_params({k: str(v)[:500] for k, v in record.params.items()})
            mlflow.log_metrics(_finite(record.metrics))
            for trial in record.trials:
                with mlflow.start_run(run_name=trial.name, nested=True):
                    mlflow.log_params({k: str(v)[:500] for k, v in trial.params.items()})
                    mlflow.log_metrics(_finite(trial.metrics))
            for path, folder in record.artifacts.items():
                mlflow.log_artifacts(str(folder), artifact_path=path)
            return str(active.info.run_id)

    def register(self, name: str, run_id: str, path: str, version_tag: str, tags: dict[str, str]) -> str | None:
        """Register the run's model folder; returns the registry's version number."""
        if not self.enabled:
            return None
        client = self._ready().tracking.MlflowClient()
        try:
            client.get_registered_model(name)
        except Exception:
            client.create_registered_model(name, tags={"system": name})
        mv = client.create_model_version(
            name, source=f"runs:/{run_id}/{path}", run_id=run_id, tags={"model_version": version_tag, **tags}
        )
        client.set_registered_model_alias(name, "champion", mv.version)
        return str(mv.version)


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool) and v == v
    }
