"""End to end, as a user: compile -> run -> serve -> predict -> monitor, for churn."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ..conftest import chromium_screenshot, free_port, generate, make_project, run_cli, venv_tool, wait_http

pytestmark = pytest.mark.slow
API_KEY = "e2e-secret-key"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    project = make_project(tmp_path_factory.mktemp("churn"), "churn")
    generate(project, "churn")
    yield project


@pytest.fixture(scope="module")
def built(project: Path) -> Path:
    out = run_cli("compile", "pipelines/churn/system.yaml", cwd=project)
    assert out.returncode == 0, out.stderr
    run = run_cli("run", "build/churn", "--quiet", cwd=project)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ran ingest, validate, featurize, train, register, package" in run.stdout
    return project / "build" / "churn"


def test_contract_files_exist_with_sane_content(built: Path) -> None:
    manifest = (built / "data" / "manifest.csv").read_text().splitlines()
    assert manifest[0] == "path,sha256,size,modified" and len(manifest) == 5
    validation = json.loads((built / "reports" / "validation.json").read_text())
    assert validation["verdict"] == "passed" and (built / "reports" / "validation.html").is_file()
    assert (
        list((built / "features" / "offline").glob("part-*.parquet"))
        and (built / "features" / "online.sqlite").is_file()
    )
    metrics = json.loads((built / "reports" / "metrics.json").read_text())
    assert {"search", "validation", "test", "threshold"} <= set(metrics)
    assert len(metrics["search"]["cv_scores"]) == 5 and 0 < metrics["threshold"] < 1
    assert metrics["test"]["fbeta"] > metrics["baseline_test"]["fbeta"] + 0.03
    register = json.loads((built / "reports" / "register.json").read_text())
    assert register["registered"] and register["reproduced"] and register["registry_version"] == "1"
    assert "Status: trained, not yet registered" in (built / "reports" / "model_card.md").read_text()
    card = (built / "models" / "registered" / "model_card.md").read_text()
    assert "Status: registered, its metrics reproduced on a re-run" in card and "not yet registered" not in card
    assert (built / "dist" / "Dockerfile").is_file() and list((built / "dist" / "wheels").glob("mlwright-*.whl"))
    assert (built / ".mlwright" / "tracking.db").is_file()


def test_rerun_skips_everything_and_one_key_reruns_only_downstream(built: Path, project: Path) -> None:
    again = run_cli("run", "build/churn", "--quiet", cwd=project)
    assert again.returncode == 0 and "nothing changed; every stage skipped" in again.stdout
    assert run_cli("status", "build/churn", cwd=project).stdout.strip() == "build/churn: up to date"
    assert run_cli("compile", "pipelines/churn/system.yaml", "training.hpo.trials=6", cwd=project).returncode == 0
    status = run_cli("status", "build/churn", cwd=project).stdout
    assert "train:" in status and "changed param: train" in status and "ingest" not in status
    changed = run_cli("run", "build/churn", "--quiet", cwd=project)
    assert changed.returncode == 0, changed.stderr
    assert "ran train, register, package; skipped ingest, validate, featurize" in changed.stdout


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # MLflow's own SQLAlchemy use, read back here
def test_every_train_run_reaches_the_tracker(built: Path, project: Path) -> None:
    """train stashes its run; register publishes it, and `run --stage train` at its end."""
    import mlflow

    from mlwright.runtime.stores.outbox import pending

    register = json.loads((built / "reports" / "register.json").read_text())
    alone = run_cli("run", "build/churn", "--stage", "train", "--force", "--quiet", cwd=project)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "published 1 train run(s) to the tracker" in alone.stdout and pending(built) == []
    metrics = json.loads((built / "reports" / "metrics.json").read_text())
    record_id = metrics["tracking_record"]
    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{built / '.mlwright' / 'tracking.db'}")
    exps = [e.experiment_id for e in client.search_experiments()]
    [train_run] = client.search_runs(exps, filter_string=f"tags.`mlwright.record_id` = '{record_id}'")
    assert train_run.info.status == "FINISHED" and train_run.data.tags["stage"] == "train"
    assert [a.path for a in client.list_artifacts(train_run.info.run_id)] == ["model"]
    trials = client.search_runs(exps, filter_string=f"tags.mlflow.parentRunId = '{train_run.info.run_id}'")
    assert len(trials) == metrics["search"]["completed"] > 0  # one nested run per finished trial
    registered_from = client.get_run(register["train_run_id"])  # the run register linked its own run to
    assert registered_from.data.tags["stage"] == "train"
    [reg_run] = client.search_runs(exps, filter_string=f"tags.train_run_id = '{register['train_run_id']}'")
    assert reg_run.data.tags["stage"] == "register"

    # a run left waiting (say the tracker was down): status names it, the next run publishes it
    from mlwright.runtime.stores.outbox import stash
    from mlwright.runtime.stores.tracking import RunRecord

    assert run_cli("run", "build/churn", "--quiet", cwd=project).returncode == 0  # register, after train alone
    stash(built, RunRecord("train", {"stage": "train"}, {"note": "waited"}, {"m": 1.0}))
    assert "tracking: 1 train run(s) waiting" in run_cli("status", "build/churn", cwd=project).stdout
    again = run_cli("run", "build/churn", "--quiet", cwd=project)
    assert again.returncode == 0, again.stderr
    assert "nothing changed; every stage skipped; published 1 waiting train run(s)" in again.stdout
    assert pending(built) == []


def test_emitted_project_runs_with_plain_dvc_repro(built: Path, project: Path) -> None:
    assert run_cli("compile", "pipelines/churn/system.yaml", "training.hpo.trials=4", cwd=project).returncode == 0
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=built, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Running stage 'train'" in proc.stdout and "Running stage 'ingest'" not in proc.stdout
    assert json.loads((built / "reports" / "register.json").read_text())["registered"]


def test_tampered_source_stops_the_run_naming_the_file(built: Path, project: Path) -> None:
    events = project / "pipelines" / "churn" / "data" / "events.csv"
    original = events.read_bytes()
    try:
        events.write_bytes(original.replace(b"basic", b"BASIC", 1))
        out = run_cli("run", "build/churn", cwd=project)
        assert out.returncode == 1
        assert "modified: data/events.csv" in out.stderr and "Traceback" not in out.stderr
        assert run_cli("verify", "build/churn", cwd=project).returncode == 1
    finally:
        events.write_bytes(original)
    assert run_cli("verify", "build/churn", cwd=project).returncode == 0


@pytest.fixture(scope="module")
def server(built: Path, project: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "MLWRIGHT_API_KEY": API_KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlwright", "serve", "build/churn", "--host", "127.0.0.1", "--port", str(port)],
        cwd=project,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _score_rows(project: Path) -> pd.DataFrame:
    return pq.read_table(project / "pipelines" / "churn" / "data" / "score" / "batch-000.parquet").to_pandas()


def _request(row: pd.Series) -> dict:
    return {
        "customer_id": row.customer_id,
        "plan": row.plan,
        "monthly_fee": float(row.monthly_fee),
        "support_tickets": int(row.support_tickets),
        "country": row.country,
    }


def test_schemathesis_finds_no_failure_in_the_served_contract(server: str, tmp_path: Path) -> None:
    """Every check schemathesis has, over the OpenAPI document the endpoint serves: a
    request valid by the document is accepted, an invalid one gets a 4xx, every
    response matches its declared schema, no 5xx."""
    exe = venv_tool("schemathesis")
    assert exe, "schemathesis is a dev dependency"
    out = subprocess.run(
        [
            exe,
            "run",
            f"{server}/openapi.json",
            "--checks",
            "all",
            "-n",
            "80",
            "-H",
            f"X-API-Key: {API_KEY}",
            "--seed",
            "7",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]
    assert "No issues found" in out.stdout


def test_endpoint_contract(server: str, project: Path) -> None:
    h = {"X-API-Key": API_KEY}
    assert httpx.get(f"{server}/health").json() == {"status": "ok"}
    assert httpx.get(f"{server}/ready").status_code == 200
    row = _score_rows(project).iloc[0]
    r = httpx.post(f"{server}/predict", json=_request(row), headers={**h, "X-Request-ID": "req-123"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"prediction", "probability", "model_version", "latency_ms", "request_id"}
    assert body["prediction"] in (0, 1) and 0 <= body["probability"] <= 1
    assert body["model_version"] == "v1.0.0" and body["request_id"] == "req-123" and body["latency_ms"] > 0
    assert r.headers["X-Request-ID"] == "req-123"
    unseen = httpx.post(f"{server}/predict", json={**_request(row), "country": "ZZ"}, headers=h)
    assert unseen.status_code == 200 and unseen.json()["unseen_categories"] == ["country"], unseen.text
    assert httpx.post(f"{server}/predict", json=_request(row)).status_code == 401
    assert httpx.post(f"{server}/predict", json=_request(row), headers={"X-API-Key": "wrong"}).status_code == 401
    big = httpx.post(
        f"{server}/predict",
        content=b'{"a": "' + b"x" * 70_000 + b'"}',
        headers={**h, "Content-Type": "application/json"},
    )
    assert big.status_code == 413
    time.sleep(1.2)  # workers publish their counters every second
    metrics = httpx.get(f"{server}/metrics").text
    assert 'mlwright_requests_total{system="churn",model_version="v1.0.0",status="200"}' in metrics
    assert "mlwright_request_latency_seconds_bucket" in metrics
    api = httpx.get(f"{server}/openapi.json").json()  # complete, so clients and schemathesis can use it
    predict = api["paths"]["/predict"]["post"]
    schema = predict["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["required"]) == set(_request(row)) and schema["additionalProperties"] is False
    assert {"200", "401", "413", "415", "422", "503"} <= set(predict["responses"])
    assert set(api["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}


BAD_VALUES = {
    "customer_id": [None, [], {}, ["C1"], 1, 1.5, True, "", "x" * 300, {"id": "C1"}],
    "plan": [None, [], {}, 1, True, "", "gold", "BASIC", "x" * 300, ["pro"]],
    "country": [None, [], {}, 1, False, "", "x" * 300, ["DE"], {"c": "DE"}],
    "monthly_fee": [
        None,
        "",
        "12",
        "1.5",
        True,
        False,
        [],
        {},
        -0.01,
        -1,
        1000.5,
        1e300,
        -1e300,
        10**40,
        [1.0],
        {"v": 1},
    ],
    # 2.0 is not here: an integer to JSON Schema (and the OpenAPI document), accepted as 2
    "support_tickets": [None, "", "3", "three", 1.5, 2.5, True, -1, 10**40, -(10**40), 1e300, [], {}, [3]],
}


def bad_requests(good: dict) -> list[tuple[str, bytes, str]]:
    """(field the 422 must name, body, content type): >= 200 malformed requests."""
    j = "application/json"
    out: list[tuple[str, bytes, str]] = []
    for field, values in BAD_VALUES.items():
        out.append((field, json.dumps({k: v for k, v in good.items() if k != field}).encode(), j))  # missing
        out += [(field, json.dumps({**good, field: v}).encode(), j) for v in values]
        for text in ("NaN", "Infinity", "-Infinity", "1e999"):  # not JSON: orjson refuses the body
            out.append(("body", json.dumps({**good, field: "__X__"}).replace('"__X__"', text).encode(), j))
    out += [
        (extra, json.dumps({**good, extra: 1}).encode(), j) for extra in ("unknown", "churned", "__proto__", "a" * 100)
    ]
    raw = [
        b"",
        b"{",
        b"[]",
        b"null",
        b"123",
        b'"text"',
        b"{'single': 1}",
        b'{"a":1,}',
        b"\xff\xfe",
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 2000 + b"1" + b"}" * 2000,
    ]
    raw.append(json.dumps([good]).encode())
    valid = json.dumps(good).encode()
    raw += [valid[:cut] for cut in range(1, len(valid))]  # every truncation of a valid body
    out += [("body", body, j) for body in raw]
    out += [("body", valid, ctype) for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/xml")]
    return out


def test_two_hundred_bad_requests_get_4xx_naming_the_field(server: str, project: Path) -> None:
    good = _request(_score_rows(project).iloc[1])
    cases = bad_requests(good)
    assert len(cases) >= 200
    with httpx.Client(headers={"X-API-Key": API_KEY}) as client:
        for field, body, ctype in cases:
            r = client.post(f"{server}/predict", content=body, headers={"Content-Type": ctype})
            assert r.status_code in (415, 422), (field, body[:80], r.status_code, r.text)
            if r.status_code == 422:
                assert r.json()["field"] == field, (field, body[:80], r.text)


def score_batch(project: Path, output: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "predict",
        "build/churn",
        "--input",
        "pipelines/churn/data/score/*.parquet",
        "--output",
        str(output),
        "--chunk-rows",
        "100",
        cwd=project,
    )


def test_every_request_is_logged_and_served_equals_batch(
    server: str, built: Path, project: Path, tmp_path: Path
) -> None:
    """Served and batch agree for the same row at the same time. The endpoint serves
    "as of now": the online store holds each entity's latest training row. So the batch
    here is those rows, with their own event times; batch scoring computes features as
    of each row's time, which for these rows are exactly what the store holds."""
    events = pd.read_csv(project / "pipelines" / "churn" / "data" / "events.csv", parse_dates=["event_time"])
    latest = events.sort_values("event_time").groupby("customer_id").tail(1).head(40).reset_index(drop=True)
    latest.drop(columns=["churned"]).to_parquet(tmp_path / "latest.parquet")
    served = {}
    with httpx.Client(headers={"X-API-Key": API_KEY}) as client:
        for i, row in latest.iterrows():
            served[i] = client.post(f"{server}/predict", json=_request(row)).json()["probability"]
    out = run_cli(
        "predict", "build/churn", "--input", str(tmp_path / "latest.parquet"), "--output", str(tmp_path / "asof"),
        cwd=project,
    )  # fmt: skip
    assert out.returncode == 0 and "features as of each row's event time" in out.stdout, out.stdout + out.stderr
    batch = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "asof").glob("part-*.parquet"))]).set_index("row")
    for i, prob in served.items():
        assert batch.loc[i, "probability"] == pytest.approx(prob, abs=1e-6), i
    out = score_batch(project, tmp_path / "pred")
    assert out.returncode == 0, out.stderr
    scored = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "pred").glob("part-*.parquet"))])
    assert len(scored) == len(_score_rows(project)) and scored.set_index("row").index.is_unique
    again = score_batch(project, tmp_path / "pred")
    assert "0 scored now" in again.stdout
    time.sleep(1.2)  # workers publish their counters every second
    metrics = httpx.get(f"{server}/metrics").text
    total = sum(
        int(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("mlwright_requests_total")
    )
    lines = (built / "logs" / "predictions.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == total
    assert {
        "request_id",
        "timestamp",
        "model_version",
        "latency_ms",
        "prediction",
        "probability",
        "inputs",
        "status",
    } <= set(records[-1])
    for r in records[-40:]:  # generated ids: 128 random bits in hex; timestamps: ISO 8601 UTC, milliseconds
        assert re.fullmatch(r"[0-9a-f]{32}", r["request_id"]) and r["timestamp"].endswith("+00:00")
        assert abs(datetime.fromisoformat(r["timestamp"]).timestamp() - time.time()) < 600
    assert len({r["request_id"] for r in records[-40:]}) == 40


def test_batch_scores_of_training_rows_equal_the_models_scores_on_the_training_table(
    built: Path, project: Path, tmp_path: Path
) -> None:
    """Batch scoring computes features as training did: scoring the training rows gives
    the model's scores on the training table itself, so batch scores of the test rows
    reproduce the test metric."""
    from mlwright.runtime.serving.predictor import Predictor
    from mlwright.runtime.stages.featurize import load_offline

    events = project / "pipelines" / "churn" / "data" / "events.csv"
    out = run_cli("predict", "build/churn", "--input", str(events), "--output", str(tmp_path / "p"), cwd=project)
    assert out.returncode == 0, out.stdout + out.stderr
    batch = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "p").glob("part-*.parquet"))]).sort_values("row")
    rows = pd.read_csv(events, parse_dates=["event_time"])
    batch_prob = dict(zip(zip(rows.customer_id, rows.event_time, strict=True), batch.probability, strict=True))
    table, _meta = load_offline(built, "features/offline")
    predictor = Predictor(built, built)
    try:
        scores = predictor.model.predict(predictor.pre.transform_table(table))
    finally:
        predictor.close()
    keys = zip(
        table.column("customer_id").to_pylist(), pd.to_datetime(table.column("event_time").to_pylist()), strict=True
    )
    diffs = [abs(batch_prob[k] - s) for k, s in zip(keys, scores, strict=True)]
    assert len(diffs) == len(rows) and max(diffs) < 1e-6, max(diffs)  # probabilities are rounded to 6 places


def test_batch_rows_the_endpoint_would_refuse_are_flagged_or_refused(
    server: str, built: Path, project: Path, tmp_path: Path
) -> None:
    """The endpoint's input contract holds for batches: a fee above the schema's max,
    a plan not in its values, a row without an event time (its features as of that
    time cannot be computed) get no score and a problem naming the field; the rest
    are scored as before, with a declared id column passed through."""
    events = pd.read_csv(project / "pipelines" / "churn" / "data" / "events.csv", parse_dates=["event_time"])
    rows = events.head(6).drop(columns=["churned"]).reset_index(drop=True)
    rows["ticket_ref"] = [f"T-{i}" for i in range(len(rows))]
    good = rows.copy()
    rows.loc[1, "monthly_fee"] = 5000.0
    rows.loc[2, "plan"] = "gold"
    rows.loc[3, "event_time"] = pd.NaT
    rows.to_parquet(tmp_path / "rows.parquet")
    good.to_parquet(tmp_path / "good.parquet")
    args = ["predict", "build/churn", "--pass-through", "ticket_ref"]
    out = run_cli(*args, "--input", str(tmp_path / "rows.parquet"), "--output", str(tmp_path / "o"), cwd=project)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 row(s) out of the input contract, not scored: row 1 (monthly_fee: 5000.0 is above" in out.stdout
    got = pd.read_parquet(tmp_path / "o" / "part-000000.parquet")
    ref = run_cli(*args, "--input", str(tmp_path / "good.parquet"), "--output", str(tmp_path / "g"), cwd=project)
    assert ref.returncode == 0, ref.stdout + ref.stderr
    want = pd.read_parquet(tmp_path / "g" / "part-000000.parquet")
    assert got.ticket_ref.tolist() == [f"T-{i}" for i in range(6)]
    assert got.problem.isna().tolist() == [True, False, False, False, True, True]
    assert got.problem[2] == "plan: 'gold' is not one of ['basic', 'pro', 'enterprise']"
    assert got.problem[3] == "event_time: no event time; features as of its time cannot be computed"
    assert got.probability.isna().tolist() == [False, True, True, True, False, False]
    for i in (0, 4, 5):
        assert got.probability[i] == want.probability[i]
    refused = run_cli(
        *args, "--out-of-contract", "refuse", "--input", str(tmp_path / "rows.parquet"), "--output", str(tmp_path / "r"),
        cwd=project,
    )  # fmt: skip
    assert refused.returncode == 2 and "out_of_contract: flag to score the rest" in refused.stderr, refused.stderr
    assert not list((tmp_path / "r").glob("part-*"))
    absent = run_cli(
        "predict", "build/churn", "--pass-through", "nope", "--input", str(tmp_path / "rows.parquet"),
        "--output", str(tmp_path / "n"), cwd=project,
    )  # fmt: skip
    assert absent.returncode == 2 and "lacks column(s) nope" in absent.stderr


def test_monitor_raises_covariate_and_slice_concept_alerts(built: Path, project: Path, tmp_path: Path) -> None:
    score = _score_rows(project)
    drifted = score.assign(monthly_fee=score.monthly_fee * 1.8 + 40)
    drifted.to_parquet(tmp_path / "drifted.parquet")
    out = run_cli(
        "monitor", "build/churn", "--current", str(tmp_path / "drifted.parquet"), "--fail-on-alert", cwd=project
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "ALERT covariate: monthly_fee" in out.stdout
    report = json.loads((built / "reports" / "drift.json").read_text())
    assert report["features"]["monthly_fee"]["psi"] > 0.2 and report["features"]["country"]["psi"] < 0.2
    # what the model sees is watched too: window and derived features, as of each row's time
    assert {"spend_90d", "payments_90d", "fee_per_ticket"} <= set(report["features"])
    assert report["features"]["spend_90d"]["importance"] > 0 and report["features"]["fee_per_ticket"]["psi"] > 0.2
    alerts = [json.loads(line) for line in (built / "logs" / "alerts.jsonl").read_text().splitlines()]
    assert any(a["kind"] == "covariate" and a["feature"] == "monthly_fee" for a in alerts)
    # churn stops in one country (a change the inputs cannot show): a concept alert on that slice only
    generate(project, "churn", "--out", str(tmp_path / "concept"), "--churn-stops", "DE")
    out = run_cli(
        "monitor",
        "build/churn",
        "--current",
        "pipelines/churn/data/score/*.parquet",
        "--labels",
        str(tmp_path / "concept" / "labels" / "delayed.csv"),
        cwd=project,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads((built / "reports" / "drift.json").read_text())
    assert report["concept"]["slices"]["country=DE"]["alert"] is True
    assert any(a["slice"] == "country=DE" for a in report["alerts"])
    assert [k for k, v in report["concept"]["slices"].items() if v["alert"] and k.startswith("country=")] == [
        "country=DE"
    ]
    dom = chromium_screenshot(built / "reports" / "drift.html", tmp_path / "drift.png")
    assert 'id="psi-chart"' in dom and 'id="metric-chart"' in dom and "country=DE" in dom
    # delayed labels not arrived yet: covariate drift still runs, concept drift waits
    out = run_cli(
        "monitor", "build/churn", "--current", "pipelines/churn/data/score/*.parquet",
        "--labels", str(tmp_path / "not-yet" / "*.csv"), cwd=project,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "waiting for labels" in out.stdout and "monthly_fee" in out.stdout
    report = json.loads((built / "reports" / "drift.json").read_text())
    assert report["concept"]["waiting"] is True and report["features"]["monthly_fee"]["psi"] < 0.2
    # labels that name one (entity, time) twice are refused, never joined to whichever came last
    labels = pd.read_csv(tmp_path / "concept" / "labels" / "delayed.csv")
    pd.concat([labels, labels.head(5).assign(churned=~labels.head(5).churned)]).to_csv(
        tmp_path / "twice.csv", index=False
    )
    out = run_cli(
        "monitor", "build/churn", "--current", "pipelines/churn/data/score/*.parquet",
        "--labels", str(tmp_path / "twice.csv"), cwd=project,
    )  # fmt: skip
    assert out.returncode == 2 and "5 (entity, timestamp) key(s) name more than one label" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    # the log of real requests monitors too
    assert (
        run_cli("monitor", "build/churn", "--current", "build/churn/logs/predictions.jsonl", cwd=project).returncode
        == 0
    )
    wrong = run_cli("monitor", "pipelines", "--current", "x.jsonl", cwd=project)
    assert (
        wrong.returncode == 2 and "not a compiled mlwright folder" in wrong.stderr and "Traceback" not in wrong.stderr
    )
