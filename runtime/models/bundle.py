"""The registered model bundle: everything serving and monitoring need, in one folder.

`models/registered/` holds the model file, `bundle.json` (model version, data
version, features and preprocessing, threshold, metrics, how to assemble a
request's features) and `reference/` (the profile of every input feature on the
training slice, for PSI/KS: sorted sample, quantile edges, bin shares, category
counts). Serving and `monitor` read only this folder (and the online store).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from mlwright.contract.featurize import ImageTransform, OnlineStore, RowFeature
from mlwright.contract.train import Metric
from mlwright.runtime.atomic import write_json
from mlwright.runtime.context import GateFailed, UserError
from mlwright.runtime.hashing import sha256_file
from mlwright.runtime.stats.two_sample import categorical_profile, numeric_profile

REGISTERED = "models/registered"
BUNDLE_FILE = "bundle.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DicomColumns(_Frozen):
    """How the image source's DICOM headers map to columns (batch scoring reads DICOM too)."""

    columns: dict[str, str]
    metadata: dict[str, list[str]]


class BundleServing(_Frozen):
    """What serving needs of the features and the request."""

    entity: str
    target: str
    timestamp: str | None
    inputs: dict[str, str]
    rename: dict[str, str] = {}  # batch files may keep the source's column names
    row_features: tuple[RowFeature, ...]
    window_counts: tuple[str, ...] = ()  # counts: 0, not missing, for an entity with no rows
    online: OnlineStore
    dicom_metadata: DicomColumns | None = None


class SliceBaseline(_Frozen):
    value: float | None
    rows: int


class ConceptBaseline(_Frozen):
    """The concept metric on the test slice, overall and per slice: what monitoring's
    delayed labels are compared with."""

    metric: str
    value: float | None
    slices: dict[str, SliceBaseline] = {}


class Bundle(_Frozen):
    """bundle.json, typed: written by register, read by serve, predict and monitor."""

    bundle_version: int
    name: str
    model_version: str
    backend: str
    task: str
    threshold: float | None  # binary: the cost-optimal threshold; else None
    preprocessor: list[dict[str, Any]]  # `Preprocessor.to_json()`
    features: list[str]
    feature_names: list[str]
    image: ImageTransform | None
    dataset_version: str
    feature_set_hash: str
    positive_class: str | None = None
    classes: list[Any] | None = None  # multiclass: the label of each class index
    metric: Metric
    test_metrics: dict[str, Any]
    feature_importance: dict[str, float] = {}  # shown beside each feature's drift
    baseline: ConceptBaseline
    serving: BundleServing
    files: dict[str, str] = {}  # sha256 of every other file of the bundle

    @model_validator(mode="after")
    def _binary_has_a_threshold(self) -> Bundle:
        if self.task == "binary_classification" and self.threshold is None:
            raise ValueError("a binary classifier's bundle must hold its decision threshold")
        return self


def reference_profile(columns: dict[str, Any], bins: int) -> dict[str, Any]:
    """Profiles of each input column: numeric arrays or categorical lists."""
    out = {}
    for name, values in columns.items():
        if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
            out[name] = numeric_profile(values.astype(np.float64), bins)
        else:
            out[name] = categorical_profile(list(values))
    return out


def save_reference(folder: Path, profile: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    meta = {}
    for i, (name, p) in enumerate(sorted(profile.items())):
        entry = {k: v for k, v in p.items() if k != "sample"}
        if "sample" in p:
            np.save(folder / f"sample_{i}.npy", p["sample"])
            entry["sample_file"] = f"sample_{i}.npy"
        meta[name] = entry
    write_json(folder / "profile.json", meta)


def load_reference(folder: Path) -> dict[str, Any]:
    meta = json.loads((folder / "profile.json").read_text())
    for entry in meta.values():
        if "sample_file" in entry:
            entry["sample"] = np.load(folder / entry["sample_file"])
    out: dict[str, Any] = meta
    return out


# Not part of the model: a packaged online store is data, refreshed apart from it.
UNHASHED = frozenset({BUNDLE_FILE, "online.sqlite"})


def content_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file of a bundle (but `bundle.json`, which holds them): what
    `register` wrote, so that whatever loads the bundle, in the build or in an image
    without DVC, can refuse a file changed since."""
    return {
        f.relative_to(folder).as_posix(): sha256_file(str(f))
        for f in sorted(folder.rglob("*"))
        if f.is_file() and f.relative_to(folder).as_posix() not in UNHASHED
    }


def bundle_changes(folder: Path, recorded: dict[str, str]) -> list[str]:
    """Files of the bundle that are missing or differ from what `register` recorded."""
    changes = []
    for rel, digest in sorted(recorded.items()):
        path = folder / rel
        if not path.is_file():
            changes.append(f"{rel} missing")
        elif sha256_file(str(path)) != digest:
            changes.append(f"{rel} modified")
    return changes


def find_bundle(target: Path) -> Path:
    """A bundle folder from a build folder or the bundle folder itself, checked against
    the hashes `register` recorded in it."""
    for candidate in (target, target / REGISTERED):
        if (candidate / BUNDLE_FILE).is_file():
            verify_bundle(candidate)
            return candidate
    raise UserError(f"{target}: no registered model (run `mlwright run {target}` first)")


def verify_bundle(folder: Path) -> None:
    try:
        recorded = json.loads((folder / BUNDLE_FILE).read_text()).get("files")
    except ValueError:
        raise GateFailed(f"{folder / BUNDLE_FILE}: not valid JSON; re-register: mlwright run --force") from None
    if not isinstance(recorded, dict):
        raise GateFailed(
            f"{folder / BUNDLE_FILE}: no file hashes (registered by an older mlwright); "
            "re-register: mlwright run --stage register --force"
        )
    changes = bundle_changes(folder, recorded)
    if changes:
        raise GateFailed(
            f"{folder}: model bundle changed since register wrote it (sha256 differs from bundle.json): "
            f"{'; '.join(changes)}; re-register: mlwright run --stage register --force"
        )


def load_bundle(target: Path) -> tuple[Path, Bundle]:
    folder = find_bundle(target)
    try:
        return folder, Bundle.model_validate_json((folder / BUNDLE_FILE).read_bytes())
    except ValidationError as exc:
        err = exc.errors()[0]
        raise GateFailed(
            f"{folder / BUNDLE_FILE}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']} "
            "(written by another mlwright); re-register: mlwright run --stage register --force"
        ) from None
