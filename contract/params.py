"""`params.yaml`, typed: one section per stage and per command."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .base import Section
from .commands import DeployParams, GatesParams, VersioningParams
from .compute import ComputeParams
from .featurize import FeaturizeParams
from .ingest import IngestParams
from .monitor import MonitorParams
from .register import PackageParams, RegisterParams
from .serve import ServeParams
from .train import TrainParams
from .validate import ValidateParams

# 4: the contract package (ingest sources typed by format, each tabular one with its rename)
IR_VERSION = 4


class Params(Section):
    ingest: IngestParams
    # `validate` and `register` are names pydantic's BaseModel (and ABCMeta) keep: the
    # fields carry a trailing underscore and the file keeps the plain name
    validate_: ValidateParams = Field(validation_alias="validate", serialization_alias="validate")
    featurize: FeaturizeParams
    train: TrainParams
    register_: RegisterParams = Field(validation_alias="register", serialization_alias="register")
    package: PackageParams
    serve: ServeParams
    monitor: MonitorParams
    compute: ComputeParams
    gates: GatesParams
    versioning: VersioningParams
    deploy: DeployParams | None = None  # a Kubernetes build only

    def as_yaml_data(self) -> dict[str, Any]:
        """What params.yaml holds: every field by its file name; `deploy` only when there is one."""
        data = self.model_dump(mode="json", by_alias=True)
        if data.get("deploy") is None:
            data.pop("deploy", None)
        return data
