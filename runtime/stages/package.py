"""Stage 6a, `package`: the container build context in `dist/`.

`dist/` holds the emitted Dockerfile, `.dockerignore` and pinned requirements,
a wheel of this mlwright (written from the installed package by `wheel.py`, so it
works from a source checkout and from a plain install alike, with no build tool) and `app/`: the registered
bundle, the serving config and a copy of the embedded online store. The image
it builds runs `mlwright serve /app`.
"""

from __future__ import annotations

import shutil
from typing import Any

from mlwright.runtime.atomic import replace_dir, staging_dir, write_json
from mlwright.runtime.context import StageContext, say, stage_main
from mlwright.runtime.models.bundle import REGISTERED, find_bundle
from mlwright.runtime.serving.wheel import write_wheel


def run(ctx: StageContext) -> dict[str, Any]:
    pkg, serve = ctx.params.package, ctx.params.serve
    bundle = find_bundle(ctx.path(REGISTERED))
    final = ctx.path("dist")
    stage = staging_dir(final)
    for name in ("Dockerfile", ".dockerignore", "requirements.txt", "constraints.txt"):
        shutil.copy2(ctx.path("serving") / name, stage / name)
    wheel = write_wheel(stage / "wheels")
    app = stage / "app"
    shutil.copytree(bundle, app)
    write_json(app / "serve.json", serve.model_dump(mode="json"))
    online = ctx.params.featurize.online
    if online.backend == "sqlite" and ctx.path(online.path).is_file():
        import sqlite3

        src = sqlite3.connect(ctx.path(online.path))
        dst = sqlite3.connect(app / "online.sqlite")
        src.backup(dst)  # a consistent copy even while the store is being written
        dst.execute("PRAGMA journal_mode=DELETE")  # a read-only open of a WAL file would need to write -shm
        src.close()
        dst.close()
    size = sum(f.stat().st_size for f in stage.rglob("*") if f.is_file())
    replace_dir(stage, final)
    report = {
        "model_version": pkg.model_version,
        "context_bytes": size,
        "wheel": wheel.name,
        "base_image": pkg.base_image,
        "max_size_bytes": pkg.max_size_bytes,
        "build": f"docker build --build-arg BASE_IMAGE={pkg.base_image} -t {pkg.name}:{pkg.model_version} dist",
    }
    write_json(ctx.path("reports/package.json"), report)
    say(f"package: dist/ ready ({size / 1e6:.1f} MB context); build with: {report['build']}")
    return report


if __name__ == "__main__":
    stage_main("package", run)
