"""The compiler's public API: spec file in, plan and file map out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .compose import compose
from .emit import FileMap, emit
from .lower import lower
from .plan import SystemPlan
from .spec import SystemSpec
from .validate import validate_document


@dataclass(frozen=True)
class CompiledSystem:
    plan: SystemPlan
    files: FileMap
    out_dir: Path


def display_path(path: Path) -> str:
    """How errors name the spec: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path, Path.cwd()) if path.resolve().is_relative_to(Path.cwd().resolve()) else str(path)
    except ValueError:
        return str(path)


def load_spec(spec_path: Path, overrides: list[str] | None = None) -> SystemSpec:
    """load -> compose -> validate; raises SpecError with every problem found."""
    doc = compose(spec_path, display_path(spec_path), list(overrides or []))
    return validate_document(doc, spec_path.parent)


def default_out_dir(spec: SystemSpec) -> Path:
    return Path("build") / spec.name


def build_plan(
    spec_path: Path, overrides: list[str] | None = None, out_dir: Path | None = None
) -> tuple[SystemPlan, Path]:
    spec = load_spec(spec_path, overrides)
    out = out_dir if out_dir is not None else default_out_dir(spec)
    return lower(spec, spec_path.parent, out), out


def compile_system(spec_path: Path, overrides: list[str] | None = None, out_dir: Path | None = None) -> CompiledSystem:
    plan, out = build_plan(spec_path, overrides, out_dir)
    return CompiledSystem(plan, emit(plan), out)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the system YAML, for editors (yaml-language-server)."""
    schema = SystemSpec.model_json_schema(by_alias=True, mode="validation")
    # derived from spec.inputs when absent (SystemSpec._features_from_inputs)
    schema["required"] = [key for key in schema.get("required", []) if key != "features"]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlwright system specification"
    return schema
