"""Canary rollout as code: route a share of traffic to a candidate, judge it, ramp or roll back.

Routing is a deterministic hash of the request id, so a request (and its retry)
always lands on the same model. The controller collects each variant's outcomes
over an analysis window (`canary.duration`, with at least `min_requests`
candidate requests); the candidate moves to the next step when its success rate
reaches `success_rate` and its p99 latency is within the SLA, and is rolled back
to 0% otherwise. State lives in `state/canary.json` so it survives a restart, and
`analyze_log` recomputes the same verdict from the JSONL prediction log alone.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlwright.contract.serve import ServeParams
from mlwright.runtime.atomic import write_json

STATE_FILE = "state/canary.json"
MAX_LATENCIES = 200_000


@dataclass(frozen=True)
class CanaryConfig:
    traffic: float
    duration_seconds: float
    success_rate: float
    steps: tuple[float, ...]
    min_requests: int
    latency_p99_ms: float

    @classmethod
    def from_serve(cls, serve: ServeParams) -> CanaryConfig:
        c = serve.canary
        return cls(
            c.traffic,
            c.duration_seconds,
            c.success_rate,
            tuple(c.steps),
            c.min_requests,
            serve.sla.latency_p99_ms,
        )

    def weights(self) -> list[float]:
        """The ramp: the canary share, then every larger step (ending at 100%)."""
        return [self.traffic, *[s for s in self.steps if s > self.traffic]]


def bucket(request_id: str) -> float:
    """A uniform number in [0, 1) fixed by the request id."""
    return int.from_bytes(hashlib.blake2b(request_id.encode(), digest_size=8).digest(), "big") / 2**64


@dataclass
class Window:
    requests: int = 0
    failures: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, ok: bool, latency_ms: float) -> None:
        self.requests += 1
        self.failures += 0 if ok else 1
        if len(self.latencies) < MAX_LATENCIES:
            self.latencies.append(latency_ms)

    @property
    def success_rate(self) -> float:
        return 1.0 - self.failures / self.requests if self.requests else float("nan")

    @property
    def p99(self) -> float:
        return float(np.percentile(self.latencies, 99)) if self.latencies else float("nan")


@dataclass
class CanaryState:
    status: str = "idle"  # idle | running | promoted | rolled_back
    stable: str | None = None
    candidate: str | None = None
    step: int = 0
    weight: float = 0.0
    window_started: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class CanaryController:
    def __init__(self, config: CanaryConfig, state: CanaryState, path: Path | None = None):
        self.config = config
        self.state = state
        self.path = path
        self.windows = {"stable": Window(), "candidate": Window()}

    def start(self, stable: str, candidate: str, now: float) -> None:
        self.state = CanaryState(
            "running",
            stable,
            candidate,
            0,
            self.config.weights()[0],
            now,
            [{"event": "start", "at": now, "weight": self.config.weights()[0]}],
        )
        self._reset(now)
        self.save()

    def route(self, request_id: str) -> str:
        if self.state.status == "running" and bucket(request_id) < self.state.weight:
            return "candidate"
        return "stable"

    def record(self, variant: str, ok: bool, latency_ms: float) -> None:
        self.windows[variant].add(ok, latency_ms)

    def _reset(self, now: float) -> None:
        self.windows = {"stable": Window(), "candidate": Window()}
        self.state.window_started = now

    def evaluate(self, now: float) -> str | None:
        """At the end of a window with enough requests: promote a step, finish, or roll back."""
        if self.state.status != "running":
            return None
        w = self.windows["candidate"]
        if now - self.state.window_started < self.config.duration_seconds or w.requests < self.config.min_requests:
            return None
        verdict = judge(w, self.config)
        if verdict == "promote":
            return self.promote(now, reason=f"success {w.success_rate:.5f}, p99 {w.p99:.1f} ms")
        return self.rollback(
            now,
            reason=f"success {w.success_rate:.5f} (need {self.config.success_rate}), p99 {w.p99:.1f} ms (SLA {self.config.latency_p99_ms})",
        )

    def promote(self, now: float, reason: str = "operator") -> str:
        weights = self.config.weights()
        self.state.step += 1
        if self.state.step >= len(weights) - 1:  # the last step is 100%: the candidate is the new stable
            self.state.status, self.state.weight = "promoted", 1.0
            self.state.stable = self.state.candidate
            event = "promoted"
        else:
            self.state.weight = weights[self.state.step]
            event = "step"
        self.state.history.append({"event": event, "at": now, "weight": self.state.weight, "reason": reason})
        self._reset(now)
        self.save()
        return event

    def rollback(self, now: float, reason: str = "operator") -> str:
        self.state.status, self.state.weight = "rolled_back", 0.0
        self.state.history.append({"event": "rolled_back", "at": now, "weight": 0.0, "reason": reason})
        self._reset(now)
        self.save()
        return "rolled_back"

    def save(self) -> None:
        if self.path is not None:
            write_json(self.path, self.state.to_json())


def judge(w: Window, config: CanaryConfig) -> str:
    if w.requests < config.min_requests:
        return "insufficient"
    ok = w.success_rate >= config.success_rate and w.p99 <= config.latency_p99_ms
    return "promote" if ok else "rollback"


def load_state(path: Path) -> CanaryState:
    try:
        return CanaryState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return CanaryState()


def analyze_log(path: Path, config: CanaryConfig) -> dict[str, Any]:
    """The verdict recomputed from a JSONL prediction log (5xx = failure)."""
    windows = {"stable": Window(), "candidate": Window()}
    versions: dict[str, str] = {}
    bad_lines = 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
                variant = rec.get("variant", "stable")
                windows[variant].add(int(rec["status"]) < 500, float(rec["latency_ms"]))
                versions[variant] = rec.get("model_version", "?")
            except (ValueError, KeyError, TypeError):
                bad_lines += 1
    out: dict[str, Any] = {"bad_lines": bad_lines}
    for name, w in windows.items():
        out[name] = {
            "model_version": versions.get(name),
            "requests": w.requests,
            "failures": w.failures,
            "success_rate": w.success_rate,
            "p99_ms": w.p99,
        }
    out["verdict"] = judge(windows["candidate"], config)
    out["criteria"] = {
        "success_rate": config.success_rate,
        "latency_p99_ms": config.latency_p99_ms,
        "min_requests": config.min_requests,
    }
    return out


def now() -> float:
    return time.time()
