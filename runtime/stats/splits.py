"""Time-aware splits, expanding-window folds, and the leakage checks on them.

Test is the latest `test` share of event time, validation the `validation`
share before it, and `gap` seconds are dropped before each boundary (an
embargo: rows near a boundary often share information). CV folds live inside
the training slice only: fold k trains on blocks 0..k and validates on block k+1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlwright.runtime.context import GateFailed, UserError


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # row indices
    validation: np.ndarray
    test: np.ndarray


def time_split(ts: np.ndarray, validation: float, test: float, gap_seconds: int) -> Split:
    """Indices of the three slices; `ts` is event time in microseconds."""
    n = len(ts)
    order = np.argsort(ts, kind="stable")
    t_sorted = ts[order]
    test_start = t_sorted[int(np.floor(n * (1 - test)))]
    val_start = t_sorted[int(np.floor(n * (1 - test - validation)))]
    gap = np.int64(gap_seconds) * 1_000_000
    train = np.where(ts < val_start - gap)[0]
    val = np.where((ts >= val_start) & (ts < test_start - gap))[0]
    tst = np.where(ts >= test_start)[0]
    split = Split(train, val, tst)
    check_split(split, ts, gap_seconds)
    return split


def random_split(n: int, validation: float, test: float, seed: int) -> Split:
    perm = np.random.default_rng(seed).permutation(n)
    n_test, n_val = int(n * test), int(n * validation)
    return Split(np.sort(perm[n_test + n_val :]), np.sort(perm[n_test : n_test + n_val]), np.sort(perm[:n_test]))


def check_split(split: Split, ts: np.ndarray | None, gap_seconds: int) -> None:
    """Refuse empty slices, and slices that overlap in time or break the gap."""
    for name, idx in (("train", split.train), ("validation", split.validation), ("test", split.test)):
        if len(idx) == 0:
            raise UserError(f"the {name} slice is empty: too little data for the split shares and gap")
    if ts is None:
        return
    gap = np.int64(gap_seconds) * 1_000_000
    pairs = (
        ("train", split.train, "validation", split.validation),
        ("validation", split.validation, "test", split.test),
    )
    for a_name, a, b_name, b in pairs:
        if ts[a].max() + gap > ts[b].min():
            raise GateFailed(f"leakage: {a_name} reaches {b_name} in time (gap {gap_seconds}s not respected)")


def expanding_folds(
    train_idx: np.ndarray, ts: np.ndarray | None, folds: int, gap_seconds: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window folds inside the training slice, respecting the gap."""
    order = train_idx[np.argsort(ts[train_idx], kind="stable")] if ts is not None else train_idx
    blocks = np.array_split(order, folds + 1)
    out = []
    gap = np.int64(gap_seconds) * 1_000_000
    for k in range(folds):
        fit = np.concatenate(blocks[: k + 1])
        val = blocks[k + 1]
        if ts is not None and len(val):
            fit = fit[ts[fit] < ts[val].min() - gap]
        if len(fit) and len(val):
            out.append((fit, val))
    if not out:
        raise UserError("cross-validation has no usable fold: too little training data")
    return out


def kfold(train_idx: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    perm = np.random.default_rng(seed).permutation(train_idx)
    parts = np.array_split(perm, folds)
    return [
        (np.sort(np.concatenate([p for j, p in enumerate(parts) if j != k])), np.sort(parts[k])) for k in range(folds)
    ]
