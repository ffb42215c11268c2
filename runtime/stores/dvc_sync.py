"""`dvc push` / `dvc pull` against the spec's remote without writing its URL anywhere.

DVC's command line only knows remotes by name, from its config files, so the old
way was `dvc config --local remote.mlwright.url <url>`: a URL resolved from the
environment (`${oc.env:MLWRIGHT_REMOTE}`) ended up on disk in `.dvc/config.local`.
DVC's `Repo` takes the same remote as an in-memory layer over its config files
instead (`remote_config`, merged key by key, so settings a user gave this remote in
a config file, an `endpointurl` or a `profile`, still apply). It runs in its own
process, as the `dvc` command did, so DVC's logging and state stay out of ours:
`python -m mlwright.runtime.stores.dvc_sync push|pull ROOT TARGET`, URL in the environment.
"""

from __future__ import annotations

import os
import sys

REMOTE = "mlwright"
URL_VARIABLE = "MLWRIGHT_DVC_REMOTE_URL"


def summary(action: str, count: int) -> str:
    """DVC's own wording, which callers and users already know."""
    if count == 0:
        return "Everything is up to date."
    return f"{count} file{'s' if count != 1 else ''} {action}"


def synced(action: str, root: str, target: str, url: str) -> str:
    from dvc.repo import Repo

    with Repo(root, remote=REMOTE, remote_config={"url": url}) as repo:
        if action == "push":
            return summary("pushed", repo.push(targets=[target], remote=REMOTE))
        result = repo.pull(targets=[target], remote=REMOTE, allow_missing=True)
        return summary("fetched", int(result.get("stats", {}).get("fetched", 0)))


def main(argv: list[str]) -> int:
    from dvc.exceptions import DvcException

    action, root, target = argv
    try:
        print(synced(action, root, target, os.environ[URL_VARIABLE]))
    except DvcException as exc:
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        print(f"ERROR: {exc}{cause}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
