"""train: the metric, the split, cross-validation, the search, and the tracker."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Scalar, Section
from .problem import Problem

MetricName = Literal["fbeta", "f1", "roc_auc", "pr_auc", "logloss", "rmse", "mae"]


class Metric(Section):
    name: MetricName
    beta: float
    threshold: Literal["auto"] | float


class Costs(Section):
    false_negative: float
    false_positive: float


class Split(Section):
    strategy: Literal["time", "random"]
    validation: float
    test: float
    gap_seconds: int


class Cv(Section):
    folds: int
    strategy: Literal["time_series", "kfold"]


class IntRange(Section):
    type: Literal["int"]
    low: int
    high: int
    log: bool
    step: int


class FloatRange(Section):
    type: Literal["float"]
    low: float
    high: float
    log: bool


class Choice(Section):
    type: Literal["categorical"]
    choices: tuple[Scalar, ...]


SearchSpace = Annotated[IntRange | FloatRange | Choice, Field(discriminator="type")]


class Search(Section):
    trials: int
    timeout_seconds: int
    sampler: Literal["tpe", "random"]
    space: dict[str, SearchSpace]


class Tracking(Section):
    backend: Literal["mlflow", "wandb"]
    uri: str  # may be an ${oc.env:...} reference, resolved when a stage starts
    experiment: str


class TrainParams(Problem):
    name: str
    backend: Literal["lightgbm", "torch"]
    seed: int
    missing_target: Literal["refuse", "drop"]
    metric: Metric
    costs: Costs
    split: Split
    cv: Cv
    hpo: Search
    params: dict[str, Scalar]  # the backend's fixed hyperparameters, defaults included
    slices: tuple[str, ...]  # categorical inputs the test metrics are reported per value of
    tracking: Tracking
    offline_as_of: str | None  # the offline store's Delta version to train on (None: the latest)
