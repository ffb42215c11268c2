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

from .atomic import write_json
from .context import UserError
from .stats import categorical_profile, numeric_profile

REGISTERED = "models/registered"
BUNDLE_FILE = "bundle.json"


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
    return meta


def find_bundle(target: Path) -> Path:
    """A bundle folder from a build folder or the bundle folder itself."""
    for candidate in (target, target / REGISTERED):
        if (candidate / BUNDLE_FILE).is_file():
            return candidate
    raise UserError(f"{target}: no registered model (run `mlwright run {target}` first)")


def load_bundle(target: Path) -> tuple[Path, dict[str, Any]]:
    folder = find_bundle(target)
    return folder, json.loads((folder / BUNDLE_FILE).read_text())
