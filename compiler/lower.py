"""Lower pass: a validated `SystemSpec` -> the frozen `SystemPlan`.

Resolves what emitters would otherwise have to work out: units to numbers,
features to their sources and columns, the label source, paths relative to the
build folder, and the stage graph. Each stage gets a params section holding
exactly what that stage reads, so DVC re-runs a stage only when its section (or
a dep) changes, and `mlwright diff` can say which stages a key touches.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import TypeAdapter

from mlwright import __version__
from mlwright.contract import IR_VERSION, Params
from mlwright.contract.commands import DeployParams, GatesParams, KubernetesRollout, VersioningParams
from mlwright.contract.compute import ComputeParams
from mlwright.contract.featurize import FeaturizeParams, ImageTransform, OnlineStore, RowFeature, WindowFeature
from mlwright.contract.ingest import CsvSource, DicomSource, IngestParams, JsonlSource, ParquetSource, Source
from mlwright.contract.metrics import HIGHER_IS_BETTER
from mlwright.contract.monitor import Alert, Concept, Covariate, MonitorParams
from mlwright.contract.register import PackageParams, RegisterParams
from mlwright.contract.serve import Batch, Canary, InputConstraint, ServeParams, Sla
from mlwright.contract.stages import STAGE_PARAMS
from mlwright.contract.train import Costs, Cv, Metric, Search, SearchSpace, Split, Tracking, TrainParams
from mlwright.contract.validate import (
    ColumnCheck,
    CrossFieldCheck,
    DistributionChecks,
    Override,
    TargetChecks,
    ValidateParams,
)

from .expressions import in_fixed_order, parse_expression
from .paths import is_remote, static_prefix
from .plan import (
    CanaryStepPlan,
    DeployPlan,
    RowFeaturePlan,
    SourcePlan,
    StagePlan,
    SystemPlan,
    WindowFeaturePlan,
)
from .spec import DicomSource as DicomSourceSpec
from .spec import SystemSpec
from .units import duration_seconds, share, size_bytes

RUNTIME = "python3 -m mlwright.runtime.stages"  # each stage is a module there


def lower(spec: SystemSpec, spec_dir: Path, out_dir: Path) -> SystemPlan:
    """Build the plan; `spec_dir` and `out_dir` only fix relative paths between them."""
    root = _relative(spec_dir, out_dir)
    sources = tuple(_source(spec, s, root) for s in sorted(spec.data.sources, key=lambda s: s.name))
    rows, windows = _features(spec)
    label_source = next(t for t, cols in spec.expectations.schema_.items() if spec.spec.target in cols)
    resolved = spec.model_dump(mode="json", by_alias=True, exclude={"defaults"})
    params = _params(spec, root, sources, rows, windows, label_source)
    deploy = deploy_plan(spec)
    stages = _stages(spec, sources)
    return SystemPlan(
        ir_version=IR_VERSION,
        name=spec.name,
        version=spec.version,
        model_version=f"v{spec.version}",
        compiler_version=__version__,
        task=spec.spec.task,
        target=spec.spec.target,
        entity=spec.spec.entity,
        timestamp=spec.spec.timestamp,
        inputs=tuple(spec.spec.inputs),
        label_source=label_source,
        sources=sources,
        row_features=rows,
        window_features=windows,
        stages=stages,
        params=params,
        resolved=resolved,
        deploy=deploy,
    )


def canary_steps(spec: SystemSpec) -> tuple[CanaryStepPlan, ...]:
    """The candidate's weights before it takes all traffic: `canary.traffic`, then each
    of `canary.steps` above it and below 100%; the pauses add up to `canary.duration`
    (split evenly, the odd seconds on the first step)."""
    c = spec.serving.canary
    first = round(share(c.traffic) * 100)
    weights = [first] + [w for w in (round(share(x) * 100) for x in c.steps) if first < w < 100]
    total = int(duration_seconds(c.duration))
    each, extra = divmod(total, len(weights))
    return tuple(CanaryStepPlan(w, each + (extra if i == 0 else 0)) for i, w in enumerate(weights))


def _amounts(a: Any) -> tuple[tuple[str, str], ...]:
    return tuple((n, v) for n, v in (("cpu", a.cpu), ("memory", a.memory)) if v is not None)


def deploy_plan(spec: SystemSpec) -> DeployPlan | None:
    k = spec.serving.kubernetes
    if k is None:
        return None
    return DeployPlan(
        name=spec.name,
        namespace=k.namespace or spec.name,
        image=k.image,
        model_version=f"v{spec.version}",
        port=spec.serving.port,
        replicas_min=k.replicas.min,
        replicas_max=k.replicas.max,
        cpu_target=k.replicas.cpu_target,
        requests=_amounts(k.resources.requests),
        limits=_amounts(k.resources.limits),
        api_key_env=spec.serving.auth.api_key_env,
        secret_name=k.api_key_secret.name or f"{spec.name}-api-key",
        secret_key=k.api_key_secret.key,
        host=k.host,
        controller=k.canary.controller,
        traffic=k.canary.traffic,
        prometheus=k.canary.prometheus,
        interval_seconds=int(duration_seconds(k.canary.interval)),
        steps=canary_steps(spec),
        success_rate=spec.serving.canary.success_rate,
        min_requests=spec.serving.canary.min_requests,
        latency_p99_ms=spec.spec.sla.latency_p99_ms,
        online=spec.serving.mode == "online",
        overlay=next((str(d["profile"]) for d in spec.defaults if isinstance(d, dict) and "profile" in d), "default"),
        schedules=tuple(
            (cmd, cron) for cmd, cron in (("predict", k.schedules.predict), ("monitor", k.schedules.monitor)) if cron
        ),
    )


def _relative(spec_dir: Path, out_dir: Path) -> str:
    rel = os.path.relpath(spec_dir.resolve(), out_dir.resolve())
    return PurePosixPath(Path(rel).as_posix()).as_posix()


def _join(root: str, path: str) -> str:
    return os.path.normpath(str(PurePosixPath(root) / path)).replace(os.sep, "/")


def _source(spec: SystemSpec, src: Any, root: str) -> SourcePlan:
    schema = spec.expectations.schema_.get(src.name, {})
    columns = tuple(sorted((c, cs.type) for c, cs in schema.items()))
    options: list[tuple[str, Any]] = []
    if src.format == "csv":
        options.append(("delimiter", src.delimiter))
    if getattr(src, "rename", None):
        options.append(("rename", dict(sorted(src.rename.items()))))
    if isinstance(src, DicomSourceSpec):
        options.append(
            ("metadata", {k: ([v] if isinstance(v, str) else list(v)) for k, v in sorted(src.metadata.items())})
        )
    dep = "" if is_remote(src.uri) else _join(root, static_prefix(src.uri))
    return SourcePlan(src.name, src.format, src.uri, dep, columns, tuple(options), src.time_column)


def _input_renames(spec: SystemSpec) -> dict[str, str]:
    """File column -> spec name for the files given to `predict` and `monitor` later
    (batches to score, delayed labels): the inputs, the target and the timestamp."""
    inputs = set(spec.spec.inputs) | {spec.spec.target} | ({spec.spec.timestamp} if spec.spec.timestamp else set())
    return dict(
        sorted(
            (raw, new) for src in spec.data.sources for raw, new in getattr(src, "rename", {}).items() if new in inputs
        )
    )


def _features(spec: SystemSpec) -> tuple[tuple[RowFeaturePlan, ...], tuple[WindowFeaturePlan, ...]]:
    rows: list[RowFeaturePlan] = []
    windows: list[WindowFeaturePlan] = []
    for f in spec.features.definitions:
        parsed = parse_expression(f.expr)
        if f.window is None:
            rows.append(RowFeaturePlan(f.name, f.from_, parsed.sql, parsed.columns, f.encoding))
        else:
            assert f.time_column is not None  # checked by crosscheck
            windows.append(
                WindowFeaturePlan(
                    f.name,
                    f.from_,
                    in_fixed_order(parsed.sql, f.time_column),
                    parsed.columns,
                    int(duration_seconds(f.window)),
                    f.time_column,
                    parsed.counts,
                )
            )
    return tuple(rows), tuple(windows)


def _input_types(spec: SystemSpec) -> dict[str, str]:
    """The request type of each input: the declared column type, or float for derived features."""
    columns = {name: dict(cols) for name, cols in spec.expectations.schema_.items()}
    by_name = {f.name: f for f in spec.features.definitions}
    out: dict[str, str] = {}
    for name in spec.spec.inputs:
        if name == "image":
            out[name] = "image"
        elif name in by_name:
            f = by_name[name]
            col = columns.get(f.from_, {}).get(f.expr.strip())
            out[name] = col.type if col is not None else ("category" if f.encoding != "none" else "float")
        else:
            label = next((cols for cols in columns.values() if name in cols), {})
            out[name] = label[name].type if name in label else "string"
    return out


def _input_constraints(spec: SystemSpec) -> dict[str, InputConstraint]:
    """Declared ranges and allowed values of request inputs that are plain columns, and
    `nullable` where the schema writes `nullable: true`. Only written: nullable is the
    column default for data, while a request must carry a value unless told otherwise."""
    columns = {name: dict(cols) for name, cols in spec.expectations.schema_.items()}
    by_name = {f.name: f for f in spec.features.definitions}
    out: dict[str, InputConstraint] = {}
    for name in spec.spec.inputs:
        f = by_name.get(name)
        col = (
            columns.get(f.from_, {}).get(f.expr.strip())
            if f
            else next((c[name] for c in columns.values() if name in c), None)
        )
        if col is None:
            continue
        # written out: requests may send null too (a missing value, as in training)
        nullable = col.nullable and "nullable" in col.model_fields_set and name != spec.spec.entity
        rule = InputConstraint(
            min=col.min,
            max=col.max,
            values=tuple(col.values) if col.values is not None else None,
            nullable=True if nullable else None,
        )
        if rule != InputConstraint():
            out[name] = rule
    return out


def _params(
    spec: SystemSpec,
    root: str,
    sources: tuple[SourcePlan, ...],
    rows: tuple[RowFeaturePlan, ...],
    windows: tuple[WindowFeaturePlan, ...],
    label_source: str,
) -> Params:
    """params.yaml: one section per stage (and per command), each built by its own function."""
    return Params(
        ingest=_ingest_params(spec, root, sources),
        gates=GatesParams(retrieval_p99_ms=spec.features.store.retrieval_p99_ms),  # `mlwright gates` only
        versioning=_versioning_params(spec),
        validate_=_validate_params(spec, label_source),
        featurize=_featurize_params(spec, rows, windows, label_source),
        train=_train_params(spec),
        register_=_register_params(spec),
        package=_package_params(spec),
        serve=_serve_params(spec, root),
        monitor=_monitor_params(spec, root),
        compute=_compute_params(spec),
        deploy=_deploy_params(spec),
    )


def _deploy_params(spec: SystemSpec) -> DeployParams | None:
    deploy = deploy_plan(spec)
    if deploy is None:
        return None
    # read by `mlwright canary promote|rollback` for a Kubernetes build
    return DeployParams(
        kubernetes=KubernetesRollout(namespace=deploy.namespace, rollout=deploy.name, controller=deploy.controller)
    )


def _compute_params(spec: SystemSpec) -> ComputeParams:
    # Where the work runs, not what it computes: no stage declares these to DVC, because
    # the outputs are the same bytes on any engine, scheduler and bucket count (tested).
    c = spec.compute
    return ComputeParams(
        engine=c.engine,
        scheduler=c.scheduler,  # an ${oc.env:...} reference stays one, resolved when a stage starts
        workers=c.workers,
        threads_per_worker=c.threads_per_worker,
        memory_limit="auto" if c.memory_limit == "auto" else size_bytes(c.memory_limit),
        partition_by=c.partitions.by,
        buckets=c.partitions.buckets,
        distributed_fit_rows=c.distributed_fit_rows,
    )


def _categorical_inputs(spec: SystemSpec) -> tuple[str, ...]:
    inputs = spec.spec.inputs
    return tuple(sorted(f.name for f in spec.features.definitions if f.name in inputs and f.encoding != "none"))


def _image(spec: SystemSpec) -> ImageTransform | None:
    img = spec.features.image
    if img is None:
        return None
    return ImageTransform(
        source=img.source,
        center=img.window.center,
        width=img.window.width,
        size=(img.size[0], img.size[1]),
        normalize=img.normalize,
    )


def _ingest_source(src: SourcePlan) -> Source:
    options = dict(src.options)
    columns = dict(src.columns)
    if src.format == "csv":
        return CsvSource(
            name=src.name,
            format="csv",
            uri=src.uri,
            columns=columns,
            delimiter=options["delimiter"],
            rename=options.get("rename", {}),
        )
    if src.format == "parquet":
        return ParquetSource(
            name=src.name, format="parquet", uri=src.uri, columns=columns, rename=options.get("rename", {})
        )
    if src.format == "jsonl":
        return JsonlSource(
            name=src.name, format="jsonl", uri=src.uri, columns=columns, rename=options.get("rename", {})
        )
    metadata = {k: tuple(v) for k, v in options.get("metadata", {}).items()}
    return DicomSource(name=src.name, format="dicom", uri=src.uri, columns=columns, metadata=metadata)


def _ingest_params(spec: SystemSpec, root: str, sources: tuple[SourcePlan, ...]) -> IngestParams:
    return IngestParams(
        source_root=root,
        sources=tuple(_ingest_source(src) for src in sources),
        manifest=spec.data.versioning.manifest,
    )


def _versioning_params(spec: SystemSpec) -> VersioningParams:
    # read by push, pull, rebuild and verify, never by a stage: a new remote re-runs nothing
    return VersioningParams(
        remote=spec.data.versioning.remote,
        rebuild_sla_seconds=int(duration_seconds(spec.data.versioning.rebuild_sla)),
    )


def _validate_params(spec: SystemSpec, label_source: str) -> ValidateParams:
    e = spec.expectations
    p = spec.spec
    # the task decides the target layer: class shares, or a regression target's distribution
    return ValidateParams(
        name=spec.name,  # the system's name, in its reports
        task=p.task,
        target=p.target,
        entity=p.entity,
        timestamp=p.timestamp,
        label_source=label_source,
        schema_={
            source: {c: ColumnCheck.model_validate(cs.model_dump()) for c, cs in cols.items()}
            for source, cols in e.schema_.items()
        },
        cross_field=tuple(CrossFieldCheck(name=cf.name, table=cf.table, check=cf.check) for cf in e.cross_field),
        distribution=DistributionChecks.model_validate(e.distribution.model_dump()),
        target_proportion=TargetChecks.model_validate(e.target.model_dump()),
        overrides=tuple(Override(expectation=o.expectation, justification=o.justification) for o in e.overrides),
    )


def _featurize_params(
    spec: SystemSpec, rows: tuple[RowFeaturePlan, ...], windows: tuple[WindowFeaturePlan, ...], label_source: str
) -> FeaturizeParams:
    store = spec.features.store
    return FeaturizeParams(
        name=spec.name,  # the system's name, in its reports (and the online store's namespace)
        task=spec.spec.task,
        target=spec.spec.target,
        entity=spec.spec.entity,
        timestamp=spec.spec.timestamp,
        label_source=label_source,
        sql="features.sql",
        row_features=tuple(
            RowFeature(name=f.name, source=f.source, sql=f.sql, encoding=f.encoding, columns=f.columns) for f in rows
        ),
        window_features=tuple(
            WindowFeature(
                name=f.name,
                source=f.source,
                sql=f.sql,
                window_seconds=f.window_seconds,
                time_column=f.time_column,
                counts=f.counts,
            )
            for f in windows
        ),
        image=_image(spec),
        # joined without a time column: one row per entity, checked on the data
        dimension_sources=tuple(
            sorted(
                {f.source for f in rows if f.source != label_source}
                - {src.name for src in spec.data.sources if src.time_column is not None}
            )
        ),
        offline_path=store.offline.path,
        offline_format=store.offline.format,
        online=OnlineStore(
            backend=store.online.backend,
            path=store.online.path,
            url=store.online.url,
            ttl_seconds=int(duration_seconds(store.online.ttl)),
            timeout_ms=store.online.timeout_ms,
            table=store.online.table or f"mlwright-{spec.name}",
            region=store.online.region,
            endpoint=store.online.endpoint,
        ),
    )


def _train_params(spec: SystemSpec) -> TrainParams:
    p, t = spec.spec, spec.training
    return TrainParams(
        name=spec.name,  # the system's name, in its reports
        task=p.task,
        target=p.target,
        entity=p.entity,
        timestamp=p.timestamp,
        backend=t.backend,
        seed=t.seed,
        missing_target=t.missing_target,
        metric=Metric.model_validate(p.metric.model_dump()),
        costs=Costs.model_validate(p.costs.model_dump()),
        split=Split(
            strategy=t.split.strategy,
            validation=t.split.validation,
            test=t.split.test,
            gap_seconds=int(duration_seconds(t.split.gap)),
        ),
        cv=Cv.model_validate(t.cv.model_dump()),
        hpo=Search(
            trials=t.hpo.trials,
            timeout_seconds=int(duration_seconds(t.hpo.timeout)),
            sampler=t.hpo.sampler,
            space={k: SEARCH_SPACE.validate_python(v.model_dump()) for k, v in sorted(t.hpo.space.items())},
        ),
        params=dict(sorted(t.params.items())),
        slices=_categorical_inputs(spec),
        tracking=_tracking(spec),
        # the offline store's Delta version to train on (None: what featurize wrote last)
        offline_as_of=spec.features.store.offline.as_of,
    )


def _tracking(spec: SystemSpec) -> Tracking:
    t = spec.training.tracking
    return Tracking(backend=t.backend, uri=t.uri, experiment=t.experiment or spec.name)


def _register_params(spec: SystemSpec) -> RegisterParams:
    t, m = spec.training, spec.monitoring
    return RegisterParams(
        name=spec.name,
        model_version=f"v{spec.version}",
        reproduce=t.register_.reproduce,
        tolerance=t.register_.tolerance,
        min_metric=register_floor(spec),
        tracking=_tracking(spec),
        # what the bundle's monitoring reference is built with (monitor reads it from the bundle)
        reference_bins=m.covariate.bins,
        concept_metric=m.concept.metric,
    )


def _package_params(spec: SystemSpec) -> PackageParams:
    s = spec.serving
    return PackageParams(
        name=spec.name,
        model_version=f"v{spec.version}",
        base_image=s.image.base,
        max_size_bytes=size_bytes(s.image.max_size),
    )


def _serve_params(spec: SystemSpec, root: str) -> ServeParams:
    p, s = spec.spec, spec.serving
    return ServeParams(
        name=spec.name,
        entity=p.entity,
        inputs=_input_types(spec),
        input_constraints=_input_constraints(spec),
        rename=_input_renames(spec),
        host=s.host,
        port=s.port,
        workers=s.workers,
        request_limit_bytes=s.request_limit_kb * 1024,
        timeout_ms=s.timeout_ms,
        max_concurrency=s.max_concurrency,
        api_key_env=s.auth.api_key_env,
        api_key_header=s.auth.header,
        log_path=s.logging.path,
        sla=Sla(latency_p99_ms=p.sla.latency_p99_ms, availability=p.sla.availability),
        canary=Canary(
            traffic=share(s.canary.traffic),
            duration_seconds=int(duration_seconds(s.canary.duration)),
            success_rate=s.canary.success_rate,
            steps=tuple(share(x) for x in s.canary.steps),
            min_requests=s.canary.min_requests,
        ),
        batch=Batch(
            input=_join(root, s.batch.input) if s.batch.input and not is_remote(s.batch.input) else s.batch.input,
            output=s.batch.output,
            chunk_rows=s.batch.chunk_rows,
            pass_through=tuple(s.batch.pass_through),
            out_of_contract=s.batch.out_of_contract,
        ),
        mode=s.mode,
    )


def _monitor_params(spec: SystemSpec, root: str) -> MonitorParams:
    p, s, m = spec.spec, spec.serving, spec.monitoring
    labels = m.concept.labels
    return MonitorParams(
        entity=p.entity,
        timestamp=p.timestamp,
        task=p.task,
        covariate=Covariate.model_validate(m.covariate.model_dump()),
        concept=Concept(
            labels=_join(root, labels) if labels and not is_remote(labels) else labels,
            key=tuple(m.concept.key),
            metric=m.concept.metric,
            max_relative_drop=m.concept.max_relative_drop,
            min_labels=m.concept.min_labels,
        ),
        window_seconds=int(duration_seconds(m.window)),
        alerts=tuple(ALERT.validate_python(a.model_dump()) for a in m.alerts),
        dashboard=m.dashboard,
        slices=_categorical_inputs(spec),
        log_path=s.logging.path,
    )


# a discriminated union is built from its data: the spec's alert or search range, field for field
ALERT: TypeAdapter[Alert] = TypeAdapter(Alert)
SEARCH_SPACE: TypeAdapter[SearchSpace] = TypeAdapter(SearchSpace)


def _stages(spec: SystemSpec, sources: tuple[SourcePlan, ...]) -> tuple[StagePlan, ...]:
    store = spec.features.store.online
    online = store.path if store.backend == "sqlite" else "features/online.json"
    offline = spec.features.store.offline.path
    offline_kind = {"parquet": "Parquet", "delta": "Delta Lake"}[spec.features.store.offline.format]
    source_deps = tuple(sorted({s.dep for s in sources if s.dep}))
    return (
        StagePlan(
            name="ingest",
            cmd=f"{RUNTIME}.ingest",
            deps=source_deps,
            params=STAGE_PARAMS["ingest"],
            outs=("data/snapshots", "data/manifest.csv"),
            metrics=("data/version.json",),
            description="hash every source file into the manifest and snapshot each source as Parquet",
        ),
        StagePlan(
            name="validate",
            cmd=f"{RUNTIME}.validate",
            deps=("data/manifest.csv", "data/snapshots"),
            params=STAGE_PARAMS["validate"],
            outs=("reports/validation.html",),
            metrics=("reports/validation.json",),
            upstream=("ingest",),
            description="schema, distribution and target expectations; halts the pipeline on a failure",
        ),
        StagePlan(
            name="featurize",
            cmd=f"{RUNTIME}.featurize",
            deps=("data/snapshots", "features.sql", "reports/validation.json"),
            params=STAGE_PARAMS["featurize"],
            outs=(offline, online),
            persist=(offline,) if spec.features.store.offline.format == "delta" else (),
            upstream=("validate",),
            description=f"point-in-time features into the offline {offline_kind} store and the online store",
        ),
        StagePlan(
            name="train",
            cmd=f"{RUNTIME}.train",
            deps=(offline,),
            params=STAGE_PARAMS["train"],
            outs=("models/candidate", "reports/model_card.md"),
            metrics=("reports/metrics.json",),
            upstream=("featurize",),
            description="time-aware split, cross-validated search, final fit and test evaluation",
        ),
        StagePlan(
            name="register",
            cmd=f"{RUNTIME}.register",
            deps=(offline, "models/candidate", "reports/metrics.json"),
            params=STAGE_PARAMS["register"],
            outs=("models/registered",),
            metrics=("reports/register.json",),
            upstream=("train",),
            description="re-run the final fit; register only if the metrics reproduce",
        ),
        StagePlan(
            name="package",
            cmd=f"{RUNTIME}.package",
            deps=("models/registered", "serving/Dockerfile", "serving/requirements.txt", "serving/constraints.txt"),
            params=STAGE_PARAMS["package"],
            outs=("dist",),
            metrics=("reports/package.json",),
            upstream=("register",),
            description="assemble the container build context: bundle, wheel, Dockerfile",
        ),
    )


def register_floor(spec: SystemSpec) -> float | None:
    """`register.min_metric` as written. Unwritten: 0.5 for a score (F-beta, ROC-AUC,
    PR-AUC), and no floor for an error metric (log-loss, RMSE, MAE), whose scale is
    the data's own: a default of 0.5 would refuse every house-price model."""
    reg = spec.training.register_
    if "min_metric" in reg.model_fields_set:
        return reg.min_metric
    # a score (higher is better) has 0.5 as chance (AUCs) or worse; an error metric has no floor
    return reg.min_metric if HIGHER_IS_BETTER[spec.spec.metric.name] else None
