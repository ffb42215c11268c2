"""The Weights & Biases side of experiment tracking, in the tracking worker's process.

W&B runs in offline mode: no account and no network, each run written under the
build folder (`.mlwright/wandb/wandb/offline-run-*/`) for `wandb sync` to upload
when the team wants it in their W&B. The worker protocol is MLflow's (`publish`,
`find`, `register`), mapped onto W&B's own terms:
- a published record is a run (`job_type` from the record's stage): params as its
  config, metrics as its summary, each search trial one step of its history plus a
  `trials` table, each artifact folder an artifact of the run;
- W&B offline cannot search its runs, so `published.json` beside them maps record
  ids to runs (publishing a record twice finds the first run);
- `register` is a `registry` run logging the bundle as the model artifact named
  after the system, aliased with the model version and `champion`, W&B's way of
  pointing at the served model.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlwright.runtime.atomic import write_json
from mlwright.runtime.stores.tracking import RECORD_TAG

INDEX = "published.json"
TAG_LIMIT = 64  # W&B's longest tag


@dataclass
class Store:
    directory: Path
    project: str
    index: dict[str, Any] = field(default_factory=dict)  # records -> runs, runs -> artifact folders


def open_store(cfg: dict[str, Any]) -> Store:
    """W&B configured to stay inside the build folder and off the network."""
    if cfg["uri"] != "offline":
        raise ValueError(f"the wandb backend writes offline runs only, not {cfg['uri']!r}")
    directory = Path(cfg["wandb_dir"])
    directory.mkdir(parents=True, exist_ok=True)
    for name, sub in (("WANDB_CACHE_DIR", "cache"), ("WANDB_CONFIG_DIR", "config"), ("WANDB_DATA_DIR", "data")):
        os.environ[name] = str(directory / sub)
    os.environ.update({"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CONSOLE": "off"})
    try:
        import wandb  # noqa: F401 - here, so a missing package is one line before any run starts
    except ImportError:
        raise RuntimeError("training.tracking.backend: wandb needs W&B: pip install 'mlwright[wandb]'") from None

    index_file = directory / INDEX
    index = json.loads(index_file.read_text()) if index_file.is_file() else {}
    return Store(directory, cfg["experiment"], {"records": {}, "runs": {}, **index})


def artifact_name(*parts: str) -> str:
    """W&B artifact names take letters, digits, `-`, `_` and `.` only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(parts)).strip("-")


def tags_of(tags: dict[str, str]) -> list[str]:
    return [f"{k}={v}"[:TAG_LIMIT] for k, v in sorted(tags.items())]


def start(store: Store, name: str, job_type: str, config: dict[str, Any], tags: list[str]) -> Any:
    import wandb

    return wandb.init(
        project=store.project,
        name=name,
        job_type=job_type,
        config=config,
        tags=tags,
        dir=str(store.directory),
        mode="offline",
        reinit="create_new",
        settings=wandb.Settings(console="off", save_code=False, disable_git=True, silent=True),
    )


def publish(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    """One offline run per record; a record published before returns its run."""
    import wandb

    record_id = record["tags"].get(RECORD_TAG)
    if record_id and record_id in store.index["records"]:
        return {"run_id": store.index["records"][record_id]}
    run = start(
        store, record["name"], record["tags"].get("stage", record["name"]), record["params"], tags_of(record["tags"])
    )
    trials = record["trials"]
    for step, trial in enumerate(trials):
        run.log({f"trial/{k}": v for k, v in trial["metrics"].items()}, step=step)
    if trials:
        params = sorted({k for t in trials for k in t["params"]})
        metrics = sorted({k for t in trials for k in t["metrics"]})
        table = wandb.Table(columns=["trial", *params, *metrics])
        for t in trials:
            table.add_data(t["name"], *(t["params"].get(k) for k in params), *(t["metrics"].get(k) for k in metrics))
        run.log({"trials": table}, step=len(trials))
    run.summary.update(record["metrics"])
    folders = {}
    for path, folder in sorted(record["artifacts"].items()):
        artifact = wandb.Artifact(artifact_name(store.project, record["name"], path), type=path)
        artifact.add_dir(folder)
        run.log_artifact(artifact)
        folders[path] = folder
    run_id = str(run.id)
    run.finish()
    store.index["runs"][run_id] = folders
    if record_id:
        store.index["records"][record_id] = run_id
    write_json(store.directory / INDEX, store.index)
    return {"run_id": run_id}


def find(store: Store, req: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": store.index["records"].get(req["record_id"])}


def register(store: Store, req: dict[str, Any]) -> dict[str, Any]:
    """The run's folder as the system's model artifact, aliased with its version and
    `champion`; W&B numbers artifact versions when it syncs, so the alias is the name."""
    import wandb

    folder = store.index["runs"].get(req["run_id"], {}).get(req["path"])
    if folder is None or not Path(folder).is_dir():
        raise ValueError(f"run {req['run_id']} has no '{req['path']}' folder to register")
    tags = req["tags"]
    run = start(store, f"register {req['model']}", "registry", {"source_run": req["run_id"], **tags}, tags_of(tags))
    artifact = wandb.Artifact(artifact_name(req["model"]), type="model", metadata={"source_run": req["run_id"], **tags})
    artifact.add_dir(folder)
    run.log_artifact(artifact, aliases=[tags["model_version"], "champion"])
    run.finish()
    return {"version": f"{artifact_name(req['model'])}:{tags['model_version']}"}
