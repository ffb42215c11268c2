"""What several stages share about the problem: the task, the target, the entity, the time."""

from __future__ import annotations

from typing import Literal

from .base import Section

Task = Literal["binary_classification", "multiclass_classification", "regression"]


class Problem(Section):
    """The problem's names, as the stages that read them carry them (each in its own section)."""

    task: Task
    target: str
    entity: str
    timestamp: str | None
