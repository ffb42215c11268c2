"""register and package: the registration gate, and the image the bundle is built into."""

from __future__ import annotations

from .base import Section
from .train import MetricName, Tracking


class RegisterParams(Section):
    name: str
    model_version: str
    reproduce: bool
    tolerance: float
    min_metric: float | None
    tracking: Tracking
    reference_bins: int  # monitoring.covariate.bins: the bundle's reference profile
    concept_metric: MetricName  # monitoring.concept.metric: the bundle's concept baseline


class PackageParams(Section):
    name: str
    model_version: str
    base_image: str
    max_size_bytes: int
