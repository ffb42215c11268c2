"""A DICOM source as a table: one row per file with header fields and pixel summaries."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlwright.runtime.data.imaging import hounsfield, read_dicom

_AGE = re.compile(r"^(\d{1,3})([DWMY])$")


def dicom_value(ds: Any, keywords: list[str]) -> Any:
    """A header value; a list of keywords is joined (AcquisitionDate + AcquisitionTime)."""
    values = [ds.get(k) for k in keywords]
    if any(v is None or str(v) == "" for v in values):
        return None
    if len(keywords) == 2 and keywords[0].endswith("Date") and keywords[1].endswith("Time"):
        date, time = str(values[0]), str(values[1]).split(".")[0].ljust(6, "0")
        try:
            return datetime.strptime(date + time, "%Y%m%d%H%M%S").strftime("%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return f"{date} {time}"
    value = values[0] if len(values) == 1 else " ".join(str(v) for v in values)
    text = str(value)
    age = _AGE.match(text)
    if age:  # DICOM age string: 045Y -> 45 (years)
        n, unit = int(age.group(1)), age.group(2)
        return str(n if unit == "Y" else n // {"D": 365, "W": 52, "M": 12}[unit])
    if len(keywords) == 1 and keywords[0].endswith("Date") and re.fullmatch(r"\d{8}", text):
        return f"{text[:4]}-{text[4:6]}-{text[6:]}T00:00:00"
    return text


def dicom_row(path: Path, shown: str, metadata: dict[str, list[str]]) -> dict[str, Any]:
    ds = read_dicom(path, shown)
    hu = hounsfield(ds, shown)
    row: dict[str, Any] = {col: dicom_value(ds, kws) for col, kws in metadata.items()}
    row.update(
        path=shown,
        rows=int(hu.shape[0]),
        columns=int(hu.shape[1]),
        pixel_mean=float(np.mean(hu)),
        pixel_std=float(np.std(hu)),
    )
    return row


def read_dicom_source(files: list[tuple[Path, str]], metadata: dict[str, list[str]]) -> pa.Table:
    rows = [dicom_row(p, shown, metadata) for p, shown in files]
    names = [*metadata, "path", "rows", "columns", "pixel_mean", "pixel_std"]
    return pa.table({n: [r[n] for r in rows] for n in names})
