"""The MLflow side of experiment tracking, in its own process.

Importing MLflow and opening its SQLite store takes ~3 s of pure-Python CPU. In a
thread of the training process that time holds the GIL against the stage's own
Python work; in a process it runs on the other core while the stage loads data and
trains, and the stage never imports MLflow at all.

Protocol (one JSON object per line): the first line on stdin configures the store
(uri, experiment, artifact root); the worker answers `{"ok": true}` once the
experiment is open or `{"ok": false, "error": ...}`. Then each request
(`publish` or `register`) gets one reply. End of input ends the worker.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any


def open_store(cfg: dict[str, Any]) -> Any:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    # an unreachable server should fail the stage in seconds, not after minutes of backoff
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    import mlflow

    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.ERROR)
    uri = cfg["uri"]
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(cfg["experiment"]) is None:
        mlflow.create_experiment(cfg["experiment"], artifact_location=cfg["artifact_location"])
    mlflow.set_experiment(cfg["experiment"])
    return mlflow


def publish(mlflow: Any, record: dict[str, Any]) -> dict[str, Any]:
    """The run, one nested run per trial, params, metrics and artifact folders."""
    with mlflow.start_run(run_name=record["name"], tags=record["tags"]) as active:
        mlflow.log_params(record["params"])
        mlflow.log_metrics(record["metrics"])
        for trial in record["trials"]:
            with mlflow.start_run(run_name=trial["name"], nested=True):
                mlflow.log_params(trial["params"])
                mlflow.log_metrics(trial["metrics"])
        for path, folder in record["artifacts"].items():
            mlflow.log_artifacts(folder, artifact_path=path)
        return {"run_id": str(active.info.run_id)}


def register(mlflow: Any, req: dict[str, Any]) -> dict[str, Any]:
    """A registry version of the run's folder, aliased `champion`."""
    client = mlflow.tracking.MlflowClient()
    name = req["model"]
    try:
        client.get_registered_model(name)
    except Exception:  # MLflow signals "not found" with several exception types
        client.create_registered_model(name, tags={"system": name})
    mv = client.create_model_version(
        name, source=f"runs:/{req['run_id']}/{req['path']}", run_id=req["run_id"], tags=req["tags"]
    )
    client.set_registered_model_alias(name, "champion", mv.version)
    return {"version": str(mv.version)}


PROTOCOL: Any = None  # the stage's pipe; fd 1 itself goes to stderr (see main)


def reply(payload: dict[str, Any]) -> None:
    PROTOCOL.write(json.dumps(payload) + "\n")
    PROTOCOL.flush()


def failure(exc: Exception) -> dict[str, Any]:
    return {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}


def main() -> None:
    global PROTOCOL
    # MLflow prints run links to stdout for some stores: keep the pipe for replies only
    PROTOCOL = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # background work: training threads come first, the worker takes the idle core time
    os.nice(10)
    cfg = json.loads(sys.stdin.readline())
    try:
        mlflow = open_store(cfg)
    except Exception as exc:  # MLflow raises many types for an unusable store
        reply(failure(exc))
        return
    reply({"ok": True})
    handlers = {"publish": publish, "register": register}
    for line in sys.stdin:
        req = json.loads(line)
        try:
            reply({"ok": True, **handlers[req["op"]](mlflow, req)})
        except Exception as exc:
            reply(failure(exc))
    # every reply followed a committed write: skip the seconds of interpreter teardown
    # (SQLAlchemy, MLflow's modules) the stage would otherwise wait for
    PROTOCOL.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
