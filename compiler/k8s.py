"""`deploy/k8s/`: the endpoint as Kubernetes manifests, from `DeployPlan`.

With `canary.controller: argo-rollouts`, an Argo Rollouts `Rollout` moves traffic to
the candidate in the spec's steps and an `AnalysisTemplate` judges it from the
endpoint's own `/metrics` series in Prometheus: the success rate against
`canary.success_rate`, p99 latency against the SLA, both for the candidate's
`model_version` only and only once `canary.min_requests` were seen; with no data the
query is empty, the measurement errors and the rollout aborts (it never promotes on
silence). Traffic goes through an NGINX ingress, or (`traffic: replicas`) by the
ratio of canary to stable pods. `controller: none` is a plain `Deployment`. Either
way: stable (and canary) `Service`, `HorizontalPodAutoscaler` on CPU,
`PodDisruptionBudget`, probes on `/health` and `/ready`, the API key from a `Secret`
reference (never a value), Prometheus scrape annotations, restricted-profile pod
security, and a `CronJob` per scheduled batch command running the same image.

Every manifest is plain data dumped with sorted keys (byte-stable), and
`cross_references` checks the tree hangs together before anything is written.
"""

from __future__ import annotations

from typing import Any

from .plan import DeployPlan

Manifest = dict[str, Any]
ROLLOUTS_API = "argoproj.io/v1alpha1"
UID = 10001  # the image's user (serving/Dockerfile)
DATA = "/data"  # where scheduled jobs find their input and write their output


def selector(d: DeployPlan) -> dict[str, str]:
    return {"app.kubernetes.io/name": d.name}


def labels(d: DeployPlan) -> dict[str, str]:
    return {**selector(d), "app.kubernetes.io/part-of": "mlwright", "app.kubernetes.io/version": d.model_version}


def meta(d: DeployPlan, name: str) -> dict[str, Any]:
    return {"name": name, "labels": labels(d)}


def image(d: DeployPlan) -> str:
    return f"{d.image}:{d.model_version}"


def pod_security() -> dict[str, Any]:
    """The restricted Pod Security Standard: non-root, no privilege escalation, no
    capabilities, the runtime's seccomp profile."""
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def resources(d: DeployPlan) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if d.requests:
        out["requests"] = dict(d.requests)
    if d.limits:
        out["limits"] = dict(d.limits)
    return out


def api_key_env(d: DeployPlan) -> list[dict[str, Any]]:
    """The key as the endpoint reads it, from a Secret the cluster holds (never a value here)."""
    if d.api_key_env is None:
        return []
    return [{"name": d.api_key_env, "valueFrom": {"secretKeyRef": {"name": d.secret_name, "key": d.secret_key}}}]


def pod_template(d: DeployPlan) -> dict[str, Any]:
    return {
        "metadata": {
            "labels": labels(d),
            "annotations": {
                "prometheus.io/scrape": "true",
                "prometheus.io/port": str(d.port),
                "prometheus.io/path": "/metrics",
            },
        },
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": pod_security(),
            "containers": [
                {
                    "name": "serve",
                    "image": image(d),
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"name": "http", "containerPort": d.port, "protocol": "TCP"}],
                    "env": api_key_env(d),
                    "readinessProbe": {
                        "httpGet": {"path": "/ready", "port": "http"},
                        "periodSeconds": 5,
                        "failureThreshold": 3,
                    },
                    "livenessProbe": {
                        "httpGet": {"path": "/health", "port": "http"},
                        "initialDelaySeconds": 10,
                        "periodSeconds": 10,
                        "failureThreshold": 3,
                    },
                    "resources": resources(d),
                    "securityContext": container_security(),
                }
            ],
        },
    }


def canary_strategy(d: DeployPlan) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    for s in d.steps:
        steps += [{"setWeight": s.weight}, {"pause": {"duration": f"{s.pause_seconds}s"}}]
    canary: dict[str, Any] = {
        "canaryService": f"{d.name}-canary",
        "stableService": d.name,
        "analysis": {
            "templates": [{"templateName": f"{d.name}-canary"}],
            "startingStep": 1,  # from the first weight on, in the background, until the end
            "args": [{"name": "system", "value": d.name}, {"name": "model-version", "value": d.model_version}],
        },
        "steps": steps,
    }
    if d.traffic == "nginx":
        canary["trafficRouting"] = {"nginx": {"stableIngress": d.name}}
    return {"canary": canary}


def workload(d: DeployPlan) -> Manifest:
    spec: dict[str, Any] = {
        "replicas": d.replicas_min,
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": selector(d)},
        "template": pod_template(d),
    }
    if d.controller == "argo-rollouts":
        return {
            "apiVersion": ROLLOUTS_API,
            "kind": "Rollout",
            "metadata": meta(d, d.name),
            "spec": {**spec, "strategy": canary_strategy(d)},
        }
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(d, d.name), "spec": spec}


def series(d: DeployPlan, metric: str, extra: str = "") -> str:
    """A selector of the candidate's own series (the analysis fills in the args)."""
    return f'{metric}{{system="{{{{args.system}}}}",model_version="{{{{args.model-version}}}}"{extra}}}'


def queries(d: DeployPlan) -> dict[str, str]:
    """PromQL of the two measurements, each empty unless the candidate served at least
    `min_requests` in the window (`and on()`): no data is an error, never a pass."""
    w = f"{d.interval_seconds}s"
    requests = series(d, "mlwright_requests_total")
    served = series(d, "mlwright_requests_total", ',status!~"5.."')  # a 4xx is the client's error, not the model's
    total = f"sum(increase({requests}[{w}]))"
    ok = f"(sum(increase({served}[{w}])) or on() vector(0))"
    enough = f"on() ({total} >= {d.min_requests})"
    latency = f"histogram_quantile(0.99, sum by (le) (rate({series(d, 'mlwright_request_latency_seconds_bucket')}[{w}]))) * 1000"
    return {
        "success-rate": f"({ok} / {total}) and {enough}",
        "latency-p99-ms": f"({latency}) and {enough}",
    }


def analysis_template(d: DeployPlan) -> Manifest:
    q = queries(d)
    prometheus = {"address": d.prometheus}
    common = {
        "interval": f"{d.interval_seconds}s",
        "initialDelay": f"{d.interval_seconds}s",  # the first window is full before it is judged
        "failureLimit": 0,
        "consecutiveErrorLimit": 0,  # an empty result (too few requests, no series) aborts
    }
    return {
        "apiVersion": ROLLOUTS_API,
        "kind": "AnalysisTemplate",
        "metadata": meta(d, f"{d.name}-canary"),
        "spec": {
            "args": [{"name": "system"}, {"name": "model-version"}],
            "metrics": [
                {
                    "name": "success-rate",
                    **common,
                    "successCondition": f"result[0] >= {d.success_rate:g}",
                    "provider": {"prometheus": {**prometheus, "query": q["success-rate"]}},
                },
                {
                    "name": "latency-p99-ms",
                    **common,
                    "failureCondition": f"result[0] > {d.latency_p99_ms:g}",
                    "provider": {"prometheus": {**prometheus, "query": q["latency-p99-ms"]}},
                },
            ],
        },
    }


def service(d: DeployPlan, name: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(d, name),
        "spec": {
            "type": "ClusterIP",
            "selector": selector(d),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def ingress(d: DeployPlan) -> Manifest:
    path = {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": d.name, "port": {"name": "http"}}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta(d, d.name),
        "spec": {"ingressClassName": "nginx", "rules": [{"host": d.host, "http": {"paths": [path]}}]},
    }


def autoscaler(d: DeployPlan) -> Manifest:
    target = workload(d)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(d, d.name),
        "spec": {
            "scaleTargetRef": {"apiVersion": target["apiVersion"], "kind": target["kind"], "name": d.name},
            "minReplicas": d.replicas_min,
            "maxReplicas": d.replicas_max,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": d.cpu_target}},
                }
            ],
        },
    }


def disruption_budget(d: DeployPlan) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(d, d.name),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(d)}},
    }


def data_claim(d: DeployPlan) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta(d, f"{d.name}-data"),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
    }


def cron_job(d: DeployPlan, command: str, schedule: str, args: list[str]) -> Manifest:
    pod = {
        "metadata": {"labels": {**labels(d), "app.kubernetes.io/component": command}},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": pod_security(),
            "containers": [
                {
                    "name": command,
                    "image": image(d),
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["mlwright", command, "/app"],  # the image's entrypoint differs by mode
                    "args": args,
                    "env": api_key_env(d) if command == "monitor" else [],
                    "resources": resources(d),
                    "securityContext": container_security(),
                    "volumeMounts": [{"name": "data", "mountPath": DATA}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": f"{d.name}-data"}}],
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": meta(d, f"{d.name}-{command}"),
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",  # a run still scoring is never doubled
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {"backoffLimit": 2, "template": pod}},
        },
    }


def job_args(command: str, batch: dict[str, Any], labels_pattern: str | None) -> list[str]:
    """Scheduled commands read and write under the data volume, by the spec's paths."""
    if command == "predict":
        return ["--input", f"{DATA}/{batch['input']}", "--output", f"{DATA}/{batch['output']}"]
    args = ["--current", f"{DATA}/{batch['input']}"]
    return [*args, "--labels", f"{DATA}/{labels_pattern}"] if labels_pattern else args


def manifests(d: DeployPlan, batch: dict[str, Any], labels_pattern: str | None) -> dict[str, Manifest]:
    """File name (under deploy/k8s/) -> manifest. `serving.mode: batch` deploys no
    endpoint: only the scheduled jobs and their volume."""
    out: dict[str, Manifest] = {}
    if d.online:
        out |= {
            "workload.yaml": workload(d),
            "service.yaml": service(d, d.name),
            "hpa.yaml": autoscaler(d),
            "pdb.yaml": disruption_budget(d),
        }
        if d.controller == "argo-rollouts":
            out["service-canary.yaml"] = service(d, f"{d.name}-canary")
            out["analysis-template.yaml"] = analysis_template(d)
        if d.host is not None:
            out["ingress.yaml"] = ingress(d)
    for command, schedule in d.schedules:
        out[f"cronjob-{command}.yaml"] = cron_job(d, command, schedule, job_args(command, batch, labels_pattern))
    if d.schedules:
        out["pvc-data.yaml"] = data_claim(d)
    return out


def kustomization(files: list[str]) -> Manifest:
    """base/: every manifest, environment-free."""
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": sorted(files)}


def overlay(d: DeployPlan) -> Manifest:
    """overlays/<profile>/: where and which image, for the profile this build was compiled with."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": d.namespace,
        "resources": ["../../base"],
        "images": [{"name": d.image, "newTag": d.model_version}],
        "labels": [{"pairs": {"mlwright.io/profile": d.overlay}, "includeSelectors": False}],
    }


def cross_references(docs: dict[str, Manifest]) -> list[str]:
    """What must agree between manifests, as problems (empty: the tree hangs together):
    selectors match the pod labels, the Services and Ingress the Rollout names exist,
    the HPA targets the workload, the analysis's args are all filled, every claim a
    job mounts is in the tree."""
    by_kind: dict[str, dict[str, Manifest]] = {}
    for doc in docs.values():
        by_kind.setdefault(doc.get("kind", ""), {})[doc.get("metadata", {}).get("name", "")] = doc
    problems: list[str] = []
    workloads = {**by_kind.get("Rollout", {}), **by_kind.get("Deployment", {})}
    for name, w in workloads.items():
        pod_labels = w["spec"]["template"]["metadata"].get("labels", {})
        wanted = w["spec"]["selector"].get("matchLabels", {})
        if any(pod_labels.get(k) != v for k, v in wanted.items()):
            problems.append(f"{w['kind']} {name}: selector {wanted} does not match its pod labels {pod_labels}")
        for svc in by_kind.get("Service", {}).values():
            chosen = svc["spec"].get("selector", {})
            if any(pod_labels.get(k) != v for k, v in chosen.items()):
                problems.append(f"Service {svc['metadata']['name']}: selector {chosen} matches no pod of {name}")
        canary = w["spec"].get("strategy", {}).get("canary")
        if canary:
            for key in ("canaryService", "stableService"):
                if canary.get(key) not in by_kind.get("Service", {}):
                    problems.append(f"Rollout {name}: {key} {canary.get(key)!r} is not a Service in the tree")
            stable_ingress = canary.get("trafficRouting", {}).get("nginx", {}).get("stableIngress")
            if stable_ingress is not None and stable_ingress not in by_kind.get("Ingress", {}):
                problems.append(f"Rollout {name}: stableIngress {stable_ingress!r} is not an Ingress in the tree")
            analysis = canary.get("analysis", {})
            given = {a["name"] for a in analysis.get("args", []) if a.get("value") not in (None, "")}
            for ref in analysis.get("templates", []):
                template = by_kind.get("AnalysisTemplate", {}).get(ref.get("templateName"))
                if template is None:
                    problems.append(f"Rollout {name}: analysis template {ref.get('templateName')!r} is not in the tree")
                    continue
                needed = {a["name"] for a in template["spec"].get("args", []) if "value" not in a}
                if needed - given:
                    problems.append(f"Rollout {name}: analysis args {sorted(needed - given)} are not filled")
    for hpa in by_kind.get("HorizontalPodAutoscaler", {}).values():
        ref = hpa["spec"]["scaleTargetRef"]
        target = workloads.get(ref.get("name"))
        if target is None or (target["apiVersion"], target["kind"]) != (ref.get("apiVersion"), ref.get("kind")):
            problems.append(
                f"HorizontalPodAutoscaler {hpa['metadata']['name']}: targets {ref}, not a workload in the tree"
            )
    for pdb in by_kind.get("PodDisruptionBudget", {}).values():
        wanted = pdb["spec"]["selector"].get("matchLabels", {})
        if not any(
            all(w["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in wanted.items())
            for w in workloads.values()
        ):
            problems.append(f"PodDisruptionBudget {pdb['metadata']['name']}: selector {wanted} matches no pod")
    for ing in by_kind.get("Ingress", {}).values():
        for rule in ing["spec"].get("rules", []):
            for path in rule.get("http", {}).get("paths", []):
                svc = path["backend"]["service"]["name"]
                if svc not in by_kind.get("Service", {}):
                    problems.append(f"Ingress {ing['metadata']['name']}: backend Service {svc!r} is not in the tree")
    claims = by_kind.get("PersistentVolumeClaim", {})
    for job in by_kind.get("CronJob", {}).values():
        pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        for vol in pod.get("volumes", []):
            claim = vol.get("persistentVolumeClaim", {}).get("claimName")
            if claim is not None and claim not in claims:
                problems.append(f"CronJob {job['metadata']['name']}: claim {claim!r} is not in the tree")
    return problems
