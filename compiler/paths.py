"""Path rules: data stays inside the project; outputs stay inside the build folder.

A build must not depend on where it was compiled, so emitted paths are relative.
Source URIs are relative to the spec's folder and may not escape the project
(the git repository holding the spec, or the spec's folder), neither with `..`
nor through a symlink; remote data uses `s3://`.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path, PurePosixPath


class PathProblem(ValueError):
    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def is_remote(uri: str) -> bool:
    return uri.startswith("s3://")


def static_prefix(uri: str) -> str:
    """The part of a glob before its first wildcard: the folder DVC tracks."""
    parts = PurePosixPath(uri).parts
    fixed: list[str] = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return str(PurePosixPath(*fixed)) if fixed else "."


def _no_control_characters(path: str) -> None:
    if any(ord(c) < 32 for c in path):
        raise PathProblem(f"{path!r} holds a control character (NUL, newline, ...)", "write the path as plain text")


def check_source_uri(uri: str, spec_dir: Path, project: Path) -> None:
    """Raise PathProblem if a source URI is absolute or leaves the project."""
    _no_control_characters(uri)
    if "${" in uri:
        raise PathProblem(
            f"'{uri}' holds a reference: a source is what the build is made from, so it must be known at compile time",
            "write the path; for data that moves, point a profile at it",
        )
    if is_remote(uri):
        return
    if "://" in uri:
        raise PathProblem(f"unsupported URI scheme in '{uri}'", "use a relative path or s3://bucket/prefix")
    if os.path.isabs(uri) or uri.startswith("~"):
        raise PathProblem(
            f"absolute path '{uri}' makes the build depend on this machine",
            "use a path relative to the spec, an s3:// URI, or import the data into the project",
        )
    target = (spec_dir / static_prefix(uri)).resolve()
    root = project.resolve()
    if target != root and root not in target.parents:
        raise PathProblem(
            f"'{uri}' leads outside the project (the git repository holding the spec)",
            "keep data inside the repository, use an s3:// URI, or import the data",
        )


def check_output_path(path: str) -> None:
    """Raise PathProblem unless `path` is relative and stays inside the build folder."""
    if os.path.isabs(path) or path.startswith("~") or "://" in path:
        raise PathProblem(f"'{path}' must be a path relative to the build folder")
    if ".." in PurePosixPath(path).parts:
        raise PathProblem(f"'{path}' leaves the build folder", "remove '..'")
    _no_control_characters(path)
    parts = PurePosixPath(path).parts
    if not parts:
        raise PathProblem(f"'{path}' names the build folder itself", "name a file or folder inside it")
    if len(parts) == 1 and parts[0] in RESERVED:
        raise PathProblem(f"'{path}' is a folder mlwright writes itself", f"use a path below it, e.g. {path}/mine")


# Top-level names of the build folder that the compiler or a stage writes whole.
RESERVED = frozenset(
    {"data", "models", "reports", "serving", "monitoring", "dist", "features", "logs", "state", ".mlwright"}
    | {"dvc.yaml", "dvc.lock", "params.yaml", "plan.json", "spec.resolved.yaml", "mlwright.lock.json"}
    | {"features.sql", "ml_spec.md", "README.md", ".gitignore"}
)
