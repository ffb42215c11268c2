"""The system YAML as pydantic models: the user-facing schema (`mlwright schema`).

Models are strict (no silent `"yes"` -> True or `"10"` -> 10) and forbid unknown
keys; every default here is the one written out in `spec.resolved.yaml`. Backends
and alert sinks are discriminated unions on their `backend` / `type` key.
Cross-section rules (a feature's source exists, the metric fits the task, ...)
live in `validate.py`, not here: these models check one section at a time.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .units import duration_seconds, share, size_bytes


def _source_text(value: Any) -> Any:
    return getattr(value, "source_text", value)


def _check_duration(value: str) -> str:
    duration_seconds(value)
    return value


def _check_positive_duration(value: str) -> str:
    if duration_seconds(value) <= 0:
        raise ValueError("must be longer than zero")
    return value


def _check_size(value: str) -> str:
    size_bytes(value)
    return value


def _check_share(value: str | float) -> str | float:
    share(value)
    return value


# A string field keeps the text the user wrote: `version: 010` is "010", not 10.
Text = Annotated[str, BeforeValidator(_source_text)]
Name = Annotated[Text, Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
Identifier = Annotated[Text, Field(pattern=IDENTIFIER_PATTERN, max_length=128)]
Duration = Annotated[Text, AfterValidator(_check_duration)]
PositiveDuration = Annotated[Text, AfterValidator(_check_positive_duration)]
Size = Annotated[Text, AfterValidator(_check_size)]
Share = Annotated[Text | float, AfterValidator(_check_share)]
Probability = Annotated[float, Field(gt=0.0, lt=1.0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class Strict(BaseModel):
    # defer_build: each schema is built once, inside SystemSpec, not once per class at import
    # allow_inf_nan=False: `.nan` as a bound, a cost or a gate compares false with
    # everything, so it would refuse every request or disable a gate; `.inf` costs
    # make every threshold equal. No setting has a use for either.
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, populate_by_name=True, defer_build=True, allow_inf_nan=False
    )


# --- Stage 1 ------------------------------------------------------------------
class MetricSpec(Strict):
    name: Literal["fbeta", "f1", "roc_auc", "pr_auc", "logloss", "rmse", "mae"] = "fbeta"
    beta: Annotated[float, Field(gt=0.0, le=100.0)] = 1.0
    threshold: Literal["auto"] | Fraction = "auto"


class CostsSpec(Strict):
    false_negative: Annotated[float, Field(ge=0.0)] = 1.0
    false_positive: Annotated[float, Field(ge=0.0)] = 1.0


class SlaSpec(Strict):
    latency_p99_ms: Annotated[float, Field(gt=0.0, le=600_000)] = 100.0
    availability: Annotated[float, Field(gt=0.0, le=1.0)] = 0.999


class ProblemSpec(Strict):
    task: Literal["binary_classification", "multiclass_classification", "regression"]
    target: Identifier
    entity: Identifier
    timestamp: Identifier | None = None
    inputs: Annotated[list[Identifier], Field(min_length=1)]
    metric: MetricSpec = MetricSpec()
    costs: CostsSpec = CostsSpec()
    sla: SlaSpec = SlaSpec()
    owner: Annotated[
        Text, Field(description="Documentation only: shown in ml_spec.md; changing it re-runs no stage.")
    ] = "unassigned"
    description: Annotated[
        Text, Field(description="Documentation only: shown in ml_spec.md; changing it re-runs no stage.")
    ] = ""


# --- Stage 2 ------------------------------------------------------------------
class _SourceBase(Strict):
    name: Identifier
    uri: Annotated[Text, Field(min_length=1)]
    # The event time of each row. A source with one makes a row-level feature the
    # value as of the training row's own time (ASOF join); without one, the source
    # must hold one row per entity (a dimension table), which featurize checks on the
    # data. Defaults to spec.timestamp when the source has a column of that name.
    time_column: Identifier | None = None


class _TabularSource(_SourceBase):
    # file column -> the identifier every later section uses ("mean radius" -> mean_radius)
    rename: dict[Annotated[Text, Field(min_length=1, max_length=256)], Identifier] = {}


class CsvSource(_TabularSource):
    format: Literal["csv"]
    delimiter: Annotated[Text, Field(min_length=1, max_length=1)] = ","


class ParquetSource(_TabularSource):
    format: Literal["parquet"]


class JsonlSource(_TabularSource):
    format: Literal["jsonl"]


class DicomSource(_SourceBase):
    format: Literal["dicom"]
    metadata: dict[Identifier, Text | Annotated[list[Text], Field(min_length=1)]] = {}


SourceSpec = Annotated[CsvSource | ParquetSource | JsonlSource | DicomSource, Field(discriminator="format")]


class VersioningSpec(Strict):
    manifest: Annotated[
        Literal["sha256"],
        Field(
            description="The manifest's digest. SHA-256 is the one mlwright computes and checks; ingest refuses another."
        ),
    ] = "sha256"
    remote: Text = ".mlwright/remote"
    rebuild_sla: Duration = "1h"


class DataSpec(Strict):
    sources: Annotated[list[SourceSpec], Field(min_length=1)]
    versioning: VersioningSpec = VersioningSpec()


# --- Stage 3 ------------------------------------------------------------------
class ColumnSpec(Strict):
    type: Literal["string", "int", "float", "bool", "timestamp", "category"]
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    values: list[Text] | None = None
    unique: bool = False
    unique_with: list[Identifier] | None = None


class CrossFieldSpec(Strict):
    name: Identifier
    table: Identifier
    check: Annotated[Text, Field(min_length=1)]


class DistributionSpec(Strict):
    reference: Text = "previous"
    continuous: Annotated[
        Literal["ks"],
        Field(description="Layer B's test for numeric columns (two-sample Kolmogorov-Smirnov), named in the report."),
    ] = "ks"
    categorical: Annotated[
        Literal["chi2"],
        Field(description="Layer B's test for categorical columns (two-sample chi-square), named in the report."),
    ] = "chi2"
    p_value: Probability = 0.01


class TargetExpectationSpec(Strict):
    max_class_proportion_deviation: Annotated[float, Field(gt=0.0, le=10.0)] = 0.15


class OverrideSpec(Strict):
    expectation: Annotated[Text, Field(min_length=1)]
    justification: Annotated[Text, Field(min_length=1)]

    @field_validator("justification")
    @classmethod
    def _written(cls, value: str) -> str:
        if len(value.strip()) < 10:
            raise ValueError("a justification must say why in words (at least 10 characters)")
        return value


class ExpectationsSpec(Strict):
    schema_: Annotated[dict[Identifier, dict[Identifier, ColumnSpec]], Field(alias="schema")] = {}
    cross_field: list[CrossFieldSpec] = []
    distribution: DistributionSpec = DistributionSpec()
    target: TargetExpectationSpec = TargetExpectationSpec()
    overrides: list[OverrideSpec] = []


# --- Stage 4 ------------------------------------------------------------------
class FeatureSpec(Strict):
    name: Identifier
    from_: Annotated[Identifier, Field(alias="from")]
    expr: Annotated[Text, Field(min_length=1)]
    encoding: Literal["category", "one_hot", "none"] = "none"
    window: PositiveDuration | None = None
    time_column: Identifier | None = None


class HuWindowSpec(Strict):
    center: float = 40.0
    width: Annotated[float, Field(gt=0.0)] = 80.0


class ImageSpec(Strict):
    source: Identifier
    window: HuWindowSpec = HuWindowSpec()
    size: Annotated[list[Annotated[int, Field(ge=8, le=1024)]], Field(min_length=2, max_length=2)] = [128, 128]
    normalize: Literal["per_image", "none"] = "per_image"


class OfflineStoreSpec(Strict):
    # delta: a Delta Lake table, one Delta version per dataset version and feature set
    format: Literal["parquet", "delta"] = "parquet"
    path: Text = "features/offline"
    # delta only: train on the features of an earlier dataset version (its id, or a
    # unique prefix of it, as `mlwright features history` lists them)
    as_of: Annotated[Text, Field(pattern=r"^[0-9a-f]{8,64}$")] | None = None


class OnlineStoreSpec(Strict):
    backend: Literal["sqlite", "redis", "dynamodb"] = "sqlite"
    path: Text = "features/online.sqlite"  # sqlite
    url: Text = "${oc.env:MLWRIGHT_REDIS_URL,redis://127.0.0.1:6379/0}"  # redis
    ttl: Duration = "30d"
    timeout_ms: Annotated[int, Field(ge=1, le=60_000)] = 500
    # dynamodb: the table (default mlwright-<system>), its region, and an endpoint for a
    # local DynamoDB (none: AWS, or AWS_ENDPOINT_URL); credentials come from the environment
    table: Annotated[Text, Field(pattern=r"^[A-Za-z0-9_.-]{3,255}$")] | None = None
    region: Text = "${oc.env:AWS_DEFAULT_REGION,us-east-1}"
    endpoint: Text | None = None


class FeatureStoreSpec(Strict):
    offline: OfflineStoreSpec = OfflineStoreSpec()
    online: OnlineStoreSpec = OnlineStoreSpec()
    retrieval_p99_ms: Annotated[float, Field(gt=0.0)] = 50.0


class FeaturesSpec(Strict):
    entity: Identifier
    timestamp: Identifier | None = None
    image: ImageSpec | None = None
    definitions: list[FeatureSpec] = []
    store: FeatureStoreSpec = FeatureStoreSpec()


# --- Stage 5 ------------------------------------------------------------------
class IntParam(Strict):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: Annotated[int, Field(ge=1)] = 1


class FloatParam(Strict):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False


class CategoricalParam(Strict):
    type: Literal["categorical"]
    choices: Annotated[list[bool | int | float | str], Field(min_length=1)]


ParamSpace = Annotated[IntParam | FloatParam | CategoricalParam, Field(discriminator="type")]
Scalar = bool | int | float | str


class SplitSpec(Strict):
    strategy: Literal["time", "random"] = "time"
    validation: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.15
    test: Annotated[float, Field(gt=0.0, lt=0.5)] = 0.15
    gap: Duration = "0d"


class CvSpec(Strict):
    folds: Annotated[int, Field(ge=2, le=20)] = 5
    strategy: Literal["time_series", "kfold"] = "time_series"


class HpoSpec(Strict):
    trials: Annotated[int, Field(ge=1, le=10_000)] = 20
    timeout: Duration = "10m"
    sampler: Literal["tpe", "random"] = "tpe"
    space: dict[Identifier, ParamSpace] = {}


class TrackingSpec(Strict):
    # mlflow: a SQLite file under the build folder (the default), a server's URL, or none;
    # wandb: Weights & Biases in offline mode (uri: offline, its default, or none), the
    # runs written under the build folder for `wandb sync` to upload later
    backend: Literal["mlflow", "wandb"] = "mlflow"
    uri: Text = "${oc.env:MLWRIGHT_TRACKING_URI,sqlite:///.mlwright/tracking.db}"
    experiment: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _wandb_offline(cls, data: Any) -> Any:
        """`backend: wandb` without a uri is W&B's offline mode, not the MLflow default."""
        if isinstance(data, dict) and data.get("backend") == "wandb" and "uri" not in data:
            return {**data, "uri": "offline"}
        return data


class RegisterSpec(Strict):
    reproduce: bool = True
    tolerance: Annotated[float, Field(ge=0.0, le=1.0)] = 0.001
    min_metric: float | None = 0.5


class _TrainingBase(Strict):
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 42
    split: SplitSpec = SplitSpec()
    cv: CvSpec = CvSpec()
    hpo: HpoSpec = HpoSpec()
    params: dict[Identifier, Scalar] = {}
    tracking: TrackingSpec = TrackingSpec()
    register_: Annotated[RegisterSpec, Field(alias="register")] = RegisterSpec()
    # rows whose target is missing: `refuse` stops train naming how many, `drop` trains
    # on the labelled rows (and says how many it left out)
    missing_target: Literal["refuse", "drop"] = "refuse"


class LightGBMTrainingSpec(_TrainingBase):
    backend: Literal["lightgbm"]


class TorchTrainingSpec(_TrainingBase):
    backend: Literal["torch"]


TrainingSpec = Annotated[LightGBMTrainingSpec | TorchTrainingSpec, Field(discriminator="backend")]

# The search space of a spec that writes none: the parameters that matter most for
# each backend, over the ranges their documentation recommends tuning in.
DEFAULT_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "lightgbm": {
        "num_leaves": {"type": "int", "low": 8, "high": 128, "log": True},
        "learning_rate": {"type": "float", "low": 0.01, "high": 0.3, "log": True},
        "min_child_samples": {"type": "int", "low": 5, "high": 100, "log": True},
    },
    "torch": {
        "lr": {"type": "float", "low": 0.0001, "high": 0.01, "log": True},
        "weight_decay": {"type": "float", "low": 0.000001, "high": 0.001, "log": True},
    },
}

# The fixed parameters a spec that writes none trains with (written out in
# spec.resolved.yaml, and the only place they are written: the trainers read them).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "lightgbm": {"n_estimators": 500, "early_stopping_rounds": 50},
    "torch": {
        "epochs": 10,
        "batch_size": 32,
        "lr": 0.001,
        "weight_decay": 0.0,
        "hidden": 32,
        "channels": 8,
        "dropout": 0.1,
        "patience": 5,
    },
}

# Parameter names each backend understands (in `params` and in `hpo.space`).
BACKEND_PARAMS: dict[str, frozenset[str]] = {
    "lightgbm": frozenset(
        {
            "n_estimators",
            "early_stopping_rounds",
            "num_leaves",
            "learning_rate",
            "min_child_samples",
            "max_depth",
            "subsample",
            "subsample_freq",
            "colsample_bytree",
            "reg_alpha",
            "reg_lambda",
            "min_split_gain",
            "max_bin",
            "scale_pos_weight",
        }
    ),
    "torch": frozenset(
        {"model", "epochs", "batch_size", "lr", "weight_decay", "hidden", "channels", "dropout", "patience"}
    ),
}


# --- Stage 6 ------------------------------------------------------------------
class AuthSpec(Strict):
    api_key_env: Annotated[Text, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")] | None = None
    header: Text = "X-API-Key"


class LoggingSpec(Strict):
    path: Text = "logs/predictions.jsonl"


# A container image reference (registry/name:tag@digest), nothing else: the value is
# written into a Dockerfile and a printed `docker build` command.
IMAGE_REFERENCE = (
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)


class ImageBuildSpec(Strict):
    base: Annotated[Text, Field(pattern=IMAGE_REFERENCE, max_length=255)] = "python:3.11-slim"
    max_size: Size = "5GB"


class CanarySpec(Strict):
    traffic: Share = "5%"
    duration: Duration = "48h"
    success_rate: Annotated[float, Field(gt=0.0, le=1.0)] = 0.999
    steps: Annotated[list[Share], Field(min_length=1)] = ["5%", "25%", "50%", "100%"]
    min_requests: Annotated[int, Field(ge=1)] = 100


# Columns every batch output has; a pass-through column may not shadow one.
BATCH_OUTPUT_COLUMNS = ("row", "prediction", "probability", "model_version", "problem")


class BatchSpec(Strict):
    input: Text | None = None
    output: Text = "predictions/"
    chunk_rows: Annotated[int, Field(ge=1, le=10_000_000)] = 100_000
    # input columns copied to the output beside each score (an id such as `flight_id`)
    pass_through: list[Identifier] = []
    # a row the endpoint would refuse (out of range, not an allowed value, null):
    # `flag` writes it unscored with its problem; `refuse` stops the batch
    out_of_contract: Literal["flag", "refuse"] = "flag"

    @field_validator("pass_through")
    @classmethod
    def _not_an_output_column(cls, v: list[str]) -> list[str]:
        taken = [c for c in v if c in BATCH_OUTPUT_COLUMNS or c.startswith("probability_")]
        if taken:
            raise ValueError(f"{taken[0]!r} is a column predict writes itself; pass through a column of another name")
        if len(set(v)) != len(v):
            raise ValueError("names a column twice")
        return v


# Kubernetes names: DNS-1123 labels (namespaces, objects), quantities (500m, 1Gi) and
# five-field cron schedules, checked here so a typo is a compile error with a position
# rather than a manifest the API server refuses at deploy time.
K8S_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
K8S_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
CRON = r"^(\S+\s+){4}\S+$"
K8sName = Annotated[Text, Field(pattern=K8S_NAME, max_length=63)]
Quantity = Annotated[Text, Field(pattern=K8S_QUANTITY, max_length=32)]
IMAGE_REPOSITORY = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"


class K8sReplicasSpec(Strict):
    min: Annotated[int, Field(ge=1, le=1000)] = 2
    max: Annotated[int, Field(ge=1, le=1000)] = 10
    cpu_target: Annotated[int, Field(ge=1, le=100)] = 70  # average CPU utilisation, percent of requests

    @model_validator(mode="after")
    def _ordered(self) -> K8sReplicasSpec:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")
        return self


class K8sResourceAmounts(Strict):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class K8sResourcesSpec(Strict):
    requests: K8sResourceAmounts = K8sResourceAmounts(cpu="500m", memory="1Gi")
    limits: K8sResourceAmounts = K8sResourceAmounts(memory="2Gi")


class K8sSecretRef(Strict):
    name: K8sName | None = None  # default: <system>-api-key
    key: Annotated[Text, Field(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)] = "api-key"


class K8sCanarySpec(Strict):
    # argo-rollouts: a Rollout whose canary an AnalysisTemplate judges from Prometheus;
    # none: a plain Deployment (roll out by replacing pods, no analysis)
    controller: Literal["argo-rollouts", "none"] = "argo-rollouts"
    # how the canary weight is applied: an NGINX ingress splits requests; `replicas`
    # (no router) makes the weight the ratio of canary to stable pods
    traffic: Literal["nginx", "replicas"] = "replicas"
    prometheus: Text = "http://prometheus.monitoring.svc:9090"
    interval: PositiveDuration = "5m"  # one analysis measurement per interval


class K8sSchedulesSpec(Strict):
    predict: Annotated[Text, Field(pattern=CRON)] | None = None  # batch scoring CronJob
    monitor: Annotated[Text, Field(pattern=CRON)] | None = None  # drift monitoring CronJob


class KubernetesSpec(Strict):
    namespace: K8sName | None = None  # default: the system's name
    image: Annotated[Text, Field(pattern=IMAGE_REPOSITORY, max_length=255)]  # repository; the tag is the model version
    replicas: K8sReplicasSpec = K8sReplicasSpec()
    resources: K8sResourcesSpec = K8sResourcesSpec()
    api_key_secret: K8sSecretRef = K8sSecretRef()
    host: Annotated[Text, Field(pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253)] | None = None
    canary: K8sCanarySpec = K8sCanarySpec()
    schedules: K8sSchedulesSpec = K8sSchedulesSpec()


class ServingSpec(Strict):
    # online: the image serves the endpoint (and deploy/k8s/ deploys it); batch: the
    # image scores files mounted at /data, and deploy/k8s/ holds only the scheduled jobs
    mode: Literal["online", "batch"] = "online"
    host: Text = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    request_limit_kb: Annotated[int, Field(ge=1, le=1_048_576)] = 64
    timeout_ms: Annotated[int, Field(ge=1, le=600_000)] = 1000
    max_concurrency: Annotated[int, Field(ge=1, le=10_000)] = 64
    auth: AuthSpec = AuthSpec()
    logging: LoggingSpec = LoggingSpec()
    image: ImageBuildSpec = ImageBuildSpec()
    canary: CanarySpec = CanarySpec()
    batch: BatchSpec = BatchSpec()
    kubernetes: KubernetesSpec | None = None  # absent: no deploy/k8s/ is emitted


# --- Stage 7 ------------------------------------------------------------------
class CovariateSpec(Strict):
    metric: Literal["psi"] = "psi"
    threshold: Annotated[float, Field(gt=0.0)] = 0.2
    bins: Annotated[int, Field(ge=2, le=1000)] = 10
    ks_p_value: Probability = 0.01
    epsilon: Annotated[float, Field(gt=0.0, lt=0.01)] = 1e-4
    # PSI is biased upward in small samples (about (bins - 1) / n with no drift at all):
    # below ~200 rows a 0.2 threshold fires on noise, so smaller windows are "insufficient".
    min_rows: Annotated[int, Field(ge=1)] = 200


class ConceptSpec(Strict):
    labels: Text | None = None
    # the columns that identify a labelled row in both the labels and the scored batch
    # (e.g. [flight_id]); empty: request_id for logged requests, else (entity, timestamp)
    key: list[Identifier] = []
    metric: Literal["f1", "fbeta", "roc_auc", "pr_auc", "rmse", "mae"] = "f1"
    max_relative_drop: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    min_labels: Annotated[int, Field(ge=1)] = 50


class LogAlertSpec(Strict):
    type: Literal["log"]
    path: Text = "logs/alerts.jsonl"


class WebhookAlertSpec(Strict):
    type: Literal["webhook"]
    url: Text
    token: Text | None = None  # sent as a bearer token; must be an ${oc.env:...} reference
    timeout_s: Annotated[float, Field(gt=0.0, le=60.0)] = 5.0
    retries: Annotated[int, Field(ge=0, le=10)] = 3


AlertSpec = Annotated[LogAlertSpec | WebhookAlertSpec, Field(discriminator="type")]


class MonitoringSpec(Strict):
    covariate: CovariateSpec = CovariateSpec()
    concept: ConceptSpec = ConceptSpec()
    window: Duration = "1d"
    alerts: list[AlertSpec] = [LogAlertSpec(type="log")]
    dashboard: Literal["html", "none"] = "html"


# --- Where the heavy stages run ---------------------------------------------------
# A Dask scheduler address, `local` (a LocalCluster started for the stage), or an
# environment reference: the address is resolved when a stage starts, so pointing the
# same build at a cluster re-runs nothing (the outputs are identical by test).
SCHEDULER_PATTERN = re.compile(r"^(local|(tcp|tls|ws|wss|inproc)://\S+|\$\{oc\.env:[A-Za-z_][A-Za-z0-9_]*(,[^}]*)?\})$")


def _check_scheduler(value: str) -> str:
    if not SCHEDULER_PATTERN.match(value):
        raise ValueError(
            f"{value!r} is not a scheduler: use local (a LocalCluster per stage), an address such as "
            "tcp://host:8786, or ${oc.env:MLWRIGHT_DASK_SCHEDULER,local}"
        )
    return value


class PartitionSpec(Strict):
    by: Literal["entity"] = "entity"  # every join of features.sql is by entity: buckets never share a row
    buckets: Annotated[int, Field(ge=1, le=4096)] = 1


class ComputeSpec(Strict):
    """`compute:`: the engine for featurize, training's CV and search, batch scoring and
    the monitor. Absent: one process (`local`, one bucket), as before this section."""

    engine: Literal["local", "dask"] = "local"
    scheduler: Annotated[Text, Field(max_length=512), AfterValidator(_check_scheduler)] = "local"
    workers: Annotated[int, Field(ge=1, le=1024)] = 2  # for `scheduler: local` (a LocalCluster)
    threads_per_worker: Annotated[int, Field(ge=1, le=256)] = 1
    memory_limit: Size | Literal["auto"] = "auto"  # per LocalCluster worker
    partitions: PartitionSpec = PartitionSpec()
    # above this many training rows the final fit runs in lightgbm.dask across the workers
    distributed_fit_rows: Annotated[int, Field(ge=1)] = 5_000_000


# --- The system ------------------------------------------------------------------
class SystemSpec(Strict):
    """One production ML system: the seven stages in one file."""

    name: Name
    version: Annotated[Text, Field(pattern=r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")]
    defaults: list[Any] = []
    spec: ProblemSpec
    data: DataSpec
    expectations: ExpectationsSpec = ExpectationsSpec()
    features: FeaturesSpec
    training: TrainingSpec = LightGBMTrainingSpec(backend="lightgbm")
    serving: ServingSpec = ServingSpec()
    monitoring: MonitoringSpec = MonitoringSpec()
    compute: ComputeSpec = ComputeSpec()

    @model_validator(mode="before")
    @classmethod
    def _features_from_inputs(cls, data: Any) -> Any:
        """What `features` leaves out follows from `spec`: the entity and timestamp are
        the problem's, and without `definitions` every input but the entity is a
        feature as it is, read from the one source whose schema declares it (tables go
        to a model as their columns are, the common case). Inputs no single source
        declares are left out; `inputs_known` then names them."""
        if not isinstance(data, dict) or not isinstance(data.get("spec"), dict):
            return data
        features = data.get("features", {})
        if not isinstance(features, dict):
            return data
        problem = data["spec"]
        derived = {"entity": problem.get("entity"), **features}
        if problem.get("timestamp") is not None:
            derived.setdefault("timestamp", problem["timestamp"])
        if "definitions" not in features:
            expectations = data.get("expectations")
            schema = expectations.get("schema") if isinstance(expectations, dict) else None
            schema = schema if isinstance(schema, dict) else {}
            inputs = problem.get("inputs") if isinstance(problem.get("inputs"), list) else []
            derived["definitions"] = [
                {"name": name, "from": holders[0], "expr": name, **_encoding_of(schema[holders[0]][name])}
                for name in inputs
                if isinstance(name, str)
                and name != problem.get("entity")
                and len(holders := [src for src, cols in schema.items() if isinstance(cols, dict) and name in cols])
                == 1
            ]
        return {**data, "features": derived}

    @model_validator(mode="before")
    @classmethod
    def _source_times(cls, data: Any) -> Any:
        """A source that has a column named like `spec.timestamp` (in its schema, or a
        DICOM metadata column) is timed by it unless it names its own `time_column`."""
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("spec"), dict)
            or not isinstance(data.get("data"), dict)
        ):
            return data
        ts, sources = data["spec"].get("timestamp"), data["data"].get("sources")
        if not isinstance(ts, str) or not ts or not isinstance(sources, list):
            return data  # validation reports a timestamp that is not a name
        expectations = data.get("expectations")
        schema = expectations.get("schema") if isinstance(expectations, dict) else None
        schema = schema if isinstance(schema, dict) else {}

        def timed(src: dict[str, Any]) -> dict[str, Any]:
            name = src.get("name")
            cols = schema.get(name) if isinstance(name, str) else None
            meta = src.get("metadata")
            has = (isinstance(cols, dict) and ts in cols) or (isinstance(meta, dict) and ts in meta)
            return {**src, "time_column": ts} if has and "time_column" not in src else src

        filled = [timed(src) if isinstance(src, dict) else src for src in sources]
        return {**data, "data": {**data["data"], "sources": filled}}

    @model_validator(mode="before")
    @classmethod
    def _default_params(cls, data: Any) -> Any:
        """The backend's fixed parameters the spec leaves out, filled in (runs after the
        backend itself is defaulted): a torch model over images is the small CNN."""
        if not isinstance(data, dict):
            return data
        training = data.get("training", {"backend": "lightgbm"})
        if not isinstance(training, dict) or not isinstance(training.get("params", {}), dict):
            return data
        backend = str(training.get("backend", "lightgbm"))
        defaults = dict(DEFAULT_PARAMS.get(backend, {}))
        if backend == "torch":
            features = data.get("features")
            image = isinstance(features, dict) and features.get("image") is not None
            defaults["model"] = "small_cnn" if image else "mlp"
        return {**data, "training": {**training, "params": {**defaults, **training.get("params", {})}}}

    @model_validator(mode="before")
    @classmethod
    def _default_backend(cls, data: Any) -> Any:
        """`training:` without a backend means the default one, as no section does."""
        training = data.get("training") if isinstance(data, dict) else None
        if isinstance(training, dict) and "backend" not in training:
            return {**data, "training": {"backend": "lightgbm", **training}}
        return data

    @model_validator(mode="before")
    @classmethod
    def _default_search_space(cls, data: Any) -> Any:
        """`hpo.trials` always has something to search: without a written `space`, the
        backend's usual one (written out in spec.resolved.yaml); with `space: {}` (fixed
        parameters) one trial, unless the spec writes more (then `search_is_possible`
        refuses it: trials that search nothing would be a setting that does nothing)."""
        # a spec without a training section gets the default search too (a timed spec
        # has no other validator that writes the section first)
        training = data.get("training", {"backend": "lightgbm"}) if isinstance(data, dict) else None
        if not isinstance(training, dict):
            return data
        hpo = training.get("hpo", {})
        if not isinstance(hpo, dict):
            return data
        if "space" not in hpo:
            hpo = {**hpo, "space": DEFAULT_SPACES.get(str(training.get("backend", "lightgbm")), {})}
        elif hpo["space"] == {} and "trials" not in hpo:
            hpo = {**hpo, "trials": 1}
        return {**data, "training": {**training, "hpo": hpo}}

    @model_validator(mode="before")
    @classmethod
    def _metrics_for_regression(cls, data: Any) -> Any:
        """A regression spec that leaves out `spec.metric.name` is scored by RMSE, and
        one that leaves out `monitoring.concept.metric` watches its own error metric,
        not the classification defaults (F-beta, f1) a regression cannot compute."""
        problem = data.get("spec") if isinstance(data, dict) else None
        if not isinstance(problem, dict) or problem.get("task") != "regression":
            return data
        metric = problem.get("metric", {})
        if isinstance(metric, dict) and "name" not in metric:
            metric = {"name": "rmse", **metric}
            data = {**data, "spec": {**problem, "metric": metric}}
        monitoring = data.get("monitoring", {})
        concept = monitoring.get("concept", {}) if isinstance(monitoring, dict) else None
        if not isinstance(concept, dict) or "metric" in concept:
            return data
        name = metric.get("name") if isinstance(metric, dict) else None
        concept = {"metric": name if name in ("rmse", "mae") else "rmse", **concept}
        return {**data, "monitoring": {**monitoring, "concept": concept}}

    @model_validator(mode="before")
    @classmethod
    def _splits_without_time(cls, data: Any) -> Any:
        """No spec.timestamp: split and cross-validate at random unless the spec says
        otherwise (a time split has no time to go by; `split_rules` refuses one)."""
        if not isinstance(data, dict) or not isinstance(data.get("spec"), dict) or data["spec"].get("timestamp"):
            return data
        training = data.get("training", {"backend": "lightgbm"})
        if not isinstance(training, dict):
            return data
        split, cv = training.get("split", {}), training.get("cv", {})
        if not isinstance(split, dict) or not isinstance(cv, dict):
            return data
        split = {"strategy": "random", **split}
        cv = {"strategy": "kfold", **cv}
        return {**data, "training": {**training, "split": split, "cv": cv}}


def _encoding_of(column: Any) -> dict[str, str]:
    """A derived feature of a `category` column is encoded as one (a model splits on its
    values, and training and monitoring report metrics per value)."""
    return {"encoding": "category"} if isinstance(column, dict) and column.get("type") == "category" else {}


SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_key|apikey|access_key|credential)", re.I)
