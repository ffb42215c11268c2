"""featurize: the feature definitions, the image transform, and both stores."""

from __future__ import annotations

from typing import Literal

from .base import Section
from .problem import Problem


class RowFeature(Section):
    name: str
    source: str
    sql: str
    encoding: Literal["category", "one_hot", "none"]
    columns: tuple[str, ...]


class WindowFeature(Section):
    name: str
    source: str
    sql: str
    window_seconds: int
    time_column: str
    counts: bool  # a count: 0 (not missing) for an entity with no rows in the window


class ImageTransform(Section):
    source: str
    center: float  # Hounsfield window
    width: float
    size: tuple[int, int]
    normalize: Literal["per_image", "none"]


class OnlineStore(Section):
    backend: Literal["sqlite", "redis", "dynamodb"]
    path: str  # sqlite
    url: str  # redis; may be an ${oc.env:...} reference, resolved when a stage starts
    ttl_seconds: int
    timeout_ms: int
    table: str  # dynamodb
    region: str
    endpoint: str | None


class FeaturizeParams(Problem):
    name: str
    label_source: str
    sql: str  # the emitted features.sql, relative to the build folder
    row_features: tuple[RowFeature, ...]
    window_features: tuple[WindowFeature, ...]
    image: ImageTransform | None
    dimension_sources: tuple[str, ...]  # joined without a time column: one row per entity
    offline_path: str
    offline_format: Literal["parquet", "delta"]
    online: OnlineStore
