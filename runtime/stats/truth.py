"""Which value is true, one rule for the whole runtime.

Ingest casts a bool column by it, train picks a binary target's positive class by it,
and monitor reads delayed labels by it. Three rules used to live in those three places
and disagreed: a target written "True"/"False" trained with "True" as positive, and a
delayed label "true" was then read as the negative class.
"""

from __future__ import annotations

from typing import Any

TRUE_WORDS = ("true", "1", "t", "yes", "y")
FALSE_WORDS = ("false", "0", "f", "no", "n")


def reads_true(text: str) -> bool:
    return text.strip().lower() in TRUE_WORDS


def positive_class(classes: list[str]) -> str:
    """Of a binary target's two classes (sorted), the one that reads as true; else the
    last (a target "benign"/"malignant" counts "malignant" as positive)."""
    return next((c for c in classes if reads_true(c)), classes[-1])


def truth(value: Any, positive: str | None = None) -> float:
    """A label as the model's 0/1 (a regression target: its value; missing: NaN).

    `positive` is the class training counted as positive (kept with the model): when it
    reads as true, so does every spelling of true ("True", "yes", 1); otherwise the label
    must name that class ("malignant")."""
    if value is None:
        return float("nan")
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if positive is not None and not reads_true(positive):
        return 1.0 if str(value).strip() == positive else 0.0
    if isinstance(value, str):
        return 1.0 if reads_true(value) else 0.0
    return float(value)
