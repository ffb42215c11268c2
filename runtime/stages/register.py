"""Stage 5b, `register`: reproduce, then register.

Re-runs the final fit with the same seed, parameters and data version. Only when
every metric matches the candidate's within `register.tolerance`, and the test
metric clears `register.min_metric`, does the model enter the registry (MLflow,
version tag = the spec's version) and `models/registered/` become the bundle
that serving and monitoring use. Otherwise the stage exits 1 saying which metric
moved by how much.
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pyarrow as pa

from mlwright.contract.featurize import ImageTransform, OnlineStore, RowFeature
from mlwright.contract.metrics import HIGHER_IS_BETTER
from mlwright.contract.serve import ServeParams
from mlwright.runtime.atomic import replace_dir, staging_dir, write_json, write_text
from mlwright.runtime.compute import LocalEngine, compute_of, open_engine
from mlwright.runtime.context import GateFailed, StageContext, UserError, say, stage_main
from mlwright.runtime.models.bundle import (
    BUNDLE_FILE,
    REGISTERED,
    Bundle,
    BundleServing,
    ConceptBaseline,
    DicomColumns,
    SliceBaseline,
    content_hashes,
    reference_profile,
    save_reference,
)
from mlwright.runtime.stages.train import (
    CANDIDATE,
    CANDIDATE_STATUS,
    distributed_fit,
    final_fit,
    final_trainer,
    prepare,
)
from mlwright.runtime.stores.outbox import OUTBOX, publish_pending
from mlwright.runtime.stores.tracking import RunRecord, Tracker

COMPARED = ("validation", "test")


def metric_differences(a: dict[str, Any], b: dict[str, Any], tolerance: float) -> list[str]:
    out = []
    for part in COMPARED:
        for key, va in a.get(part, {}).items():
            vb = b.get(part, {}).get(key)
            comparable = isinstance(va, float) and isinstance(vb, float) and not (np.isnan(va) and np.isnan(vb))
            if comparable and abs(va - vb) > tolerance:
                out.append(f"{part}.{key}: {va:.6f} vs {vb:.6f} (|diff| {abs(va - vb):.6f} > {tolerance})")
    if (
        a.get("threshold") is not None
        and b.get("threshold") is not None
        and abs(a["threshold"] - b["threshold"]) > tolerance
    ):
        out.append(f"threshold: {a['threshold']:.6f} vs {b['threshold']:.6f}")
    return out


def _profile_values(col: Any, numeric: bool) -> Any:
    if numeric and (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        return col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return [None if v is None else str(v).lower() if isinstance(v, bool) else str(v) for v in col.to_pylist()]


def input_columns(p: Any, serve: ServeParams, ctx: StageContext) -> dict[str, Any]:
    """Training-slice values for the reference profile: every request input (and image
    summaries), and every other model feature (windows, joins, derived), so monitoring
    watches what the model sees, not only what a request carries."""
    train_rows = pa.array(p.split.train)
    cols: dict[str, Any] = {}
    for name, kind in serve.inputs.items():
        if name == "image" or name not in p.table.column_names or name == serve.entity:
            continue
        cols[name] = _profile_values(p.table.column(name).take(train_rows), kind in ("int", "float"))
    for name in p.meta["features"]:
        if name in cols or name == serve.entity or name not in p.table.column_names:
            continue
        col = p.table.column(name).take(train_rows)
        cols[name] = _profile_values(col, not pa.types.is_dictionary(col.type) and not pa.types.is_string(col.type))
    stats_file = ctx.path(ctx.params.featurize.offline_path) / "image_stats.npy"
    if "image" in serve.inputs and stats_file.is_file():
        stats = np.load(stats_file)[p.split.train]
        cols["image_mean"], cols["image_std"] = stats[:, 0], stats[:, 1]
    return cols


def image_source_metadata(ctx: StageContext) -> DicomColumns | None:
    """How the image source's DICOM headers map to columns (batch scoring reads DICOM too)."""
    image = ctx.params.featurize.image
    if not image:
        return None
    source = next(s for s in ctx.params.ingest.sources if s.name == image.source)
    metadata = {k: list(v) for k, v in source.metadata.items()} if source.format == "dicom" else {}
    return DicomColumns(columns=dict(source.columns), metadata=metadata)


def train_run_id(ctx: StageContext, tracker: Tracker, record_id: str | None) -> str | None:
    """Publish the waiting train runs; the candidate's run id (None with tracking off)."""
    published = publish_pending(ctx.root, tracker)
    if record_id is None:
        return None
    return published.get(record_id) or tracker.run_for(record_id)


def run(ctx: StageContext) -> dict[str, Any]:
    with Tracker(ctx.params.register_.tracking, ctx.root) as tracker:
        tracker.warm_up()  # opens in its own process while the re-run trains
        return reproduce_and_register(ctx, tracker)


def reproduce_and_register(ctx: StageContext, tracker: Tracker) -> dict[str, Any]:
    """Register the candidate only if a re-run reproduces its metrics (when asked) and its
    test metric clears `register.min_metric`; otherwise say why, register nothing."""
    cfg, reg = ctx.params.train, ctx.params.register_
    candidate = ctx.path(CANDIDATE)
    if not (candidate / "model.json").is_file():
        raise UserError(f"{candidate}: no candidate model; run train first")
    model_meta = json.loads((candidate / "model.json").read_text())
    trained = json.loads(ctx.path("reports/metrics.json").read_text())
    p = prepare(ctx)
    if p.meta["dataset_version"] != model_meta["dataset_version"]:
        raise GateFailed("the candidate was trained on another dataset version; re-run train")
    diffs = rerun_differences(ctx, p, model_meta, trained) if reg.reproduce else []
    name = cfg.metric.name
    test_value = trained["test"][name]
    report: dict[str, Any] = {
        "model_version": reg.model_version,
        "reproduced": (not diffs) if reg.reproduce else None,  # None: not re-run, so not known
        "differences": diffs,
        "tolerance": reg.tolerance,
        "test_metric": {name: test_value},
        "min_metric": reg.min_metric,
        "registered": False,
        "registry_version": None,
    }
    why = f"metrics did not reproduce: {'; '.join(diffs)}" if diffs else below_floor(name, test_value, reg.min_metric)
    if why:
        refuse(ctx, tracker, report, why)
    report["train_run_id"] = train_run_id(ctx, tracker, trained.get("tracking_record"))
    bundle = registered_bundle(ctx, p, model_meta, trained)
    report["registry_version"] = publish_bundle(ctx, tracker, bundle, trained, report["train_run_id"])
    report["registered"] = True
    write_json(ctx.path("reports/register.json"), report)
    how = f"metrics reproduced within {reg.tolerance}" if reg.reproduce else "not re-run: register.reproduce is false"
    say(f"register: {reg.name} {reg.model_version} registered ({how}; registry version {report['registry_version']})")
    return report


def rerun_differences(ctx: StageContext, p: Any, model_meta: dict[str, Any], trained: dict[str, Any]) -> list[str]:
    """The final fit again, same data, parameters and seed (distributed when train's was):
    each metric that moved by more than `register.tolerance`."""
    cfg = ctx.params.train
    say("register: re-running the final fit with the same seed, to check the metrics reproduce")
    started = time.perf_counter()
    compute = compute_of(ctx)
    engine = open_engine(compute, "register") if distributed_fit(cfg, compute, p) else nullcontext(LocalEngine())
    with engine as e:
        _model, reproduced = final_fit(cfg, p, model_meta["params"], final_trainer(cfg, compute, e, p))
    say(f"register: re-run done in {time.perf_counter() - started:.1f}s")
    return metric_differences(trained, reproduced, ctx.params.register_.tolerance)


def below_floor(name: str, value: float, floor: float | None) -> str:
    """Why the test metric misses `register.min_metric` (by the metric's direction); "" if it does not."""
    if floor is None:
        return ""
    higher = HIGHER_IS_BETTER[name]
    if (value < floor) if higher else (value > floor):
        return f"test {name} {value:.4f} is {'below' if higher else 'above'} register.min_metric {floor}"
    return ""


def refuse(ctx: StageContext, tracker: Tracker, report: dict[str, Any], why: str) -> NoReturn:
    """Nothing registered (an earlier registration is removed), the report says why."""
    write_json(ctx.path("reports/register.json"), report)
    shutil.rmtree(ctx.path(REGISTERED), ignore_errors=True)
    try:  # a refused candidate's run is still a run: it goes to the tracker
        publish_pending(ctx.root, tracker)
    except UserError as exc:
        say(f"register: {exc}; the train run waits in {OUTBOX}")
    raise GateFailed(f"not registered: {why}")


def registered_bundle(ctx: StageContext, p: Any, model_meta: dict[str, Any], trained: dict[str, Any]) -> Bundle:
    """models/registered/: the candidate's files, the monitoring reference, the model card
    and bundle.json (what serving, batch scoring and monitoring need), written last with
    the hashes of the others, and swapped into place whole."""
    cfg, reg, serve = ctx.params.train, ctx.params.register_, ctx.params.serve
    stage = staging_dir(ctx.path(REGISTERED))
    for f in ctx.path(CANDIDATE).iterdir():
        shutil.copy2(f, stage / f.name)
    # the reference profile and the concept baseline are built here, from register's own
    # params section: a change of bins or concept metric re-runs register (and says so in diff)
    save_reference(stage / "reference", reference_profile(input_columns(p, serve, ctx), reg.reference_bins))
    write_registered_card(ctx, stage)
    bundle = Bundle(
        bundle_version=1,
        name=reg.name,
        model_version=reg.model_version,
        backend=model_meta["backend"],
        task=model_meta["task"],
        threshold=model_meta["threshold"],
        preprocessor=model_meta["preprocessor"],
        features=model_meta["features"],
        feature_names=model_meta["feature_names"],
        image=ImageTransform.model_validate(model_meta["image"]) if model_meta["image"] else None,
        dataset_version=model_meta["dataset_version"],
        feature_set_hash=model_meta["feature_set_hash"],
        positive_class=model_meta.get("positive_class"),
        classes=model_meta.get("classes"),
        metric=cfg.metric.model_copy(),
        test_metrics=trained["test"],
        feature_importance=trained.get("feature_importance", {}),
        baseline=concept_baseline(trained, reg.concept_metric, cfg.metric.name),
        serving=serving_section(ctx),
        files=content_hashes(stage),  # last: bundle.json holds the other files' hashes
    )
    write_json(stage / BUNDLE_FILE, bundle.model_dump(mode="json"))
    replace_dir(stage, ctx.path(REGISTERED))
    return bundle


def concept_baseline(trained: dict[str, Any], metric: str, fallback: str) -> ConceptBaseline:
    """The concept metric on the test slice, overall and per slice."""
    return ConceptBaseline(
        metric=metric,
        value=trained["test"].get(metric, trained["test"].get(fallback)),
        slices={
            f"{col}={v}": SliceBaseline(value=s.get(metric), rows=s["rows"])
            for col, vals in trained.get("slices", {}).items()
            for v, s in vals.items()
        },
    )


def serving_section(ctx: StageContext) -> BundleServing:
    """What serving needs of the features and the request, carried in the bundle."""
    cfg, serve, featurize = ctx.params.train, ctx.params.serve, ctx.params.featurize
    return BundleServing(
        entity=serve.entity,
        target=cfg.target,
        timestamp=cfg.timestamp,
        inputs=dict(serve.inputs),
        rename=dict(serve.rename),
        # copied through a dump: under MLWRIGHT_TRACK_READS the section is a recording stand-in, not the model
        row_features=tuple(RowFeature.model_validate(f.model_dump()) for f in featurize.row_features),
        window_counts=tuple(f.name for f in featurize.window_features if f.counts),
        online=OnlineStore.model_validate(featurize.online.model_dump()),
        dicom_metadata=image_source_metadata(ctx),
    )


def publish_bundle(
    ctx: StageContext, tracker: Tracker, bundle: Bundle, trained: dict[str, Any], train_run: str | None
) -> Any:
    """The register run in the tracker, and the bundle in its registry; the registry's version (None with tracking off)."""
    reg = ctx.params.register_
    run_id = tracker.publish(
        RunRecord(
            "register",
            {
                "stage": "register",
                "model_version": reg.model_version,
                **({"train_run_id": train_run} if train_run else {}),
            },
            {"model_version": reg.model_version, "dataset_version": bundle.dataset_version},
            {f"test_{k}": v for k, v in trained["test"].items() if isinstance(v, float)},
            {"bundle": ctx.path(REGISTERED)},
        )
    )
    if run_id is None:
        return None
    return tracker.register(reg.name, run_id, "bundle", reg.model_version, {"dataset_version": bundle.dataset_version})


def write_registered_card(ctx: StageContext, bundle: Path) -> None:
    """The bundle's own model card: train's card, its status line saying what happened."""
    card = ctx.path("reports/model_card.md")
    if not card.is_file():
        return
    how = "its metrics reproduced on a re-run" if ctx.params.register_.reproduce else "without a re-run"
    status = f"Status: registered, {how}; reports/register.json has the registry version."
    text = card.read_text().replace(CANDIDATE_STATUS, status)
    head, _, rest = text.partition("\n")
    reg = ctx.params.register_
    write_text(bundle / "model_card.md", f"{head} {reg.model_version}\n{rest}")  # the version it is registered as


if __name__ == "__main__":
    stage_main("register", run)
