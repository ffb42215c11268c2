"""Stage 6, the online endpoint: `mlwright serve DIR`.

POST /predict takes the spec's inputs as JSON and answers
`{prediction, probability, model_version, latency_ms, request_id}` (multiclass adds
`probabilities`, every class's by label); GET /health
(liveness), /ready (model and store loaded, not draining), /metrics
(Prometheus). The body is read by hand so that an oversized body is refused
(413) before it is read in full, JSON is parsed by orjson (no NaN, bounded
nesting), and validation errors name the field (422). Every request becomes one
JSONL line, written by a background thread and flushed on shutdown. With a
candidate bundle the canary routes a share of requests to it.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import queue
import shutil
import threading
import time
from collections import defaultdict
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response

from mlwright.runtime.context import UserError, resolve_env
from mlwright.runtime.models.bundle import REGISTERED, find_bundle
from mlwright.runtime.serving.canary import STATE_FILE, CanaryConfig, CanaryController, load_state
from mlwright.runtime.serving.predictor import BadInput, Predictor, read_serve_config
from mlwright.runtime.serving.request_model import error_body, request_adapter, validate_request
from mlwright.runtime.stores.online_store import StoreUnavailable

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
STABLE_DIR = "state/deployed/stable"
FLUSH_SECONDS = 0.05


class RequestLog:
    """JSONL lines written by one background thread, so the event loop never blocks on disk."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._drain, name="mlwright-request-log", daemon=True)
        self.thread.start()

    def write(self, record: dict[str, Any]) -> None:
        self.queue.put(orjson.dumps(record) + b"\n")

    def _drain(self) -> None:
        """Write whatever has queued up, then sleep: one wake-up per interval, not per
        request, so the writer does not fight the event loop for the GIL."""
        with self.path.open("ab") as fh:
            done = False
            while not done:
                batch = []
                while True:
                    try:
                        item = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        done = True
                        break
                    batch.append(item)
                if batch:
                    fh.write(b"".join(batch))
                    fh.flush()
                if not done:
                    time.sleep(FLUSH_SECONDS)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=10)


class Metrics:
    """Request counters and latency histograms, summed across uvicorn workers.

    Each worker publishes its own counters to `state/metrics/worker-<pid>.json`
    (every second and on each scrape); `/metrics` adds up the live workers, so a
    scrape that lands on any worker sees the whole server."""

    def __init__(self, system: str, folder: Path | None = None):
        self.system = system
        self.folder = folder
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.buckets: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.sums: dict[str, float] = defaultdict(float)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            threading.Thread(target=self._publish_forever, name="mlwright-metrics", daemon=True).start()

    def _snapshot(self) -> dict[str, Any]:
        return {
            "requests": [[v, st, n] for (v, st), n in list(self.requests.items())],
            "buckets": {v: list(b) for v, b in list(self.buckets.items())},
            "sums": dict(self.sums),
        }

    def publish(self) -> None:
        if self.folder is not None:
            path = self.folder / f"worker-{os.getpid()}.json"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(orjson.dumps(self._snapshot()))
            os.replace(tmp, path)

    def _publish_forever(self) -> None:
        while True:
            time.sleep(1.0)
            self.publish()

    def merged(self) -> Metrics:
        """This worker's counters plus those the other live workers published."""
        if self.folder is None:
            return self
        self.publish()
        total = Metrics(self.system)
        for f in self.folder.glob("worker-*.json"):
            pid = int(f.stem.split("-")[1])
            if not _alive(pid):
                continue
            try:
                snap = orjson.loads(f.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue
            for v, st, n in snap["requests"]:
                total.requests[(v, st)] += n
            for v, b in snap["buckets"].items():
                total.buckets[v] = [x + y for x, y in zip(total.buckets[v], b, strict=True)]
            for v, x in snap["sums"].items():
                total.sums[v] += x
        return total

    def observe(self, version: str, status: int, seconds: float) -> None:
        self.requests[(version, str(status))] += 1
        b = self.buckets[version]
        for i, edge in enumerate(BUCKETS):
            if seconds <= edge:
                b[i] += 1
                break
        else:
            b[-1] += 1
        self.sums[version] += seconds

    def render(self, canary_weight: float, ready: bool, extra: list[str]) -> str:
        return self.merged()._render(canary_weight, ready, extra)

    def _render(self, canary_weight: float, ready: bool, extra: list[str]) -> str:
        s = self.system
        lines = [
            "# HELP mlwright_requests_total Requests by model version and HTTP status.",
            "# TYPE mlwright_requests_total counter",
        ]
        for (version, status), n in sorted(self.requests.items()):
            lines.append(f'mlwright_requests_total{{system="{s}",model_version="{version}",status="{status}"}} {n}')
        lines += [
            "# HELP mlwright_request_latency_seconds Request latency.",
            "# TYPE mlwright_request_latency_seconds histogram",
        ]
        for version, counts in sorted(self.buckets.items()):
            acc = 0
            for edge, c in zip(BUCKETS, counts, strict=False):
                acc += c
                lines.append(
                    f'mlwright_request_latency_seconds_bucket{{system="{s}",model_version="{version}",le="{edge}"}} {acc}'
                )
            acc += counts[-1]
            lines.append(
                f'mlwright_request_latency_seconds_bucket{{system="{s}",model_version="{version}",le="+Inf"}} {acc}'
            )
            lines.append(f'mlwright_request_latency_seconds_count{{system="{s}",model_version="{version}"}} {acc}')
            lines.append(
                f'mlwright_request_latency_seconds_sum{{system="{s}",model_version="{version}"}} {self.sums[version]:.6f}'
            )
        lines += [
            "# HELP mlwright_canary_weight Share of requests routed to the candidate.",
            "# TYPE mlwright_canary_weight gauge",
            f'mlwright_canary_weight{{system="{s}"}} {canary_weight}',
            "# TYPE mlwright_ready gauge",
            f'mlwright_ready{{system="{s}"}} {1 if ready else 0}',
            *extra,
        ]
        return "\n".join(lines) + "\n"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def same_version(stable: Predictor, candidate: Predictor) -> None:
    """Refuse a canary between two models that report one version: responses, the log,
    /metrics and the canary's own verdict all tell the two apart by model_version."""
    if stable.model_version == candidate.model_version:
        version = stable.model_version
        candidate.close()
        stable.close()
        raise UserError(
            f"a new model was registered as {version}, the version already being served: clients, the log and "
            f"/metrics could not tell the two apart; bump `version` in the spec, recompile and run again "
            f"(or deploy only the new model: delete {STABLE_DIR} in the build folder)"
        )


class Deployment:
    """The stable model, an optional candidate, and the canary between them."""

    def __init__(self, target: Path):
        self.serve, self.root = read_serve_config(target)
        self.target = target
        self.state_root = self.root or target
        registered = find_bundle(target / REGISTERED if self.root else target)
        stable_dir = self._stable_dir(registered)
        self.stable = Predictor(stable_dir, self.root)
        self.candidate: Predictor | None = None
        cfg = CanaryConfig.from_serve(self.serve)
        self.canary = CanaryController(cfg, load_state(self.state_root / STATE_FILE), self.state_root / STATE_FILE)
        self.state_mtime = 0.0
        if self.root is not None and fingerprint(registered) != fingerprint(stable_dir):
            self.candidate = Predictor(registered, self.root)
            same_version(self.stable, self.candidate)
            if self.canary.state.candidate != fingerprint(registered) or self.canary.state.status == "idle":
                self.canary.start(fingerprint(stable_dir), fingerprint(registered), time.time())
            if self.canary.state.status == "promoted":
                self._promote_files(registered)
        self.name = self.stable.bundle.name

    def _stable_dir(self, registered: Path) -> Path:
        if self.root is None:
            return registered
        stable = self.root / STABLE_DIR
        if not (stable / "bundle.json").is_file():
            stable.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(registered, stable, dirs_exist_ok=True)
        return stable

    def _promote_files(self, registered: Path) -> None:
        assert self.root is not None
        stable = self.root / STABLE_DIR
        tmp = stable.with_name("stable.new")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(registered, tmp)
        shutil.rmtree(stable, ignore_errors=True)
        os.replace(tmp, stable)

    def predictors(self) -> list[Predictor]:
        return [self.stable] + ([self.candidate] if self.candidate is not None else [])

    def pick(self, request_id: str) -> tuple[str, Predictor]:
        if self.candidate is not None and self.canary.route(request_id) == "candidate":
            return "candidate", self.candidate
        return "stable", self.stable

    def after(self, variant: str, ok: bool, latency_ms: float) -> None:
        if self.candidate is None:
            return
        self.canary.record(variant, ok, latency_ms)
        self._reload_state()
        event = self.canary.evaluate(time.time())
        if event == "promoted":
            self._promote_files(self.candidate.folder)
            self.stable, self.candidate = self.candidate, None
        elif event == "rolled_back":
            self.candidate = None

    def _reload_state(self) -> None:
        """Operators change state with `mlwright canary promote|rollback`: pick it up."""
        path = self.state_root / STATE_FILE
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return
        if mtime != self.state_mtime:
            self.state_mtime = mtime
            self.canary.state = load_state(path)
            if self.canary.state.status in ("rolled_back",):
                self.candidate = None

    def close(self) -> None:
        self.stable.close()
        if self.candidate is not None:
            self.candidate.close()


_second: list[Any] = [None, ""]


def utc_timestamp() -> str:
    """Now as ISO 8601 UTC with milliseconds (`2026-11-28T17:01:02.345+00:00`, as
    `datetime.isoformat`), formatting the date part once per second."""
    now = time.time()
    whole = int(now)
    if _second[0] != whole:
        _second[0], _second[1] = whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{int((now - whole) * 1000):03d}+00:00"


def fingerprint(bundle: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    for f in sorted(p for p in bundle.rglob("*") if p.is_file() and p.name != "online.sqlite"):
        h.update(f.relative_to(bundle).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def create_app(target: Path, announce: str = "") -> FrontDoor:
    """The endpoint; `announce` is printed once the models are warm and it is ready."""
    deployment = Deployment(target)
    serve = deployment.serve
    adapter = request_adapter(serve.inputs, serve.input_constraints)
    log = RequestLog(deployment.state_root / serve.log_path)
    metrics = Metrics(deployment.name, deployment.state_root / "state" / "metrics")
    configured = os.environ.get(serve.api_key_env, "") if serve.api_key_env else ""
    endpoint = PredictEndpoint(
        deployment=deployment,
        adapter=adapter,
        log=log,
        metrics=metrics,
        limit=serve.request_limit_bytes,
        timeout_ms=serve.timeout_ms,
        slots=asyncio.Semaphore(serve.max_concurrency),
        api_key=configured.encode("utf-8"),  # compared as bytes: a non-ASCII key or header is no 500
        header=serve.api_key_header,
        # a torch model or an image decode holds the loop too long: scored on a thread
        offload=deployment.stable.bundle.backend == "torch" or bool(deployment.stable.image),
    )
    app = documented_app(deployment, endpoint, inline_refs(adapter.json_schema()), announce)
    return FrontDoor(app, endpoint)


def documented_app(deployment: Deployment, endpoint: PredictEndpoint, request_schema: Any, announce: str) -> FastAPI:
    """Everything but the hot path: lifespan (warm-up, drain), /health, /ready, /metrics,
    and POST /predict as documentation for /openapi.json (FrontDoor answers it)."""
    status = {"ready": False}

    def stores_reachable() -> bool:
        """False while the online store does not answer: a balancer sends traffic elsewhere."""
        return all(p.store is None or p.store.reachable() for p in deployment.predictors())

    @asynccontextmanager
    async def lifespan(app: Any) -> Any:
        for predictor in deployment.predictors():
            await asyncio.to_thread(predictor.warm_up)
        status["ready"] = True
        if announce:
            print(announce, flush=True)
        yield
        status["ready"] = False  # drain: readiness goes first
        endpoint.log.close()
        deployment.close()

    app = FastAPI(title=f"mlwright: {deployment.name}", version=deployment.stable.model_version, lifespan=lifespan)

    def answer(code: int, body: dict[str, Any]) -> Response:
        return Response(orjson.dumps(body), status_code=code, media_type="application/json")

    @app.get("/health")
    async def health() -> Response:
        return answer(200, {"status": "ok"})

    @app.get("/ready")
    async def ready() -> Response:
        ok = status["ready"] and await asyncio.to_thread(stores_reachable)
        return answer(200 if ok else 503, {"ready": ok, "model_version": deployment.stable.model_version})

    @app.post(
        "/predict",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": request_schema}}}},
        responses=PREDICT_RESPONSES,
        summary="Score one request",
    )
    async def predict_documented() -> Response:  # never reached: FrontDoor serves POST /predict itself
        return answer(500, {"detail": "unreachable"})

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus() -> PlainTextResponse:
        weight = deployment.canary.state.weight if deployment.candidate else 0.0
        return PlainTextResponse(endpoint.metrics.render(weight, status["ready"], drift_gauges(deployment)))

    return app


@dataclass(frozen=True)
class PredictEndpoint:
    """POST /predict as plain ASGI: refuse what breaks the contract (auth, size, type,
    body, fields) with the status that says so, score the rest, log and count each."""

    deployment: Deployment
    adapter: Any  # the request model's TypeAdapter
    log: RequestLog
    metrics: Metrics
    limit: int  # bytes
    timeout_ms: int
    slots: asyncio.Semaphore  # max_concurrency
    api_key: bytes  # empty: no key required
    header: str
    offload: bool

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = time.perf_counter()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        rid = (headers.get("x-request-id") or os.urandom(16).hex())[:128]  # 128 random bits, as uuid4
        variant, predictor = self.deployment.pick(rid)
        call = Exchange(self, rid, variant, predictor, started, utc_timestamp(), send)
        refused = self.refused(headers)
        if refused is not None:
            return await call.finish(*refused)
        # the body is read before a slot is taken, under a deadline: slow uploads wait
        # outside the concurrency limit instead of starving requests that are ready
        deadline = max(self.timeout_ms / 1000.0, 1.0)
        try:
            async with asyncio.timeout(deadline):
                body = await read_body(receive, self.limit)
        except TimeoutError:
            return await call.finish(408, {"detail": f"request body not received within {deadline:g} s"})
        except BodyTooLarge:
            return await call.finish(413, {"detail": f"body larger than {self.limit} bytes"})
        if body is None:
            return None  # the client went away
        if self.slots.locked():
            return await call.finish(503, {"detail": "server saturated"}, {"retry-after": "1"})
        async with self.slots:
            return await self.scored(call, body)

    def refused(self, headers: dict[str, str]) -> tuple[int, dict[str, Any]] | None:
        """What the headers alone refuse: a missing key, a declared oversize body, a non-JSON type."""
        if self.api_key and not hmac.compare_digest(
            headers.get(self.header.lower(), "").encode("latin-1"), self.api_key
        ):
            return 401, {"detail": f"missing or wrong {self.header}"}
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return 413, {"detail": f"body larger than {self.limit} bytes"}
        ctype = headers.get("content-type", "")
        if ctype.split(";", 1)[0].strip().lower() != "application/json":
            return 415 if ctype else 422, error_body("body", "expected Content-Type: application/json")
        return None

    async def scored(self, call: Exchange, body: bytes) -> None:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return await call.finish(422, error_body("body", f"invalid JSON: {str(exc).splitlines()[0][:120]}"))
        predictor = call.predictor
        try:
            fields = validate_request(self.adapter, data)
            if self.offload:
                result = await asyncio.wait_for(asyncio.to_thread(predictor.predict, fields), self.timeout_ms / 1000.0)
            else:
                result = predictor.predict(fields)
        except BadInput as exc:
            return await call.finish(422, error_body(exc.field, exc.message, exc.problems))
        except TimeoutError:
            return await call.finish(504, {"detail": f"prediction took longer than {self.timeout_ms} ms"})
        except StoreUnavailable as exc:
            return await call.finish(503, {"detail": f"online store unavailable: {exc}"}, {"retry-after": "1"})
        except Exception as exc:  # a bug: still a JSON answer, logged and counted, never a bare 500
            return await call.finish(500, {"detail": f"internal error: {type(exc).__name__}"})
        out = {
            "prediction": result.prediction,
            "probability": result.probability,
            "model_version": predictor.model_version,
            "latency_ms": round((time.perf_counter() - call.started) * 1000.0, 3),
        }
        extra: dict[str, Any] = {}
        if result.missing:  # an entity the store does not know: say so, in the answer and the log
            out["missing_features"] = extra["missing_features"] = result.missing
        if result.unseen:  # a category training never saw: scored as missing, and said so
            out["unseen_categories"] = extra["unseen_categories"] = result.unseen
        if result.probabilities is not None:  # multiclass: every class's probability, by label
            out["probabilities"] = extra["probabilities"] = result.probabilities
        return await call.finish(
            200,
            out,
            prediction=result.prediction,
            probability=result.probability,
            inputs=jsonable(result.logged_inputs),
            **extra,
        )


@dataclass(frozen=True)
class Exchange:
    """One request: its id, the variant serving it, and the one way it ends (answered,
    logged, counted, and fed to the canary)."""

    endpoint: PredictEndpoint
    rid: str
    variant: str
    predictor: Predictor
    started: float
    timestamp: str
    send: Any

    async def finish(
        self, code: int, body: dict[str, Any], extra_headers: dict[str, str] | None = None, **logged: Any
    ) -> None:
        seconds = time.perf_counter() - self.started
        latency = round(seconds * 1000.0, 3)
        model_version = self.predictor.model_version
        self.endpoint.metrics.observe(model_version, code, seconds)
        self.endpoint.deployment.after(self.variant, code < 500, latency)
        self.endpoint.log.write(
            {
                "request_id": self.rid,
                "timestamp": self.timestamp,
                "model_version": model_version,
                "variant": self.variant,
                "latency_ms": latency,
                "status": code,
                "prediction": None,
                "probability": None,
                "inputs": None,
                **logged,
            }
        )
        payload = {**body, "request_id": self.rid} if code == 200 else body
        await send_json(self.send, code, payload, {"x-request-id": self.rid, **(extra_headers or {})})


def _problem_schema() -> dict[str, Any]:
    item = {"type": "object", "properties": {"loc": {"type": "array"}, "msg": {"type": "string"}}}
    return {
        "type": "object",
        "required": ["detail"],
        "properties": {"detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": item}]}},
    }


_JSON_PROBLEM = {"application/json": {"schema": _problem_schema()}}
# What POST /predict answers, for /openapi.json (schemathesis and clients read it).
PREDICT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The prediction",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["prediction", "model_version", "latency_ms", "request_id"],
                    "properties": {
                        "prediction": {},
                        "probability": {"type": ["number", "null"]},
                        "probabilities": {"type": "object"},
                        "model_version": {"type": "string"},
                        "latency_ms": {"type": "number"},
                        "request_id": {"type": "string"},
                        "missing_features": {"type": "array", "items": {"type": "string"}},
                        "unseen_categories": {"type": "array", "items": {"type": "string"}},
                    },
                }
            }
        },
    },
    401: {"description": "Missing or wrong API key", "content": _JSON_PROBLEM},
    408: {"description": "Body not received in time", "content": _JSON_PROBLEM},
    413: {"description": "Body larger than the limit", "content": _JSON_PROBLEM},
    415: {"description": "Not application/json", "content": _JSON_PROBLEM},
    422: {"description": "Invalid request: `field` names the first problem", "content": _JSON_PROBLEM},
    503: {"description": "Saturated, or the online store is unavailable (Retry-After)", "content": _JSON_PROBLEM},
    504: {"description": "The prediction took longer than the timeout", "content": _JSON_PROBLEM},
}


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """pydantic's JSON Schema with `$defs` inlined: OpenAPI resolves refs elsewhere."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return dict(walk(schema))


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Any, limit: int) -> bytes | None:
    """The whole request body (None if the client disconnected); over `limit` raises."""
    body = bytearray()
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


class FrontDoor:
    """The hot path in front of FastAPI: POST /predict is handled as plain ASGI (no
    request/response objects, no dependency solving); everything else, including the
    lifespan and the OpenAPI pages, goes to the FastAPI app."""

    def __init__(self, app: FastAPI, predict: Any):
        self.app = app
        self.predict = predict

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/predict":
            if scope["method"] == "POST":
                await self.predict(scope, receive, send)
            else:
                await send_json(send, 405, {"detail": "method not allowed"}, {"allow": "POST"})
            return
        await self.app(scope, receive, send)


async def send_json(send: Any, code: int, body: dict[str, Any], headers: dict[str, str]) -> None:
    raw = orjson.dumps(body)
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    head += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": code, "headers": head})
    await send({"type": "http.response.body", "body": raw})


def jsonable(inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in inputs.items()}


def drift_gauges(deployment: Deployment) -> list[str]:
    """The latest `monitor` results, so the emitted Prometheus rules have series to query."""
    path = deployment.state_root / "reports" / "drift.json"
    try:
        report = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return []
    s = deployment.name
    lines = ["# TYPE mlwright_feature_psi gauge"]
    for name, f in sorted(report.get("features", {}).items()):
        if f.get("psi") is not None:
            lines.append(f'mlwright_feature_psi{{system="{s}",feature="{name}"}} {f["psi"]}')
    drop = report.get("concept", {}).get("relative_drop")
    if drop is not None:
        lines += ["# TYPE mlwright_metric_relative_drop gauge", f'mlwright_metric_relative_drop{{system="{s}"}} {drop}']
    return lines


def app_factory() -> FrontDoor:
    """For `uvicorn --factory` with several workers: the folder comes from the environment."""
    announce = os.environ.get("MLWRIGHT_SERVE_ANNOUNCE", "")
    return create_app(Path(os.environ["MLWRIGHT_SERVE_DIR"]), announce.replace("{pid}", str(os.getpid())))


def serve_forever(target: Path, host: str | None, port: int | None) -> None:
    import uvicorn

    cfg, _root = read_serve_config(target)
    if cfg.api_key_env:
        resolve_env(cfg.api_key_env)
    host = host or cfg.host
    port = port or cfg.port
    workers = cfg.workers
    where = f"http://{host}:{port}"
    ready = f"serve: ready on {where} (POST /predict, GET /health /ready /metrics; Ctrl-C stops)"
    if workers > 1:
        Deployment(target.resolve()).close()  # fail here, in one line, not inside each worker
        os.environ["MLWRIGHT_SERVE_DIR"] = str(target.resolve())
        os.environ["MLWRIGHT_SERVE_ANNOUNCE"] = f"serve: worker {{pid}} ready on {where}"
        print(f"serve: starting {workers} workers on {where}", flush=True)
        uvicorn.run(
            "mlwright.runtime.serving.serve:app_factory",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,  # the JSONL request log is the access log
            timeout_graceful_shutdown=10,
        )
    else:
        app = create_app(target.resolve(), announce=ready)
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=10)
    print("serve: stopped", flush=True)


__all__ = ["UserError", "create_app", "serve_forever"]
