"""Training backends behind one small interface, chosen by `training.backend`.

`LightGBMTrainer` (deterministic mode, fixed threads, early stopping on the
validation rows) and `TorchTrainer` (CPU; a tabular MLP, or a small CNN with a
tabular branch for images; seeded data order, deterministic algorithms). Each
returns a `Model` that predicts scores on the preprocessed matrix and saves
itself into a folder. Heavy imports happen inside, on first use.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

TRAIN_THREADS = 2
PARALLEL_PREDICT_ROWS = 2_000


@dataclass
class TrainData:
    X: np.ndarray
    y: np.ndarray
    images: np.ndarray | None
    task: str
    categorical: list[int]
    names: list[str]
    n_classes: int = 1  # multiclass: the number of classes (labels are 0..n-1); else one score per row


class Model(Protocol):
    def predict(self, X: np.ndarray, images: np.ndarray | None = None) -> np.ndarray: ...

    def predict_one(self, X: np.ndarray, images: np.ndarray | None = None) -> float | np.ndarray:
        """The score of a (1, width) row (multiclass: its class probabilities): the
        online endpoint's path."""
        ...

    def save(self, folder: Path) -> None: ...

    def importance(self) -> dict[str, float]: ...


class Trainer(Protocol):
    def fit(
        self, data: TrainData, fit_idx: np.ndarray, val_idx: np.ndarray, params: dict[str, Any], seed: int
    ) -> Model: ...


# --- LightGBM -------------------------------------------------------------------
def _lightgbm() -> Any:
    """LightGBM without its scikit-learn layer.

    `lightgbm.compat` imports scikit-learn whenever it is installed, and with it
    scipy.stats: ~1 s of every process that trains or loads a model here (train,
    register, predict, serve, monitor), for an estimator API we never use (only
    `Dataset`, `train` and `Booster`). scikit-learn is hidden for this one import
    only; it stays importable afterwards, and a process that imported it first
    gets LightGBM as usual."""
    if "lightgbm" in sys.modules:
        return sys.modules["lightgbm"]
    hide = "sklearn" not in sys.modules
    if hide:
        sys.modules["sklearn"] = None  # type: ignore[assignment]  # makes `import sklearn` raise ImportError
    try:
        import lightgbm
    finally:
        if hide:
            del sys.modules["sklearn"]
    return lightgbm


def sklearn_layer() -> Any:
    """LightGBM with its scikit-learn layer, for `lightgbm.dask` (the distributed fit).

    `_lightgbm` hides scikit-learn, and LightGBM decides once, at import, whether the
    layer exists; so where LightGBM was imported that way, its `compat` and `sklearn`
    modules are loaded again with scikit-learn visible (nothing here uses the classes
    the first load made)."""
    import importlib

    try:
        import sklearn  # noqa: F401
    except ImportError:
        from mlwright.runtime.context import UserError

        raise UserError(
            "compute.distributed_fit_rows: a distributed final fit needs scikit-learn: pip install 'mlwright[dask]'"
        ) from None
    lgb = _lightgbm()
    if not lgb.compat.SKLEARN_INSTALLED:
        importlib.reload(lgb.compat)
        importlib.reload(lgb.sklearn)
        if "lightgbm.dask" in sys.modules:  # LightGBM's __init__ imports it when Dask is installed
            importlib.reload(sys.modules["lightgbm.dask"])
    return lgb


class SingleRowPredictor:
    """LightGBM's fast single-row C API (`LGBM_BoosterPredictForMatSingleRowFast`).

    Why: `Booster.predict` plans a predictor, copies its keyword arguments and
    converts the matrix on every call, ~60 µs for one row; the fast API builds that
    configuration once, so a call is one C call over the row. Same predictor code
    inside LightGBM, so scores equal `Booster.predict`'s bit for bit (tested)."""

    def __init__(self, booster: Any, width: int):
        import ctypes

        basic = _lightgbm().basic

        self._ctypes, self._lib, self._check = ctypes, basic._LIB, basic._safe_call
        self.width = width
        self.handle = ctypes.c_void_p()
        best = booster.best_iteration
        self._check(
            self._lib.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(basic._C_API_PREDICT_NORMAL),
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(best if best and best > 0 else -1),  # as Booster.predict: best, else all
                ctypes.c_int(basic._C_API_DTYPE_FLOAT32),
                ctypes.c_int32(width),
                basic._c_str("num_threads=1"),
                ctypes.byref(self.handle),
            )
        )
        self.outputs = booster.num_model_per_iteration()  # multiclass: one probability per class
        self.out = np.zeros(self.outputs, dtype=np.float64)
        self._out = self.out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
        self._out_len = ctypes.c_int64(0)
        self._out_len_ref = ctypes.byref(self._out_len)

    def __call__(self, row: np.ndarray) -> float | np.ndarray:
        if row.dtype != np.float32 or not row.flags.c_contiguous or row.size != self.width:
            row = np.ascontiguousarray(row, dtype=np.float32).reshape(-1)
        self._check(
            self._lib.LGBM_BoosterPredictForMatSingleRowFast(
                self.handle, self._ctypes.c_void_p(row.ctypes.data), self._out_len_ref, self._out
            )
        )
        return float(self.out[0]) if self.outputs == 1 else self.out.copy()

    def __del__(self) -> None:
        if getattr(self, "handle", None) and self.handle.value:
            self._lib.LGBM_FastConfigFree(self.handle)


class LightGBMModel:
    def __init__(self, booster: Any, names: list[str]):
        self.booster = booster
        self.names = names
        self._one: SingleRowPredictor | None = None
        self._one_lock = threading.Lock()

    def predict_one(self, X: np.ndarray, images: np.ndarray | None = None) -> float | np.ndarray:
        with self._one_lock:  # one fast config, one output buffer
            if self._one is None:
                self._one = SingleRowPredictor(self.booster, X.shape[-1])
            return self._one(X)

    def predict(self, X: np.ndarray, images: np.ndarray | None = None) -> np.ndarray:
        # OpenMP threads stall small requests on a busy box; batches (evaluation, batch
        # scoring) gain from them, and each row's score is the same either way
        threads = 1 if len(X) < PARALLEL_PREDICT_ROWS else TRAIN_THREADS
        return np.asarray(
            self.booster.predict(X, num_iteration=self.booster.best_iteration or None, num_threads=threads)
        )

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / "model.txt"), num_iteration=self.booster.best_iteration or None)

    @property
    def iterations(self) -> int:
        """Boosting rounds the model uses: early stopping's best, else all it grew."""
        return int(self.booster.best_iteration or self.booster.current_iteration())

    def importance(self) -> dict[str, float]:
        gain = self.booster.feature_importance(importance_type="gain")
        total = float(gain.sum()) or 1.0
        return {n: round(float(g) / total, 6) for n, g in zip(self.names, gain, strict=True)}

    @classmethod
    def load(cls, folder: Path, names: list[str]) -> LightGBMModel:
        lgb = _lightgbm()
        return cls(lgb.Booster(model_file=str(folder / "model.txt")), names)


class LightGBMTrainer:
    """One process's fit. `threads`: OpenMP threads; in deterministic, row-wise mode the
    model is the same on any count (tested), so a Dask worker fits with the threads it
    has instead of spinning more OpenMP threads than its share of the cores."""

    def __init__(self, threads: int = TRAIN_THREADS):
        self.threads = threads

    def fit(
        self, data: TrainData, fit_idx: np.ndarray, val_idx: np.ndarray, params: dict[str, Any], seed: int
    ) -> Model:
        lgb = _lightgbm()
        p = dict(params)
        rounds = int(p.pop("n_estimators"))
        stop = int(p.pop("early_stopping_rounds"))
        objective = {"regression": "regression", "multiclass_classification": "multiclass"}.get(data.task, "binary")
        lgb_params = {
            "objective": objective,
            **({"num_class": data.n_classes} if data.n_classes > 1 else {}),
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.threads,
            "verbose": -1,
            "min_data_per_group": 20,
            **p,
        }
        train = lgb.Dataset(
            data.X[fit_idx], data.y[fit_idx], categorical_feature=data.categorical or "auto", free_raw_data=False
        )
        valid = lgb.Dataset(data.X[val_idx], data.y[val_idx], reference=train)
        callbacks = [lgb.early_stopping(stop, verbose=False)] if stop > 0 else []
        booster = lgb.train(lgb_params, train, num_boost_round=rounds, valid_sets=[valid], callbacks=callbacks)
        return LightGBMModel(booster, data.names)


class DaskLightGBMTrainer:
    """The final fit across a Dask cluster (`lightgbm.dask`, data-parallel), for training
    tables above `compute.distributed_fit_rows`.

    Rows go to the workers in a seeded random order, never sorted by time or label (a
    worker holding only one period or one class skews the shared bin boundaries:
    lightgbm#5025). No early stopping (it can hang a distributed fit: lightgbm#7009):
    `n_estimators` is what the cross-validation's early stopping chose. Each worker
    fits with the threads it has (lightgbm.dask sets them; more on a busy box is slower)."""

    def __init__(self, client: Any):
        self.client = client

    def fit(
        self, data: TrainData, fit_idx: np.ndarray, val_idx: np.ndarray, params: dict[str, Any], seed: int
    ) -> Model:
        sklearn_layer()
        from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor

        p = dict(params)
        p.pop("early_stopping_rounds", None)
        X, y = self._placed(data, np.random.default_rng(seed).permutation(fit_idx))
        estimator = DaskLGBMRegressor if data.task == "regression" else DaskLGBMClassifier
        model = estimator(
            client=PartOrder(self.client),
            random_state=seed,
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
            min_data_per_group=20,
            **p,
        )
        model.fit(X, y, categorical_feature=data.categorical or "auto")
        return LightGBMModel(model.to_local().booster_, data.names)

    def _placed(self, data: TrainData, order: np.ndarray) -> tuple[Any, Any]:
        """One part per worker, part i on the i-th worker by address: the same rows meet
        on one machine in every run, whatever the workers' ports are this time."""
        import dask
        import dask.array as da

        workers = sorted(self.client.scheduler_info()["workers"])
        xs, ys = [], []
        for worker, rows in zip(workers, np.array_split(order, len(workers)), strict=True):
            if not len(rows):
                continue
            x = self.client.scatter(data.X[rows], workers=[worker], hash=False)
            label = self.client.scatter(data.y[rows], workers=[worker], hash=False)
            xs.append(da.from_delayed(dask.delayed(x), shape=(len(rows), data.X.shape[1]), dtype=data.X.dtype))
            ys.append(da.from_delayed(dask.delayed(label), shape=(len(rows),), dtype=data.y.dtype))
        return da.concatenate(xs), da.concatenate(ys)


class PartOrder:
    """The Dask client, with `who_has` answered in the order of the parts asked about.

    Why: `lightgbm.dask` ranks the machines in the order `who_has` lists the parts, and
    the client builds that answer from a set of keys, whose order changes with every
    process's string hashing. With the rank following the part order, the worker that
    holds part 0 is rank 0 in every run, and two fits of the same rows are the same
    model (without it, the same data gave two different models, by rank order)."""

    def __init__(self, client: Any):
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def who_has(self, futures: Any = None, **kwargs: Any) -> dict[str, Any]:
        found = self._client.who_has(futures, **kwargs)
        return {f.key: found[f.key] for f in futures}


# --- PyTorch --------------------------------------------------------------------
def _torch() -> Any:
    try:
        import torch
    except ImportError:
        from mlwright.runtime.context import UserError

        raise UserError("training.backend: torch needs PyTorch: pip install 'mlwright[torch]'") from None
    return torch


def _net(torch: Any, arch: dict[str, Any]) -> Any:
    nn = torch.nn
    d, hidden, dropout = arch["inputs"], arch["hidden"], arch["dropout"]
    k = arch.get("outputs", 1)  # one logit, or one per class

    def shape(out: Any) -> Any:
        return out.squeeze(1) if k == 1 else out

    class SmallCNN(nn.Module):  # type: ignore[misc,name-defined]  # torch.nn reached through Any
        def __init__(self) -> None:
            super().__init__()
            c = arch["channels"]
            self.conv = nn.Sequential(
                nn.Conv2d(1, c, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(2 * c, 2 * c, 3, stride=2, padding=1), nn.ReLU(),
                nn.AdaptiveMaxPool2d(1), nn.Flatten(),
            )  # fmt: skip
            self.head = nn.Sequential(
                nn.Linear(2 * c + d, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, k)
            )

        def forward(self, x: Any, img: Any) -> Any:
            return shape(self.head(torch.cat([self.conv(img.unsqueeze(1)), x], dim=1)))

    class MLP(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Linear(d, hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, k),
            )

        def forward(self, x: Any, img: Any = None) -> Any:
            return shape(self.body(x))

    return SmallCNN() if arch["model"] == "small_cnn" else MLP()


class TorchModel:
    def __init__(self, net: Any, arch: dict[str, Any], norm: dict[str, list[float]], names: list[str], task: str):
        self.net, self.arch, self.norm, self.names, self.task = net, arch, norm, names, task
        self.mean = np.asarray(norm["mean"], np.float32)
        self.std = np.asarray(norm["std"], np.float32)

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        z = (X - self.mean) / self.std
        out: np.ndarray = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
        return out

    def predict_one(self, X: np.ndarray, images: np.ndarray | None = None) -> float | np.ndarray:
        out = self.predict(X, images)[0]
        return float(out) if out.ndim == 0 else out

    def predict(self, X: np.ndarray, images: np.ndarray | None = None) -> np.ndarray:
        torch = _torch()
        self.net.eval()
        out = []
        with torch.no_grad():
            for s in range(0, len(X), 256):
                x = torch.from_numpy(self._inputs(X[s : s + 256]))
                img = torch.from_numpy(images[s : s + 256].astype(np.float32)) if images is not None else None
                logit = self.net(x, img)
                if self.task == "multiclass_classification":
                    out.append(torch.softmax(logit, dim=1).numpy())
                else:
                    out.append((torch.sigmoid(logit) if self.task != "regression" else logit).numpy())
        return (
            np.concatenate(out)
            if out
            else np.zeros((0, self.arch["outputs"]) if self.arch.get("outputs", 1) > 1 else 0)
        )

    def save(self, folder: Path) -> None:
        torch = _torch()
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.net.state_dict(), folder / "model.pt")
        (folder / "torch.json").write_text(
            json.dumps({"arch": self.arch, "norm": self.norm, "task": self.task}, sort_keys=True)
        )

    def importance(self) -> dict[str, float]:
        first = next(p for n, p in self.net.named_parameters() if n.endswith("weight") and p.dim() == 2)
        w = first.detach().abs().sum(dim=0).numpy()[-len(self.names) :] if self.names else np.zeros(0)
        total = float(w.sum()) or 1.0
        return {n: round(float(v) / total, 6) for n, v in zip(self.names, w, strict=False)}

    @classmethod
    def load(cls, folder: Path, names: list[str]) -> TorchModel:
        torch = _torch()
        meta = json.loads((folder / "torch.json").read_text())
        net = _net(torch, meta["arch"])
        net.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
        return cls(net, meta["arch"], meta["norm"], names, meta["task"])


class TorchTrainer:
    def fit(
        self, data: TrainData, fit_idx: np.ndarray, val_idx: np.ndarray, params: dict[str, Any], seed: int
    ) -> Model:
        torch = _torch()
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        torch.set_num_threads(1)
        X = data.X
        mean = np.nan_to_num(np.nanmean(X[fit_idx], axis=0), nan=0.0) if len(X[0:1][0]) else np.zeros(0)
        std = np.nan_to_num(np.nanstd(X[fit_idx], axis=0), nan=1.0)
        std = np.where(std < 1e-6, 1.0, std)
        model_kind = params["model"]
        arch = {
            "model": model_kind,
            "inputs": X.shape[1],
            "hidden": int(params["hidden"]),
            "channels": int(params["channels"]),
            "dropout": float(params["dropout"]),
            "outputs": data.n_classes,
        }
        model = TorchModel(_net(torch, arch), arch, {"mean": mean.tolist(), "std": std.tolist()}, data.names, data.task)
        net = model.net
        opt = torch.optim.Adam(net.parameters(), lr=float(params["lr"]), weight_decay=float(params["weight_decay"]))
        if data.n_classes > 1:
            loss_fn = torch.nn.CrossEntropyLoss()
            ys = torch.from_numpy(data.y.astype(np.int64))
        else:
            loss_fn = torch.nn.MSELoss() if data.task == "regression" else torch.nn.BCEWithLogitsLoss()
            ys = torch.from_numpy(data.y.astype(np.float32))
        xs = torch.from_numpy(model._inputs(X))
        imgs = torch.from_numpy(data.images.astype(np.float32)) if data.images is not None else None
        gen = torch.Generator().manual_seed(seed)
        batch = int(params["batch_size"])
        fit_t, val_t = torch.from_numpy(fit_idx), torch.from_numpy(val_idx)
        best_loss, best_state, patience, waited = float("inf"), None, int(params["patience"]), 0
        for _epoch in range(int(params["epochs"])):
            net.train()
            perm = fit_t[torch.randperm(len(fit_t), generator=gen)]
            for s in range(0, len(perm), batch):
                idx = perm[s : s + batch]
                opt.zero_grad()
                out = net(xs[idx], imgs[idx] if imgs is not None else None)
                loss_fn(out, ys[idx]).backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                val_loss = float(loss_fn(net(xs[val_t], imgs[val_t] if imgs is not None else None), ys[val_t]))
            if val_loss < best_loss - 1e-7:
                best_loss, waited = val_loss, 0
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
            else:
                waited += 1
                if waited >= patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        return model


TRAINERS: dict[str, type] = {"lightgbm": LightGBMTrainer, "torch": TorchTrainer}
MODELS: dict[str, Any] = {"lightgbm": LightGBMModel, "torch": TorchModel}


def trainer_for(backend: str, threads: int | None = None) -> Trainer:
    """A trainer for `backend`; `threads` for LightGBM's OpenMP (torch fits on one)."""
    if backend == "lightgbm" and threads is not None:
        return LightGBMTrainer(threads)
    out: Trainer = TRAINERS[backend]()
    return out


def load_model(folder: Path, backend: str, names: list[str]) -> Model:
    out: Model = MODELS[backend].load(folder, names)
    return out
