"""Stage 6a, `package`: the container build context in `dist/`.

`dist/` holds the emitted Dockerfile, `.dockerignore` and pinned requirements,
a wheel of this mlwright (built from the installed package, so it works from a
source checkout and from a plain install alike) and `app/`: the registered
bundle, the serving config and a copy of the embedded online store. The image
it builds runs `mlwright serve /app`.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlwright import __version__

from .atomic import replace_dir, staging_dir, write_json
from .bundle import REGISTERED, find_bundle
from .context import StageContext, UserError, say, stage_main

SUBPACKAGES = ("compiler", "runtime", "templates")


def package_source(dest: Path) -> None:
    """Lay the installed `mlwright` package out as a buildable source tree."""
    pkg = dest / "mlwright"
    root_spec = importlib.util.find_spec("mlwright")
    assert root_spec is not None and root_spec.submodule_search_locations
    shutil.copytree(
        Path(list(root_spec.submodule_search_locations)[0]), pkg, ignore=shutil.ignore_patterns("__pycache__")
    )
    for sub in SUBPACKAGES:
        spec = importlib.util.find_spec(f"mlwright.{sub}")
        if spec is None or not spec.submodule_search_locations:
            raise UserError(f"cannot locate mlwright.{sub} to package")
        target = pkg / sub
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(
            Path(list(spec.submodule_search_locations)[0]), target, ignore=shutil.ignore_patterns("__pycache__")
        )
    (dest / "pyproject.toml").write_text(
        "[build-system]\nrequires = ['setuptools>=68']\nbuild-backend = 'setuptools.build_meta'\n\n"
        f"[project]\nname = 'mlwright'\nversion = '{__version__}'\nrequires-python = '>=3.11'\n"
        "dependencies = []\n\n[project.scripts]\nmlwright = 'mlwright.cli:main'\n\n"
        "[tool.setuptools.packages.find]\ninclude = ['mlwright*']\n\n"
        "[tool.setuptools.package-data]\n'mlwright.templates' = ['*.j2', '**/*.j2']\n"
    )


def build_wheel(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        package_source(src)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "--quiet",
                "-w",
                str(out),
                str(src),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise UserError(f"building the mlwright wheel failed: {proc.stderr.strip()[-300:]}")
    wheels = sorted(out.glob("mlwright-*.whl"))
    return wheels[-1]


def run(ctx: StageContext) -> dict[str, Any]:
    pkg, serve = ctx.section("package"), ctx.section("serve")
    bundle = find_bundle(ctx.path(REGISTERED))
    final = ctx.path("dist")
    stage = staging_dir(final)
    for name in ("Dockerfile", ".dockerignore", "requirements.txt"):
        shutil.copy2(ctx.path("serving") / name, stage / name)
    wheel = build_wheel(stage / "wheels")
    app = stage / "app"
    shutil.copytree(bundle, app)
    write_json(app / "serve.json", serve)
    online = ctx.section("featurize")["online"]
    if online["backend"] == "sqlite" and ctx.path(online["path"]).is_file():
        import sqlite3

        src = sqlite3.connect(ctx.path(online["path"]))
        dst = sqlite3.connect(app / "online.sqlite")
        src.backup(dst)  # a consistent copy even while the store is being written
        dst.execute("PRAGMA journal_mode=DELETE")  # a read-only open of a WAL file would need to write -shm
        src.close()
        dst.close()
    size = sum(f.stat().st_size for f in stage.rglob("*") if f.is_file())
    replace_dir(stage, final)
    report = {
        "model_version": pkg["model_version"],
        "context_bytes": size,
        "wheel": wheel.name,
        "base_image": pkg["base_image"],
        "max_size_bytes": pkg["max_size_bytes"],
        "build": f"docker build --build-arg BASE_IMAGE={pkg['base_image']} -t {pkg['name']}:{pkg['model_version']} dist",
    }
    write_json(ctx.path("reports/package.json"), report)
    say(f"package: dist/ ready ({size / 1e6:.1f} MB context); build with: {report['build']}")
    return report


if __name__ == "__main__":
    stage_main("package", run)
