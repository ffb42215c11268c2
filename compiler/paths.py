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


def check_source_uri(uri: str, spec_dir: Path, project: Path) -> None:
    """Raise PathProblem if a source URI is absolute or leaves the project."""
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
