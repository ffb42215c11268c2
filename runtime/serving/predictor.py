"""A loaded model bundle that turns requests (or batch rows) into predictions.

One code path for the endpoint and for batch scoring, so a served prediction and
a batch prediction of the same inputs are the same number. Features come from
three places, in this order: the entity's latest values in the online store,
request fields that are features themselves, and row-level features derived from
request fields with the spec's own expressions (`expr_eval`).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlwright.contract.featurize import ImageTransform
from mlwright.contract.featurize import OnlineStore as OnlineStoreConfig
from mlwright.contract.serve import ServeParams
from mlwright.runtime.context import UserError
from mlwright.runtime.data.expr_eval import Unsupported, compile_expression
from mlwright.runtime.models.bundle import BundleServing, load_bundle
from mlwright.runtime.models.preprocess import Preprocessor
from mlwright.runtime.models.trainers import Model, load_model
from mlwright.runtime.stores.online_store import OnlineStore, open_store


class BadInput(UserError):
    """A request problem: becomes a 422 naming the field."""

    def __init__(self, field: str, message: str, problems: list[tuple[str, str]] | None = None):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.problems = problems or [(field, message)]


@dataclass
class Prediction:
    prediction: Any
    probability: float | None  # binary: of the positive class; multiclass: of the predicted class
    logged_inputs: dict[str, Any]
    probabilities: dict[str, float] | None = None  # multiclass: every class's, by label
    missing: list[str] | None = None  # store features the online store had no value for (unknown entity)
    unseen: list[str] | None = None  # category features with a value training never saw (read as missing)


class FeatureAssembler:
    def __init__(self, serving: BundleServing, features: list[str], store: OnlineStore | None):
        self.entity = serving.entity
        self.store = store
        self.features = features
        inputs = serving.inputs
        row = {f.name: f for f in serving.row_features}
        # a request field that is a plain-column feature gives that column's value
        self.column_of = {
            n: row[n].columns[0]
            for n in inputs
            if n in row and len(row[n].columns) == 1 and row[n].sql.strip('"') == row[n].columns[0]
        }
        self.direct = [n for n in inputs if n in features]
        self.derived = []
        for name, f in row.items():
            if name in inputs or not f.columns or not set(f.columns) <= set(self.column_of.values()):
                continue
            try:
                self.derived.append((name, compile_expression(f.sql), f.columns))
            except Unsupported:
                continue  # served from the online store
        self.counts = set(serving.window_counts)

    def stored(self) -> list[str]:
        """Features only the online store supplies (not request fields, not derived from them)."""
        derived = {name for name, _fn, _cols in self.derived}
        return [f for f in self.features if f not in self.direct and f not in derived]

    def assemble(self, request: dict[str, Any], online: dict[str, Any] | None = None) -> dict[str, Any]:
        if online is None and self.store is not None and request.get(self.entity) is not None:
            online = self.store.get([str(request[self.entity])])[0]
        row: dict[str, Any] = dict(online or {})
        env = {self.column_of[n]: request.get(n) for n in self.column_of}
        for name in self.direct:
            row[name] = request.get(name)
        for name, fn, _cols in self.derived:
            row[name] = fn(env)
        for name in self.counts:
            if row.get(name) is None:
                row[name] = 0
        return row


class Predictor:
    def __init__(self, target: Path, store_root: Path | None = None, *, with_store: bool = True):
        self.folder, self.bundle = load_bundle(target)
        b = self.bundle
        self.model_version = b.model_version
        self.threshold = b.threshold
        self.task = b.task
        self.classes = b.classes
        self.pre = Preprocessor.from_json(b.preprocessor)
        self.model: Model = load_model(self.folder, b.backend, b.feature_names)
        self.image = b.image
        self.serving = b.serving
        self.store = open_online(self.folder, b.serving.online, store_root, b.name) if with_store else None
        self._assembler = FeatureAssembler(self.serving, b.features, self.store)
        self._stored = self._assembler.stored() if self.store is not None else []

    def close(self) -> None:
        if self.store is not None:
            self.store.close()

    def warm_up(self) -> None:
        """Score one all-missing row (and a blank image) before the endpoint says ready.

        A model's first call pays one-off costs (PyTorch's kernel selection and thread
        pools, LightGBM's single-row predictor set-up) that took longer than a 1 s
        request timeout; those belong to start-up, not to the first client."""
        X = np.full((1, self.pre.width), np.nan, np.float32)
        images = np.zeros((1, *self.image.size), np.float32) if self.image else None
        self.model.predict_one(X, images)

    def predict(self, request: dict[str, Any]) -> Prediction:
        online = None
        if self.store is not None and request.get(self.serving.entity) is not None:
            online = self.store.get([str(request[self.serving.entity])])[0]
        row = self._assembler.assemble(request, online or {})
        missing = [f for f in self._stored if online is None or f not in online]
        X = self.pre.transform_row(row)
        logged = {k: v for k, v in request.items() if k != "image"}
        images = None
        if self.image:
            img, stats = decode_image(request.get("image"), self.image)
            images = img[None]
            logged.update(image_mean=stats[0], image_std=stats[1])
        score = self.model.predict_one(X, images)
        result = self._result(score, logged)
        result.missing = missing or None
        result.unseen = self.pre.unseen(row) or None
        return result

    def _result(self, score: float | np.ndarray, logged: dict[str, Any]) -> Prediction:
        if self.classes is not None:
            probs = np.asarray(score, dtype=np.float64)
            best = int(np.argmax(probs))
            return Prediction(
                self.classes[best],
                round(float(probs[best]), 6),
                logged,
                {str(c): round(float(v), 6) for c, v in zip(self.classes, probs, strict=True)},
            )
        score = float(score)
        if self.task == "regression":
            return Prediction(round(score, 6), None, logged)
        prob = min(max(score, 0.0), 1.0)
        assert self.threshold is not None  # a binary bundle holds one (Bundle checks it on load)
        return Prediction(int(prob >= self.threshold), round(prob, 6), logged)

    def predict_features(self, rows: list[dict[str, Any]], images: np.ndarray | None = None) -> list[Prediction]:
        """Scores of rows that already hold every feature (computed as of their time)."""
        if not rows:
            return []
        X = np.vstack([self.pre.transform_row(r) for r in rows])
        return [self._result(s, {}) for s in self.model.predict(X, images)]

    def predict_batch(self, rows: list[dict[str, Any]], images: np.ndarray | None = None) -> list[Prediction]:
        entity = self.serving.entity
        online: list[dict[str, Any] | None] = [None] * len(rows)
        if self.store is not None:
            ids = [str(r.get(entity)) for r in rows]
            online = self.store.get(ids)
        X = (
            np.vstack(
                [
                    self.pre.transform_row(self._assembler.assemble(r, o or {}))
                    for r, o in zip(rows, online, strict=True)
                ]
            )
            if rows
            else np.zeros((0, self.pre.width), np.float32)
        )
        scores = self.model.predict(X, images) if len(rows) else np.zeros(0)
        return [self._result(s, {}) for s in scores]


def open_online(bundle_folder: Path, cfg: OnlineStoreConfig, store_root: Path | None, name: str) -> OnlineStore | None:
    """The online store: beside a build folder, or the copy packaged into the bundle."""
    if cfg.backend == "sqlite":
        packaged = bundle_folder / "online.sqlite"
        if store_root is not None and (store_root / cfg.path).is_file():
            return open_store(cfg, store_root, name, readonly=True)
        if packaged.is_file():
            return open_store(cfg.model_copy(update={"path": "online.sqlite"}), bundle_folder, name, readonly=True)
        return None
    return open_store(cfg, store_root or bundle_folder, name)


def decode_image(value: Any, params: ImageTransform) -> tuple[np.ndarray, tuple[float, float]]:
    """A base64 DICOM slice -> the preprocessed array and its HU mean/std."""
    from mlwright.runtime.data.imaging import hounsfield, preprocess, read_dicom

    if not isinstance(value, str) or not value:
        raise BadInput("image", "expected a base64-encoded DICOM slice")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput("image", "not valid base64") from None
    try:
        hu = hounsfield(read_dicom(raw, "image"), "image")
    except UserError as exc:
        raise BadInput("image", str(exc).split(": ", 1)[-1]) from None
    return preprocess(hu, params), (round(float(hu.mean()), 4), round(float(hu.std()), 4))


def finite(value: Any) -> bool:
    return not (isinstance(value, float) and not math.isfinite(value))


def read_serve_config(target: Path) -> tuple[ServeParams, Path | None]:
    """The `serve` config and the folder the online store lives under."""
    params = target / "params.yaml"
    if params.is_file():
        from mlwright.runtime.context import check_ir_version, parsed_params

        check_ir_version(target)
        return parsed_params(params).serve, target
    packaged = target / "serve.json"
    if packaged.is_file():
        try:
            return ServeParams.model_validate_json(packaged.read_bytes()), None
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise UserError(f"{packaged}: not the serve contract this mlwright reads ({exc})") from None
    raise UserError(f"{target}: neither a build folder (params.yaml) nor a packaged app (serve.json)")
