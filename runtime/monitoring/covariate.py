"""Covariate drift over parts of the current data, added up on the driver (#18 item 6).

Each part (one process: the whole current data; a cluster: a byte range of the
prediction log, read once on a worker and kept there) goes through three rounds:

1. counts: its rows; per watched feature the values' count, exact sum
   (stats/exact_sum.py), PSI-bin counts and ECDF-grid cell counts (numeric), or
   category counts, overall and per window of event time; and the columns concept
   drift joins on.
2. given the parts' row offsets and, per numeric feature, the grid cells to resolve:
   the feature's sample candidates (stats/sample.py) and its values in those cells.
3. given each plot's edges (from the reference and current samples): its counts.

The driver adds the counts and computes every statistic from the sums with the same
functions one process uses (PSI from bin counts, KS from cells and resolved values
as in stats/ecdf_grid.py, the mean from the exact sum), and one process takes the
same three rounds over one part: so a drift report is the same on a cluster, bit for
bit (tests/unit/test_covariate_parts.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlwright.contract.monitor import Covariate
from mlwright.runtime.compute import Engine
from mlwright.runtime.monitoring.current import Current
from mlwright.runtime.monitoring.windows import window_codes
from mlwright.runtime.stats.ecdf_grid import cell_counts, cells_to_resolve, grid_span, ks_from_cells, picked
from mlwright.runtime.stats.exact_sum import ExactSum, exact_sum, summed
from mlwright.runtime.stats.sample import SamplePart, merged_sample, sample_part
from mlwright.runtime.stats.two_sample import (
    MAX_EXACT_N,
    TestResult,
    added_counts,
    category_plot,
    category_shares,
    chi2_two_sample,
    ks_p_value,
    ks_two_sample,
    plot_counts,
    plot_edges,
    plot_shares,
    psi_from_shares,
)


# --- what each part is and returns ------------------------------------------------
@dataclass(frozen=True)
class Part:
    """One part of the current data, with its place among the parts."""

    index: int
    current: Current


@dataclass(frozen=True)
class NumericCounts:
    n: int  # values that are not NaN
    total: ExactSum
    bins: np.ndarray  # per PSI bin (-inf, e0], ..., (e_last, inf)
    cells: np.ndarray | None  # per ECDF-grid cell; None when the reference has no grid
    window_n: np.ndarray  # per window of the part
    window_bins: np.ndarray  # windows x PSI bins


@dataclass(frozen=True)
class CategoryCounts:
    counts: dict[str, int]
    windows: list[dict[str, int]]  # per window of the part


@dataclass(frozen=True)
class PartCounts:
    rows: int
    windows: list[str]  # the part's windows (their starts), in time order
    window_rows: np.ndarray
    numeric: dict[str, NumericCounts]
    categorical: dict[str, CategoryCounts]
    concept: Current  # the part's rows with only the columns concept drift reads


@dataclass(frozen=True)
class Grid:
    """How one numeric feature is resolved in round 2: its grid and the cells whose
    values are needed (None: all values, the exact path below MAX_EXACT_N)."""

    span: tuple[float, float] | None
    cells: np.ndarray | None
    lower: float = 0.0  # the lower bound on D from the cell boundaries


@dataclass(frozen=True)
class PartValues:
    sample: SamplePart
    resolved: np.ndarray


# --- the three rounds, on the part's side ---------------------------------------------
def counts_of(part: Part, reference: dict[str, Any], window_seconds: int, keep: tuple[str, ...]) -> PartCounts:
    """Round 1 over one part."""
    cur = part.current
    # a part without rows has no window (one read of the whole log would not show "all")
    names, codes = window_codes(cur.ts, cur.rows, window_seconds) if cur.rows else ([], np.zeros(0, dtype=np.int64))
    numeric: dict[str, NumericCounts] = {}
    categorical: dict[str, CategoryCounts] = {}
    for name, ref in sorted(reference.items()):
        if name not in cur.columns:
            continue
        if ref["kind"] == "numeric":
            numeric[name] = _numeric_counts(cur.columns[name], ref, codes, len(names))
        else:
            categorical[name] = _category_counts(cur.columns[name], codes, len(names))
    window_rows = np.bincount(codes, minlength=len(names))
    concept = Current(
        {c: cur.columns[c] for c in keep if c in cur.columns},
        cur.ts,
        cur.entity,
        cur.request_id,
        cur.prediction,
        cur.probability,
        cur.rows,
        cur.keys,
        cur.key_seen,
    )
    return PartCounts(cur.rows, names, window_rows, numeric, categorical, concept)


def _numeric_counts(values: np.ndarray, ref: dict[str, Any], codes: np.ndarray, windows: int) -> NumericCounts:
    present = ~np.isnan(values)
    v = values[present] if not present.all() else values
    edges = np.asarray(ref["edges"], dtype=np.float64)
    at = np.searchsorted(edges, v, side="left")
    width = len(edges) + 1
    span = grid_span(ref["sample"]) if len(ref["sample"]) else None
    per_window = np.bincount(codes[present] * width + at, minlength=windows * width).reshape(windows, width)
    return NumericCounts(
        n=len(v),
        total=exact_sum(v),
        bins=per_window.sum(axis=0),
        cells=cell_counts(v, span) if span is not None else None,
        window_n=per_window.sum(axis=1),
        window_bins=per_window,
    )


def _category_counts(values: Any, codes: np.ndarray, windows: int) -> CategoryCounts:
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values, pa.string())
    encoded = pc.dictionary_encode(arr)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    names = [str(v) for v in encoded.dictionary.to_pylist()]
    indices = encoded.indices
    present = np.asarray(indices.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    idx = np.asarray(indices.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)[present]
    width = max(len(names), 1)
    grid = np.bincount(codes[present] * width + idx, minlength=windows * width).reshape(windows, width)
    total = grid.sum(axis=0)
    return CategoryCounts(
        {names[i]: int(total[i]) for i in np.flatnonzero(total)},
        [{names[i]: int(row[i]) for i in np.flatnonzero(row)} for row in grid],
    )


def values_of(part: Part, offsets: list[int], grids: dict[str, Grid]) -> dict[str, PartValues]:
    """Round 2 over one part: sample candidates at the rows' places among all parts,
    and the values in the cells each feature must resolve."""
    out = {}
    first = offsets[part.index]
    for name, grid in grids.items():
        values = part.current.columns.get(name)
        if values is None:
            continue
        sample = sample_part(values, np.arange(first, first + len(values)))
        v = values[~np.isnan(values)]
        chosen = v if grid.cells is None or grid.span is None else picked(v, grid.cells, grid.span)
        out[name] = PartValues(sample, chosen)
    return out


def plot_counts_of(part: Part, edges: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Round 3 over one part: each numeric feature's values per plot bin."""
    out = {}
    for name, e in edges.items():
        values = part.current.columns.get(name)
        if values is not None:
            out[name] = plot_counts(values[~np.isnan(values)], e)
    return out


# --- the driver: rounds over the parts, and the report's numbers -------------------------
@dataclass(frozen=True)
class Covariates:
    """What the drift report prints of covariate drift, and what concept drift reads."""

    watched: dict[str, Any]
    features: dict[str, dict[str, Any]]  # overall, per feature (before alert status)
    windows: list[tuple[str, int, dict[str, float | None]]]  # (window, rows, PSI per feature)
    histograms: dict[str, dict[str, Any]]
    concept: Current


def covariates(
    engine: Engine,
    parts: list[Any],
    reference: dict[str, Any],
    cov: Covariate,
    window_seconds: int,
    keep: tuple[str, ...],
) -> Covariates:
    """The three rounds over `parts` (handles from `engine.keep`, in row order)."""
    shared = engine.share(reference)
    counts = engine.map(counts_of, parts, "counts", reference=shared, window_seconds=window_seconds, keep=keep)
    watched = {n: reference[n] for n in sorted(reference) if any(n in c.numeric or n in c.categorical for c in counts)}
    numeric = {
        n: _summed_numeric([c.numeric[n] for c in counts if n in c.numeric]) for n in watched if _is_num(watched[n])
    }
    grids = {n: _grid(watched[n], numeric[n]) for n in numeric}
    offsets = np.concatenate([[0], np.cumsum([c.rows for c in counts])]).tolist()
    found = engine.map(values_of, parts, "values", progress=False, offsets=offsets, grids=engine.share(grids))
    samples = {n: merged_sample([f[n].sample for f in found if n in f]) for n in numeric}
    resolved = {n: np.sort(np.concatenate([f[n].resolved for f in found if n in f])) for n in numeric}
    edges = {n: e for n in numeric if (e := plot_edges(watched[n]["sample"], samples[n])) is not None}
    plots = engine.map(plot_counts_of, parts, "plots", progress=False, edges=edges) if edges else [{} for _ in parts]
    categories = {
        n: added_counts(c.categorical[n].counts for c in counts if n in c.categorical)
        for n in watched
        if not _is_num(watched[n])
    }
    features = {
        name: numeric_drift(ref, numeric[name], grids[name], resolved[name], cov)
        if _is_num(ref)
        else category_drift(ref, categories[name], cov)
        for name, ref in watched.items()
    }
    return Covariates(
        watched,
        features,
        _window_psi(watched, counts, features, cov),
        _histograms(watched, categories, edges, plots),
        _concatenated([c.concept for c in counts]),
    )


def _is_num(ref: dict[str, Any]) -> bool:
    return bool(ref["kind"] == "numeric")


@dataclass(frozen=True)
class NumericTotal:
    n: int
    total: ExactSum
    bins: np.ndarray
    cells: np.ndarray | None


def _summed_numeric(parts: list[NumericCounts]) -> NumericTotal:
    cells = [p.cells for p in parts if p.cells is not None]
    return NumericTotal(
        sum(p.n for p in parts),
        summed(p.total for p in parts),
        np.sum([p.bins for p in parts], axis=0),
        np.sum(cells, axis=0) if cells else None,
    )


def _grid(ref: dict[str, Any], total: NumericTotal) -> Grid:
    """The grid path exactly where one process takes it (`ks_and_shares`): a large
    sample on either side and a reference with spread; else every value."""
    sample = ref["sample"]
    span = grid_span(sample) if len(sample) else None
    if span is None or total.cells is None or total.n == 0 or max(len(sample), total.n) <= MAX_EXACT_N:
        return Grid(None, None)
    resolve, lower = cells_to_resolve(sample, total.cells, np.asarray(ref["edges"], dtype=np.float64), span)
    return Grid(span, resolve, lower)


def insufficient(rows: int) -> dict[str, Any]:
    return {
        "status": "insufficient",
        "rows": rows,
        "psi": None,
        "test": None,
        "statistic": None,
        "p_value": None,
        "effect": None,
    }


def numeric_drift(
    ref: dict[str, Any], total: NumericTotal, grid: Grid, resolved: np.ndarray, cov: Covariate
) -> dict[str, Any]:
    """PSI on the reference's bins and KS against its sample, from the summed counts."""
    if total.n < cov.min_rows:
        return insufficient(total.n)
    sample, edges = ref["sample"], np.asarray(ref["edges"], dtype=np.float64)
    ks: TestResult
    if grid.cells is None or grid.span is None or total.cells is None:
        ks = ks_two_sample(sample, resolved, cur_is_sorted=True)
    else:
        d, _bins = ks_from_cells(sample, total.cells, grid.cells, grid.lower, resolved, edges, grid.span)
        ks = TestResult(d, ks_p_value(d, len(sample), total.n), d, "ks_d")
    psi = psi_from_shares(np.asarray(ref["shares"]), total.bins / total.n, cov.epsilon)
    mean = total.total.mean(total.n)
    shift = (mean - ref["mean"]) / ref["std"] if ref.get("std") else 0.0
    return {
        "status": "ok",
        "rows": int(total.n),
        "psi": round(psi, 6),
        "test": "ks",
        "statistic": round(ks.statistic, 6),
        "p_value": float(f"{ks.p_value:.6g}"),
        "effect": round(shift, 4),
        "effect_name": "mean_shift_sd",
    }


def category_drift(ref: dict[str, Any], counts: dict[str, int], cov: Covariate) -> dict[str, Any]:
    """PSI on the categories and a two-sample chi-square, from the summed counts."""
    n = sum(counts.values())
    if n < cov.min_rows:
        return insufficient(n)
    r, c = category_shares(ref["counts"], counts)
    psi = psi_from_shares(r, c, cov.epsilon)
    chi = chi2_two_sample(ref["counts"], counts)
    return {
        "status": "ok",
        "rows": n,
        "psi": round(psi, 6),
        "test": "chi2" if chi else None,
        "statistic": round(chi.statistic, 4) if chi else None,
        "p_value": float(f"{chi.p_value:.6g}") if chi else None,
        "effect": round(chi.effect, 4) if chi else None,
        "effect_name": "cramers_v",
    }


def _window_psi(
    watched: dict[str, Any], counts: list[PartCounts], features: dict[str, dict[str, Any]], cov: Covariate
) -> list[tuple[str, int, dict[str, float | None]]]:
    """PSI of every feature per window, the parts' windows merged by their start; with
    more than one window, the whole sample first as "all" (the overall PSI)."""
    names = sorted({w for c in counts for w in c.windows})
    rows = {w: 0 for w in names}
    bins: dict[tuple[str, str], Any] = {}
    for c in counts:
        for i, w in enumerate(c.windows):
            rows[w] += int(c.window_rows[i])
            for name, nc in c.numeric.items():
                key = (w, name)
                bins[key] = nc.window_bins[i] + bins[key] if key in bins else nc.window_bins[i]
            for name, cc in c.categorical.items():
                key = (w, name)
                bins[key] = added_counts([bins.get(key, {}), cc.windows[i]])
    if not names:  # no rows at all: one empty window, as one read of the whole log gives
        return [("all", 0, {n: None for n in watched})]
    out = []
    if len(names) > 1:
        out.append(("all", sum(c.rows for c in counts), {n: features[n]["psi"] for n in watched}))
    for w in names:
        out.append((w, rows[w], {n: _psi_of(watched[n], bins.get((w, n)), cov) for n in watched}))
    return out


def _psi_of(ref: dict[str, Any], counted: Any, cov: Covariate) -> float | None:
    """One window's PSI from its counts (None below `min_rows`)."""
    if counted is None:
        return None
    if _is_num(ref):
        n = int(np.sum(counted))
        if n < cov.min_rows:
            return None
        return round(psi_from_shares(np.asarray(ref["shares"]), counted / n, cov.epsilon), 6)
    n = sum(counted.values())
    if n < cov.min_rows:
        return None
    r, c = category_shares(ref["counts"], counted)
    return round(psi_from_shares(r, c, cov.epsilon), 6)


def _histograms(
    watched: dict[str, Any],
    categories: dict[str, dict[str, int]],
    edges: dict[str, np.ndarray],
    plots: list[dict[str, np.ndarray]],
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, ref in watched.items():
        if not _is_num(ref):
            out[name] = category_plot(ref["counts"], categories[name])
        elif name in edges:
            cur = np.sum([p[name] for p in plots if name in p], axis=0)
            out[name] = plot_shares(edges[name], plot_counts(ref["sample"], edges[name]), cur)
        else:
            out[name] = {"edges": [], "reference": [], "current": []}
    return out


def _concatenated(parts: list[Current]) -> Current:
    """The parts' concept columns as one `Current`, in row order; a column or key a part
    never carried is missing (NaN / None) on its rows, as one read of the whole log gives."""
    if len(parts) == 1:
        return parts[0]
    names = sorted({n for p in parts for n in p.columns})
    columns: dict[str, Any] = {}
    for n in names:
        numeric = any(isinstance(p.columns.get(n), np.ndarray) for p in parts)
        pieces = [p.columns.get(n) for p in parts]
        if numeric:
            columns[n] = np.concatenate(
                [x if x is not None else np.full(p.rows, np.nan) for x, p in zip(pieces, parts, strict=True)]
            )
        else:
            columns[n] = [
                v for x, p in zip(pieces, parts, strict=True) for v in (x if x is not None else [None] * p.rows)
            ]
    # the label key, as one read of the whole log has it: every row's, if every key
    # column is carried by some row of some part (each part keyed all its rows)
    seen = [any(flags) for flags in zip(*(p.key_seen for p in parts), strict=True)]
    keys = [k for p in parts for k in p.keys or []] if seen and all(seen) else None
    ts = None if any(p.ts is None for p in parts) else np.concatenate([p.ts for p in parts if p.ts is not None])
    return Current(
        columns,
        ts,
        [e for p in parts for e in p.entity],
        [r for p in parts for r in p.request_id],
        None
        if any(p.prediction is None for p in parts)
        else np.concatenate([p.prediction for p in parts if p.prediction is not None]),
        None
        if any(p.probability is None for p in parts)
        else np.concatenate([p.probability for p in parts if p.probability is not None]),
        sum(p.rows for p in parts),
        keys,
        tuple(seen),
    )
