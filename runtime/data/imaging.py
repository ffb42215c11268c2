"""Image preprocessing, one function for training, batch scoring and serving alike.

A CT slice becomes Hounsfield units (rescale slope/intercept), is clipped to the
spec's window (center/width), resized to `size` with area averaging, and scaled
per image. Training/serving skew in image models usually starts here, so there is
exactly one implementation.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from mlwright.contract.featurize import ImageTransform
from mlwright.runtime.context import UserError


def read_dicom(source: Path | bytes, shown: str) -> Any:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        fh = io.BytesIO(source) if isinstance(source, bytes) else source
        return pydicom.dcmread(fh)
    except (InvalidDicomError, EOFError, ValueError, OSError, AttributeError, KeyError, TypeError) as exc:
        raise UserError(f"{shown}: not a readable DICOM file ({type(exc).__name__}: {str(exc)[:120]})") from None


def hounsfield(ds: Any, shown: str) -> np.ndarray:
    try:
        pixels = ds.pixel_array.astype(np.float32)
    except Exception as exc:  # pydicom raises many types for broken pixel data
        raise UserError(f"{shown}: DICOM has no readable pixel data ({type(exc).__name__})") from None
    if pixels.ndim != 2:
        raise UserError(f"{shown}: expected one 2-D slice, got pixel data of shape {pixels.shape}")
    slope = float(getattr(ds, "RescaleSlope", 1) or 1)
    intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
    out: np.ndarray = pixels * slope + intercept
    return out


def preprocess(hu: np.ndarray, params: ImageTransform) -> np.ndarray:
    """HU window -> resize -> normalise: float32 array of shape `size`."""
    lo = params.center - params.width / 2.0
    hi = params.center + params.width / 2.0
    img = (np.clip(hu, lo, hi) - lo) / (hi - lo)
    img = resize(img, params.size)
    if params.normalize == "per_image":
        std = float(img.std())
        img = (img - float(img.mean())) / (std if std > 1e-6 else 1.0)
    out: np.ndarray = img.astype(np.float32)
    return out


def resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize (scipy.ndimage.zoom, order 1): deterministic and dependency-light."""
    from scipy.ndimage import zoom

    h, w = img.shape
    if (h, w) == size:
        return img
    out: np.ndarray = zoom(img, (size[0] / h, size[1] / w), order=1, mode="nearest", grid_mode=True)
    return out


def image_from_file(path: Path, params: ImageTransform) -> np.ndarray:
    ds = read_dicom(path, str(path))
    return preprocess(hounsfield(ds, str(path)), params)


def image_from_bytes(body: bytes, params: ImageTransform) -> np.ndarray:
    ds = read_dicom(body, "image")
    return preprocess(hounsfield(ds, "image"), params)
