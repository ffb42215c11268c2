"""`mlwright canary promote|rollback` for a build deployed on Kubernetes.

There, the canary belongs to the cluster's controller (one controller at a time):
the in-process canary of `mlwright serve` is not used, and promoting or rolling back
is the controller's own command. This module says which one, for the build's
namespace and rollout, and runs it when asked (`--kubectl`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from mlwright.contract.commands import KubernetesRollout
from mlwright.runtime.context import UserError, parsed_params

ACTIONS = {
    "argo-rollouts": {
        "promote": ["argo", "rollouts", "promote"],  # the next step now, pauses skipped
        "rollback": ["argo", "rollouts", "abort"],  # all traffic back to the stable pods
    },
    "none": {
        "rollback": ["rollout", "undo"],  # the previous Deployment revision
    },
}


def deployment(build: Path) -> KubernetesRollout | None:
    """The build's `deploy.kubernetes` params, or None for a build without a cluster."""
    params = build / "params.yaml"
    if not params.is_file():
        return None
    deploy = parsed_params(params).deploy
    return deploy.kubernetes if deploy is not None else None


def kubectl_command(k8s: KubernetesRollout, action: str) -> list[str]:
    verbs = ACTIONS[k8s.controller].get(action)
    if verbs is None:
        raise UserError(
            f"canary {action}: a plain Deployment (canary.controller: none) has no canary to {action}; "
            "roll out by applying the new image"
        )
    target = k8s.rollout if k8s.controller == "argo-rollouts" else f"deployment/{k8s.rollout}"
    return ["kubectl", *verbs, target, "-n", k8s.namespace]


def run_kubectl(command: list[str]) -> int:
    exe = shutil.which(command[0])
    if exe is None:
        raise UserError("--kubectl: kubectl is not on PATH (leave out --kubectl to print the command)")
    return subprocess.run([exe, *command[1:]], check=False).returncode
