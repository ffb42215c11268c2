"""Experiment tracking through MLflow (SQLite backend under the build folder by default).

MLflow is imported here only, on first use, never on the compile path. The
tracking URI comes from the spec (`training.tracking.uri`, an env reference by
default); `none` turns tracking off for throwaway runs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .context import UserError, resolve_env


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

    def _client(self) -> Any:
        if self._mlflow is None:
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
            self._mlflow = mlflow
        return self._mlflow

    @contextmanager
    def run(self, name: str, *, nested: bool = False, tags: dict[str, str] | None = None) -> Iterator[Any]:
        if not self.enabled:
            yield None
            return
        mlflow = self._client()
        with mlflow.start_run(run_name=name, nested=nested, tags=tags or {}) as active:
            yield active

    def log(self, params: dict[str, Any] | None = None, metrics: dict[str, float] | None = None) -> None:
        if not self.enabled:
            return
        mlflow = self._client()
        if params:
            mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        if metrics:
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and v == v})

    def log_artifacts(self, folder: Path, path: str) -> None:
        if self.enabled:
            self._client().log_artifacts(str(folder), artifact_path=path)

    def register(self, name: str, run_id: str, path: str, version_tag: str, tags: dict[str, str]) -> str | None:
        """Register the run's model folder; returns the registry's version number."""
        if not self.enabled:
            return None
        mlflow = self._client()
        client = mlflow.tracking.MlflowClient()
        try:
            client.get_registered_model(name)
        except Exception:
            client.create_registered_model(name, tags={"system": name})
        source = f"runs:/{run_id}/{path}"
        mv = client.create_model_version(
            name, source=source, run_id=run_id, tags={"model_version": version_tag, **tags}
        )
        client.set_registered_model_alias(name, "champion", mv.version)
        return str(mv.version)
