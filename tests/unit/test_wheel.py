"""The wheel `package` puts into the image: written without a build tool, installable,
complete (modules, templates, the constraints file) and the same bytes every time."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from mlwright.runtime.serving.wheel import write_wheel


def test_the_wheel_installs_and_imports_without_the_checkout(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path / "a")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mlwright/compiler/constraints.txt" in names and "mlwright/templates/features.sql.j2" in names
    assert "mlwright/runtime/serving/serve.py" in names and "mlwright/cli.py" in names
    assert "mlwright/contract/params.py" in names and "mlwright/contract/errors.py" in names
    assert write_wheel(tmp_path / "b").read_bytes() == wheel.read_bytes(), "same code, same bytes"
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target)]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True)
    code = (
        "import mlwright, mlwright.runtime.serving.serve, mlwright.contract, mlwright.compiler.pins as p;"
        # every package from the wheel: a dev venv's editable finder would otherwise supply a missing one
        f"assert all(m.__file__.startswith({str(target)!r}) for m in (mlwright, mlwright.contract, mlwright.runtime.serving.serve)), mlwright.contract.__file__;"
        "print(p.serving_pins(False)['numpy'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(target)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == __import__("importlib.metadata").metadata.version("numpy")


def test_record_hashes_match_the_files(tmp_path: Path) -> None:
    import base64

    with zipfile.ZipFile(write_wheel(tmp_path)) as zf:
        record = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        for line in zf.read(record).decode().splitlines():
            name, digest, size = line.rsplit(",", 2)
            if name == record:
                continue
            body = zf.read(name)
            expected = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
            assert (digest, int(size)) == (expected, len(body)), name
