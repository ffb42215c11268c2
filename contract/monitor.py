"""monitor: covariate and concept drift, the window, the alerts and the dashboard."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Section
from .problem import Task


class Covariate(Section):
    metric: Literal["psi"]
    threshold: float
    bins: int
    ks_p_value: float
    epsilon: float
    min_rows: int


class Concept(Section):
    labels: str | None  # relative to the build folder, or a remote URL; may be a glob
    key: tuple[str, ...]
    metric: Literal["f1", "fbeta", "roc_auc", "pr_auc", "rmse", "mae"]
    max_relative_drop: float
    min_labels: int


class LogAlert(Section):
    type: Literal["log"]
    path: str


class WebhookAlert(Section):
    type: Literal["webhook"]
    url: str
    token: str | None
    timeout_s: float
    retries: int


Alert = Annotated[LogAlert | WebhookAlert, Field(discriminator="type")]


class MonitorParams(Section):
    entity: str
    timestamp: str | None
    task: Task
    covariate: Covariate
    concept: Concept
    window_seconds: int
    alerts: tuple[Alert, ...]
    dashboard: Literal["html", "none"]
    slices: tuple[str, ...]
    log_path: str
