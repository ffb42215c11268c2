"""validate: the three layers of expectations (schema, distribution, target) and overrides."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Section
from .problem import Problem


class ColumnCheck(Section):
    type: Literal["string", "int", "float", "bool", "timestamp", "category"]
    nullable: bool
    min: float | None
    max: float | None
    values: tuple[str, ...] | None
    unique: bool
    unique_with: tuple[str, ...] | None


class CrossFieldCheck(Section):
    name: str
    table: str
    check: str  # a DuckDB boolean expression over the table's columns


class DistributionChecks(Section):
    reference: str  # "previous": the dataset version before this one
    continuous: Literal["ks"]
    categorical: Literal["chi2"]
    p_value: float


class TargetChecks(Section):
    max_class_proportion_deviation: float


class Override(Section):
    expectation: str
    justification: str


class ValidateParams(Problem):
    name: str
    label_source: str
    schema_: dict[str, dict[str, ColumnCheck]] = Field(validation_alias="schema", serialization_alias="schema")
    cross_field: tuple[CrossFieldCheck, ...]
    distribution: DistributionChecks
    target_proportion: TargetChecks
    overrides: tuple[Override, ...]
