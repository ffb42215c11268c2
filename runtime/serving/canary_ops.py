"""Operator access to a folder's canary: the controller over `state/canary.json`."""

from __future__ import annotations

from pathlib import Path

from mlwright.runtime.serving.canary import STATE_FILE, CanaryConfig, CanaryController, load_state
from mlwright.runtime.serving.predictor import read_serve_config


def canary_config(target: Path) -> CanaryConfig:
    serve, _root = read_serve_config(target)
    return CanaryConfig.from_serve(serve)


def controller(target: Path) -> CanaryController:
    path = target / STATE_FILE
    return CanaryController(canary_config(target), load_state(path), path)
