"""Golden trees: the whole emitted project of each reference spec, byte for byte."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlwright.compiler import compile_system

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
CASES = {
    "churn": ("pipelines/churn/system.yaml", []),
    "churn_prod": ("pipelines/churn/system.yaml", ["profile=prod"]),
    "churn_k8s": ("pipelines/churn/system.yaml", ["profile=k8s"]),
    "churn_aws": ("pipelines/churn/system.yaml", ["profile=aws"]),
    "churn_gcp": ("pipelines/churn/system.yaml", ["profile=gcp"]),
    "churn_azure": ("pipelines/churn/system.yaml", ["profile=azure"]),
    "brain_ct": ("pipelines/brain_ct/system.yaml", []),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_emitted_tree_matches_golden(case: str, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, overrides = CASES[case]
    monkeypatch.chdir(ROOT)
    compiled = compile_system(Path(spec), overrides, Path("build") / Path(spec).parent.name)
    folder = GOLDEN / case
    if update_golden:
        shutil.rmtree(folder, ignore_errors=True)
        for rel, body in compiled.files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(body)
    on_disk = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert sorted(on_disk) == sorted(compiled.files), "emitted file set changed; run pytest --update-golden and review"
    for rel, body in compiled.files.items():
        assert on_disk[rel] == body, f"{case}/{rel} differs from golden; run pytest --update-golden and review"
