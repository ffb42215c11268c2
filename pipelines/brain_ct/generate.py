"""Synthetic brain CT slices as real DICOM files, deterministic from a seed.

Starts from the real CT slice pydicom ships (CT_small.dcm, read offline), adds
plausible Hounsfield noise, a lesion-like blob for positives, and writes the
scanner model and acquisition time into each header. Under --out (default:
data/brain_ct/ beside this file):
  slices/pNNN/sNNN.dcm        training slices
  labels.csv                  radiologist reads: slice_id, acquired_at, finding
  incoming/...                a later batch to score
  labels_delayed/delayed.csv  ground truth for that batch, arriving later

--scanner-upgrade shifts the pixel intensity of every slice by 1.8 standard
deviations of the per-slice mean intensity (the seed's scenario: validation
layer B must refuse it in the first batch).
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

SCANNERS = ["Revolution CT", "SOMATOM Force", "Aquilion ONE"]
START = datetime(2024, 1, 1, 8, 0, 0)
NOISE_HU = 12.0
SHIFT_SD = 1.8


def _base() -> pydicom.Dataset:
    return pydicom.dcmread(get_testdata_file("CT_small.dcm"))


def _slice(rng: np.random.Generator, base: pydicom.Dataset, finding: bool, offset_hu: float) -> np.ndarray:
    slope = float(base.RescaleSlope)
    hu = base.pixel_array.astype(np.float64) * slope + float(base.RescaleIntercept)
    hu = hu + rng.normal(0.0, NOISE_HU, size=hu.shape) + rng.normal(0.0, 6.0) + offset_hu
    if finding:
        h, w = hu.shape
        cy, cx = rng.integers(h // 4, 3 * h // 4), rng.integers(w // 4, 3 * w // 4)
        r = rng.uniform(6.0, 11.0)
        yy, xx = np.mgrid[0:h, 0:w]
        hu = hu + 90.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    return hu


def _write(path: Path, base: pydicom.Dataset, hu: np.ndarray, uid: str, when: datetime, age: int, scanner: str) -> None:
    ds = copy.deepcopy(base)
    raw = np.round((hu - float(base.RescaleIntercept)) / float(base.RescaleSlope))
    info = np.iinfo(base.pixel_array.dtype)
    ds.PixelData = np.clip(raw, info.min, info.max).astype(base.pixel_array.dtype).tobytes()
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.AcquisitionDate = when.strftime("%Y%m%d")
    ds.AcquisitionTime = when.strftime("%H%M%S")
    ds.PatientAge = f"{age:03d}Y"
    ds.ManufacturerModelName = scanner
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    ds.save_as(tmp, enforce_file_format=True)
    os.replace(tmp, path)


def _write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _series(rng, base, folder: Path, n: int, start: datetime, days: int, offset_hu: float, prefix: str) -> list[dict]:
    rows = []
    per_patient = 4
    for i in range(n):
        finding = bool(rng.random() < 0.3)
        when = start + timedelta(seconds=int(rng.integers(0, days * 86400)))
        uid = generate_uid(entropy_srcs=[prefix, str(i)])
        patient = i // per_patient
        _write(
            folder / f"p{patient:04d}" / f"s{i:05d}.dcm",
            base,
            _slice(rng, base, finding, offset_hu),
            uid,
            when,
            int(rng.integers(18, 95)),
            str(rng.choice(SCANNERS)),
        )
        rows.append(
            {
                "slice_id": uid,
                "acquired_at": when.strftime("%Y-%m-%dT%H:%M:%S"),
                "finding": "true" if finding else "false",
            }
        )
    return rows


def pixel_mean_sd(base: pydicom.Dataset, rng: np.random.Generator, n: int = 64) -> float:
    """SD of the per-slice mean intensity under the reference process."""
    means = [float(_slice(rng, base, bool(rng.random() < 0.3), 0.0).mean()) for _ in range(n)]
    return float(np.std(means))


def generate(out: Path, rows: int, seed: int, scanner_upgrade: bool) -> None:
    rng = np.random.default_rng(seed)
    base = _base()
    shift = SHIFT_SD * pixel_mean_sd(base, np.random.default_rng(seed + 1)) if scanner_upgrade else 0.0
    tag = f"{seed}-{'upgrade' if scanner_upgrade else 'ref'}"
    labels = _series(rng, base, out / "slices", rows, START, 300, shift, f"train-{tag}")
    _write_csv(out / "labels.csv", labels)
    later = _series(
        rng, base, out / "incoming", max(200, rows // 4), START + timedelta(days=300), 30, shift, f"incoming-{tag}"
    )
    _write_csv(out / "labels_delayed" / "delayed.csv", later)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data" / "brain_ct")
    ap.add_argument("--rows", type=int, default=240)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--scanner-upgrade", action="store_true")
    a = ap.parse_args()
    generate(a.out, a.rows, a.seed, a.scanner_upgrade)
    print(f"brain_ct data -> {a.out}")


if __name__ == "__main__":
    main()
