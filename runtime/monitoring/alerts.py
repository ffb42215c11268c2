"""Drift alerts: one typed value per alert, delivered once per (kind, feature, slice, window).

`monitor` raises them; each sink in `monitoring.alerts` gets the ones not sent before
(`state/alerts_sent.json` remembers), a log sink as JSON lines, a webhook as one POST
with retries.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from mlwright.contract.monitor import Alert as Sink
from mlwright.runtime.atomic import write_json
from mlwright.runtime.context import resolve_env, say

SENT = "state/alerts_sent.json"


@dataclass(frozen=True)
class ModelOf:
    """Which model an alert is about: the registered bundle's system and versions."""

    system: str
    model_version: str
    dataset_version: str


@dataclass(frozen=True)
class DriftAlert:
    model: ModelOf
    kind: Literal["covariate", "concept"]
    feature: str | None  # covariate: the feature whose PSI crossed the threshold
    slice: str | None  # concept: "column=value", or None for the whole window
    value: float  # PSI, or the metric's relative drop
    threshold: float
    window: str  # a window's start, or "all"

    @property
    def key(self) -> str:
        """What makes two alerts the same: sent once, however often monitor runs."""
        return f"{self.kind}|{self.feature or ''}|{self.slice or ''}|{self.window}"

    def as_json(self) -> dict[str, Any]:
        fields = asdict(self)
        return {**fields.pop("model"), **fields}


def send_alerts(alerts: list[DriftAlert], sinks: tuple[Sink, ...], root: Path) -> list[DriftAlert]:
    """Deliver each alert not sent before to every sink; returns those sent now."""
    sent_file = root / SENT
    try:
        sent = set(json.loads(sent_file.read_text()))
    except (OSError, ValueError):
        sent = set()
    fresh = [a for a in alerts if a.key not in sent]
    for sink in sinks:
        if sink.type == "log":
            path = root / sink.path
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                for a in fresh:
                    fh.write(json.dumps(a.as_json(), sort_keys=True) + "\n")
        else:
            url = str(resolve_env(sink.url))
            token = str(resolve_env(sink.token)) if sink.token else ""
            if url and fresh:
                post_webhook(url, fresh, sink.timeout_s, sink.retries, token)
    if fresh:
        write_json(sent_file, sorted(sent | {a.key for a in fresh}))
    return fresh


def post_webhook(url: str, alerts: list[DriftAlert], timeout: float, retries: int, token: str = "") -> None:
    """POST the alerts; retry 5xx and network errors with exponential backoff."""
    import httpx

    body = {"alerts": [a.as_json() for a in alerts]}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    delay = 0.5
    for attempt in range(retries + 1):
        try:
            resp = httpx.post(url, json=body, timeout=timeout, headers=headers)
            if resp.status_code < 500:
                if resp.status_code >= 400:
                    say(f"monitor: webhook refused the alerts ({resp.status_code})")
                return
        except httpx.HTTPError:
            pass
        if attempt < retries:
            time.sleep(delay)
            delay *= 2
    say(f"monitor: webhook {url.split('?')[0]} unreachable after {retries + 1} attempts; alerts kept in the log sink")
