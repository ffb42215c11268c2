"""What each DVC stage reads of the contract: its own section, and the keys of others.

`lower` writes these into dvc.yaml as the stage's `params:`, so DVC re-runs a stage
exactly when something it reads changes, and `mlwright diff` answers from the same
lists. They are held true from both sides: `test_every_setting_acts` records every
key each stage reads in a real run (a read not listed here fails it, and so does a
listed key nothing reads), and `test_stages_name_contract_fields` checks that every
key here is a field of `Params`.
"""

from __future__ import annotations

from typing import Literal

Stage = Literal["ingest", "validate", "featurize", "train", "register", "package"]

# Where the work runs is no parameter (outputs are the same bytes on any engine,
# scheduler and bucket count), except whether train's final fit is distributed:
# that is another model, so train and register declare the engine and the threshold.
_DISTRIBUTED_FIT = ("compute.engine", "compute.distributed_fit_rows")

STAGE_PARAMS: dict[Stage, tuple[str, ...]] = {
    "ingest": ("ingest",),
    "validate": ("validate", "ingest.sources"),
    "featurize": ("featurize", "ingest.sources"),
    "train": ("train", "featurize.offline_path", "featurize.offline_format", *_DISTRIBUTED_FIT),
    # the bundle carries what serving needs of the features and the request
    "register": (
        "train",
        "register",
        *_DISTRIBUTED_FIT,
        "featurize.image",
        "featurize.offline_format",
        "featurize.offline_path",
        "featurize.online",
        "featurize.row_features",
        "featurize.window_features",
        "serve.entity",
        "serve.inputs",
        "serve.rename",
    ),
    "package": ("package", "serve", "featurize.online"),
}
