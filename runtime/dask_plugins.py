"""Worker plugins the Dask engine installs on every worker, present and future.

Kept apart from `compute.py` because a plugin class must import `distributed` at
module level, and only a Dask run should pay for that import."""

from __future__ import annotations

import contextlib
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin


class SklearnBeforeLightGBM(WorkerPlugin):  # type: ignore[misc]  # distributed is used through Any
    """LightGBM's scikit-learn layer loaded on the worker, for `lightgbm.dask`.

    Why: `trainers._lightgbm` hides scikit-learn while it imports LightGBM (the layer
    costs every serving process a second), and a worker that fitted CV folds that way
    would refuse the distributed final fit, whose tasks import `lightgbm.dask` there.
    Without scikit-learn installed the worker still runs everything else."""

    name = "mlwright-sklearn-before-lightgbm"

    def setup(self, worker: Any) -> None:
        from mlwright.contract.errors import UserError
        from mlwright.runtime.models.trainers import sklearn_layer

        with contextlib.suppress(UserError):  # no distributed fit here; the driver says so if one is asked for
            sklearn_layer()
