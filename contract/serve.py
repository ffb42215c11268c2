"""serve, predict and canary: the request contract, the endpoint, batch scoring, rollout."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import SerializerFunctionWrapHandler, model_serializer

from .base import Section


class InputConstraint(Section):
    """Bounds a served or scored input must keep; an absent bound is left out, not null."""

    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] | None = None
    nullable: bool | None = None  # True only where the schema writes it: a request may send null

    @model_serializer(mode="wrap")
    def _without_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class Sla(Section):
    latency_p99_ms: float
    availability: float


class Canary(Section):
    traffic: float
    duration_seconds: int
    success_rate: float
    steps: tuple[float, ...]
    min_requests: int


class Batch(Section):
    input: str | None
    output: str
    chunk_rows: int
    pass_through: tuple[str, ...]
    out_of_contract: Literal["flag", "refuse"]


class ServeParams(Section):
    name: str
    entity: str
    inputs: dict[str, str]  # request field -> type
    input_constraints: dict[str, InputConstraint]
    rename: dict[str, str]  # file column -> spec name, for batch files and delayed labels
    host: str
    port: int
    workers: int
    request_limit_bytes: int
    timeout_ms: int
    max_concurrency: int
    api_key_env: str | None
    api_key_header: str
    log_path: str
    sla: Sla
    canary: Canary
    batch: Batch
    mode: Literal["online", "batch"]
