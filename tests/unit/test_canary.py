"""Canary routing and decisions over simulated traffic, state across restarts, log analysis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlwright.runtime.serving.canary import CanaryConfig, CanaryController, CanaryState, analyze_log, load_state

CFG = CanaryConfig(
    traffic=0.05,
    duration_seconds=0.0,
    success_rate=0.999,
    steps=(0.05, 0.25, 0.5, 1.0),
    min_requests=100,
    latency_p99_ms=50.0,
)


def simulate(seed: int, error_rate: float, n: int = 20_000) -> tuple[CanaryController, int]:
    c = CanaryController(CFG, CanaryState())
    c.start("stable", "candidate", 0.0)
    rng = np.random.default_rng(seed)
    to_candidate = 0
    for i in range(n):
        variant = c.route(f"req-{seed}-{i}")
        to_candidate += variant == "candidate"
        ok = not (variant == "candidate" and rng.random() < error_rate)
        c.record(variant, ok, float(rng.gamma(2.0, 2.0)))
        if i % 500 == 499:
            c.evaluate(float(i))
    return c, to_candidate


def test_five_percent_of_20000_requests_reach_the_candidate() -> None:
    c = CanaryController(CFG, CanaryState())
    c.start("s", "c", 0.0)
    routed = sum(c.route(f"id-{i}") == "candidate" for i in range(20_000))
    assert abs(routed - 1000) <= 92
    assert all(c.route("same-id") == c.route("same-id") for _ in range(10))


def test_candidate_with_one_percent_errors_is_rolled_back_every_time() -> None:
    for seed in range(10):
        c, _ = simulate(seed, 0.01)
        assert c.state.status == "rolled_back" and c.state.weight == 0.0


def test_healthy_candidate_reaches_full_traffic_every_time() -> None:
    for seed in range(10):
        c, _ = simulate(100 + seed, 0.0)
        assert c.state.status == "promoted" and c.state.weight == 1.0
        assert [h["weight"] for h in c.state.history] == [0.05, 0.25, 0.5, 1.0]


def test_slow_candidate_is_rolled_back() -> None:
    c = CanaryController(CFG, CanaryState())
    c.start("s", "c", 0.0)
    for i in range(5000):
        v = c.route(f"x{i}")
        c.record(v, True, 80.0 if v == "candidate" else 2.0)
    assert c.evaluate(1.0) == "rolled_back"


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "canary.json"
    c = CanaryController(CFG, CanaryState(), path)
    c.start("s", "c", 0.0)
    c.promote(1.0)
    again = CanaryController(CFG, load_state(path), path)
    assert again.state.status == "running" and again.state.weight == 0.25 and again.state.step == 1


def test_window_and_minimum_requests_gate_the_decision() -> None:
    cfg = CanaryConfig(0.05, 3600.0, 0.999, (0.05, 1.0), 100, 50.0)
    c = CanaryController(cfg, CanaryState())
    c.start("s", "c", 0.0)
    for i in range(10_000):
        c.record(c.route(f"r{i}"), True, 1.0)
    assert c.evaluate(10.0) is None  # window not over
    assert c.evaluate(3601.0) == "promoted"


def test_verdict_recomputed_from_the_log(tmp_path: Path) -> None:
    log = tmp_path / "predictions.jsonl"
    rng = np.random.default_rng(0)
    with log.open("w") as fh:
        for i in range(4000):
            variant = "candidate" if i % 20 == 0 else "stable"
            status = 500 if variant == "candidate" and rng.random() < 0.05 else 200
            fh.write(
                json.dumps(
                    {
                        "request_id": str(i),
                        "variant": variant,
                        "status": status,
                        "latency_ms": 2.0,
                        "model_version": "v2" if variant == "candidate" else "v1",
                    }
                )
                + "\n"
            )
        fh.write("not json\n")
    out = analyze_log(log, CFG)
    assert out["verdict"] == "rollback" and out["candidate"]["requests"] == 200 and out["bad_lines"] == 1
