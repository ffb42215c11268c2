"""The MLflow side of experiment tracking, in its own process (W&B's: `tracking_wandb`).

Importing MLflow and opening its SQLite store takes ~2.5 s of pure-Python CPU. In a
thread of the caller that time holds the GIL against the caller's own Python work;
in a process it runs on the other core while the caller works (`register` re-runs
the final fit meanwhile), and the caller never imports MLflow at all.

Protocol (one JSON object per line): the first line on stdin configures the store
(uri, experiment, artifact root); the worker answers `{"ok": true}` once the
experiment is open or `{"ok": false, "error": ...}`. Then each request
(`publish` or `register`) gets one reply. End of input ends the worker.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlwright.runtime.stores.tracking import RECORD_TAG


@dataclass
class Store:
    client: Any  # mlflow.tracking.MlflowClient
    experiment_id: str


def open_store(cfg: dict[str, Any]) -> Store:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    # an unreachable server should fail the stage in seconds, not after minutes of backoff
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    from mlflow.tracking import MlflowClient

    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.ERROR)
    uri = cfg["uri"]
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name(cfg["experiment"])
    if experiment is not None:
        return Store(client, experiment.experiment_id)
    return Store(client, client.create_experiment(cfg["experiment"], artifact_location=cfg["artifact_location"]))


def publish(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    """The run, one nested run per trial, params, metrics and artifact folders.

    Through the client rather than `mlflow.start_run`: the fluent API resolves run
    context (git, notebooks, Databricks jobs; it imports IPython) for tags we set
    ourselves. A record published before (its tag is found on a finished run) is
    not logged twice; an unfinished one, cut off mid-publish, is replaced."""
    from mlflow.entities import Metric, Param, RunStatus

    client, exp = store.client, store.experiment_id
    for old in stashed_runs(store, record["tags"].get(RECORD_TAG)):
        if old.info.status == RunStatus.to_string(RunStatus.FINISHED):
            return {"run_id": str(old.info.run_id)}
        client.delete_run(old.info.run_id)
    now = int(time.time() * 1000)

    def log(run_id: str, params: dict[str, str], metrics: dict[str, float]) -> None:
        p, m = list(params.items()), list(metrics.items())
        for i in range(0, max(len(p), len(m)), 100):  # MLflow takes at most 100 params per batch
            client.log_batch(
                run_id,
                metrics=[Metric(k, v, now, 0) for k, v in m[i : i + 100]],
                params=[Param(k, v) for k, v in p[i : i + 100]],
            )

    tags = {"mlflow.user": user(), "mlflow.source.type": "JOB", "mlflow.source.name": "mlwright"}
    run_id = client.create_run(exp, run_name=record["name"], tags={**tags, **record["tags"]}).info.run_id
    log(run_id, record["params"], record["metrics"])
    for trial in record["trials"]:
        child = client.create_run(exp, run_name=trial["name"], tags={**tags, "mlflow.parentRunId": run_id})
        log(child.info.run_id, trial["params"], trial["metrics"])
        client.set_terminated(child.info.run_id)
    for path, folder in record["artifacts"].items():
        client.log_artifacts(run_id, folder, artifact_path=path)
    client.set_terminated(run_id)  # last: a finished run is a complete one
    return {"run_id": str(run_id)}


def stashed_runs(store: Store, record_id: str | None) -> list[Any]:
    if not record_id:
        return []
    runs: list[Any] = store.client.search_runs(
        [store.experiment_id], filter_string=f"tags.`{RECORD_TAG}` = '{record_id}'"
    )
    return runs


def find(store: Store, req: dict[str, Any]) -> dict[str, Any]:
    """The finished run a stashed record became (None when it has not been published)."""
    from mlflow.entities import RunStatus

    done = [
        r for r in stashed_runs(store, req["record_id"]) if r.info.status == RunStatus.to_string(RunStatus.FINISHED)
    ]
    return {"run_id": str(done[0].info.run_id) if done else None}


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with neither $USER nor a passwd entry
        return str(os.getuid())


def register(store: Store, req: dict[str, Any]) -> dict[str, Any]:
    """A registry version of the run's folder, aliased `champion`."""
    client = store.client
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
    handlers: dict[str, Any] = {"publish": publish, "register": register, "find": find}
    opener: Any = open_store
    if cfg["backend"] == "wandb":
        from mlwright.runtime.stores import tracking_wandb

        opener = tracking_wandb.open_store
        handlers = {"publish": tracking_wandb.publish, "register": tracking_wandb.register, "find": tracking_wandb.find}
    try:
        store = opener(cfg)
    except Exception as exc:  # MLflow raises many types for an unusable store
        reply(failure(exc))
        return
    reply({"ok": True})
    for line in sys.stdin:
        req = json.loads(line)
        try:
            reply({"ok": True, **handlers[req["op"]](store, req)})
        except Exception as exc:
            reply(failure(exc))
    # every reply followed a committed write: skip the seconds of interpreter teardown
    # (SQLAlchemy, MLflow's modules) the stage would otherwise wait for
    PROTOCOL.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
