"""The intermediate representation: a frozen, fully resolved `SystemPlan`.

Everything emitters need and nothing they must compute: defaults explicit, units
converted (seconds, bytes, fractions), feature -> source -> column resolved,
collections in a stable order, and the stage graph with each stage's command,
deps, params sections and outs. `ir_version` changes whenever this shape does.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from mlwright.contract import IR_VERSION, Params

__all__ = ["IR_VERSION", "SystemPlan"]


@dataclass(frozen=True)
class RowFeaturePlan:
    name: str
    source: str
    sql: str
    columns: tuple[str, ...]
    encoding: Literal["category", "one_hot", "none"]


@dataclass(frozen=True)
class WindowFeaturePlan:
    name: str
    source: str
    sql: str
    columns: tuple[str, ...]
    window_seconds: int
    time_column: str
    counts: bool


@dataclass(frozen=True)
class SourcePlan:
    name: str
    format: str
    uri: str  # relative to the spec folder, or s3://
    dep: str  # what DVC tracks, relative to the build folder ("" for remote data)
    columns: tuple[tuple[str, str], ...]  # (column, declared type), sorted
    options: tuple[tuple[str, Any], ...] = ()
    time_column: str | None = None  # rows are joined as of the training row's time by it


@dataclass(frozen=True)
class StagePlan:
    name: str
    cmd: str
    deps: tuple[str, ...]
    params: tuple[str, ...]
    outs: tuple[str, ...]
    metrics: tuple[str, ...] = ()
    # outs DVC must not delete before the stage runs (a Delta table keeps its history)
    persist: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class CanaryStepPlan:
    weight: int  # percent of traffic (or of pods) on the candidate
    pause_seconds: int


@dataclass(frozen=True)
class DeployPlan:
    """`serving.kubernetes`, resolved: what `deploy/k8s/` is emitted from."""

    name: str
    namespace: str
    image: str  # repository; the tag is the model version
    model_version: str
    port: int
    replicas_min: int
    replicas_max: int
    cpu_target: int
    requests: tuple[tuple[str, str], ...]
    limits: tuple[tuple[str, str], ...]
    api_key_env: str | None  # None: the endpoint takes no API key
    secret_name: str
    secret_key: str
    host: str | None
    controller: Literal["argo-rollouts", "none"]
    traffic: str  # nginx | replicas
    prometheus: str
    interval_seconds: int
    steps: tuple[CanaryStepPlan, ...]
    success_rate: float
    min_requests: int
    latency_p99_ms: float
    schedules: tuple[tuple[str, str], ...]  # (command, cron), for predict and monitor
    online: bool = True  # serving.mode: online deploys the endpoint; batch only the jobs
    overlay: str = "default"  # the profile compiled with: deploy/k8s/overlays/<overlay>/


@dataclass(frozen=True)
class SystemPlan:
    ir_version: int
    name: str
    version: str
    model_version: str
    compiler_version: str
    task: str
    target: str
    entity: str
    timestamp: str | None
    inputs: tuple[str, ...]
    label_source: str
    sources: tuple[SourcePlan, ...]
    row_features: tuple[RowFeaturePlan, ...]
    window_features: tuple[WindowFeaturePlan, ...]
    stages: tuple[StagePlan, ...]
    params: Params  # the contract: params.yaml, one section per stage, what that stage reads
    resolved: dict[str, Any]  # the spec with every default explicit
    deploy: DeployPlan | None = None  # serving.kubernetes; None: nothing to deploy to a cluster

    def stage(self, name: str) -> StagePlan:
        return next(s for s in self.stages if s.name == name)

    def downstream(self, names: set[str]) -> list[str]:
        """`names` plus every stage that depends on them, in pipeline order."""
        hit = set(names)
        for s in self.stages:
            if hit & set(s.upstream):
                hit.add(s.name)
        return [s.name for s in self.stages if s.name in hit]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "params": self.params.as_yaml_data()}
