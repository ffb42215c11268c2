"""Settings read by commands, never by a DVC stage: changing them re-runs nothing."""

from __future__ import annotations

from typing import Literal

from .base import Section


class GatesParams(Section):
    """`mlwright gates`: the acceptance table's own thresholds."""

    retrieval_p99_ms: float


class VersioningParams(Section):
    """push, pull, rebuild and verify."""

    remote: str  # may be an ${oc.env:...} reference
    rebuild_sla_seconds: int


class KubernetesRollout(Section):
    namespace: str
    rollout: str
    controller: Literal["argo-rollouts", "none"]


class DeployParams(Section):
    """`mlwright canary promote|rollback` for a Kubernetes build."""

    kubernetes: KubernetesRollout
