"""A wheel of the running mlwright, written directly: no build backend, no subprocess.

mlwright is pure Python, and a pure-Python wheel is a zip with three metadata files
and a RECORD of hashes (PEP 427). Writing it here means `package` needs nothing the
install did not bring (`pip wheel` needed the `wheel` package or setuptools >= 70.1,
which a plain install lacks), and the wheel is byte-identical for the same code:
fixed entry order and timestamps.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import zipfile
from collections.abc import Iterator
from pathlib import Path

from mlwright import __version__

SUBPACKAGES = ("contract", "compiler", "runtime", "templates")
DATA_SUFFIXES = (".py", ".j2", ".txt", ".json")
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"cannot locate {name} to package")
    return Path(list(spec.submodule_search_locations)[0])


def package_files() -> Iterator[tuple[str, bytes]]:
    """(path inside the wheel, bytes) of every module and template, sorted."""
    roots = {"mlwright": _package_dir("mlwright")}
    roots.update({f"mlwright/{sub}": _package_dir(f"mlwright.{sub}") for sub in SUBPACKAGES})
    found: dict[str, Path] = {}
    for prefix, root in roots.items():
        for f in root.rglob("*"):
            rel = f.relative_to(root)
            if not f.is_file() or "__pycache__" in rel.parts or f.suffix not in DATA_SUFFIXES:
                continue
            if prefix == "mlwright" and rel.parts[0] in SUBPACKAGES:
                continue  # a source checkout maps subpackages elsewhere; an installed one nests them
            found[f"{prefix}/{rel.as_posix()}"] = f
    for name in sorted(found):
        yield name, found[name].read_bytes()


def _record_hash(body: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()


def metadata_files(dist_info: str) -> list[tuple[str, bytes]]:
    return [
        (
            f"{dist_info}/METADATA",
            f"Metadata-Version: 2.1\nName: mlwright\nVersion: {__version__}\nRequires-Python: >=3.11\n".encode(),
        ),
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: mlwright\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        (f"{dist_info}/entry_points.txt", b"[console_scripts]\nmlwright = mlwright.cli:main\n"),
    ]


def write_wheel(out: Path) -> Path:
    """Write `mlwright-<version>-py3-none-any.whl` into `out` and return its path."""
    out.mkdir(parents=True, exist_ok=True)
    dist_info = f"mlwright-{__version__}.dist-info"
    entries = [*package_files(), *metadata_files(dist_info)]
    record = "".join(f"{name},{_record_hash(body)},{len(body)}\n" for name, body in entries)
    entries.append((f"{dist_info}/RECORD", (record + f"{dist_info}/RECORD,,\n").encode()))
    path = out / f"mlwright-{__version__}-py3-none-any.whl"
    tmp = path.with_name(f".{path.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, body in entries:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, body)
    tmp.replace(path)
    return path
