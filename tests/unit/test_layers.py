"""Every layer is checked where it is written, also a value a later layer replaces.

With Hydra's structured configs a bad value is refused at merge; here a spec typo
shadowed by `profile/local.yaml` used to compile because the profile happened to
set the right value."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlwright.compiler import SpecError
from mlwright.compiler.api import load_spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def churn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "pipelines" / "churn", tmp_path / "churn", ignore=shutil.ignore_patterns("data"))
    monkeypatch.chdir(tmp_path)
    return Path("churn/system.yaml")


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


def test_a_spec_value_a_profile_replaces_is_still_checked(churn: Path) -> None:
    churn.write_text(churn.read_text().replace("backend: sqlite ", "backend: sqlit3 ", 1))
    with pytest.raises(SpecError) as info:
        load_spec(churn, [])
    line = line_of(churn, "backend: sqlit3")
    assert info.value.render().splitlines() == [
        f"churn/system.yaml:{line}:16: error: features.store.online.backend: 'sqlit3' is not one of: "
        "sqlite, redis, dynamodb (did you mean 'sqlite'?)"
    ]


def test_a_profile_value_an_override_replaces_is_checked_in_the_profile(churn: Path) -> None:
    profile = churn.parent / "profile" / "local.yaml"
    profile.write_text(profile.read_text().replace("backend: sqlite", "backend: sqllite"))
    with pytest.raises(SpecError) as info:
        load_spec(churn, ["features.store.online.backend=sqlite"])
    rendered = info.value.render()
    assert rendered.startswith(f"churn/profile/local.yaml:{line_of(profile, 'sqllite')}:")
    assert "features.store.online.backend: 'sqllite'" in rendered and len(rendered.splitlines()) == 1


def test_good_layers_replacing_each_other_compile(churn: Path) -> None:
    spec = load_spec(churn, ["profile=prod", "training.seed=7"])
    assert spec.training.seed == 7


@pytest.mark.parametrize("override", ["profile=../../outside/evil", "profile=..", "profile=local/../../x"])
def test_a_profile_outside_the_spec_folder_is_refused(churn: Path, override: str) -> None:
    with pytest.raises(SpecError, match="must name a file in a folder beside the spec"):
        load_spec(churn, [override])


def test_a_defaults_group_outside_the_spec_folder_is_refused(churn: Path) -> None:
    (churn.parent.parent / "evil.yaml").write_text("# @package _global_\nname: stolen\n")
    churn.write_text(churn.read_text().replace("  - profile: local", "  - profile: local\n  - ..: evil", 1))
    with pytest.raises(SpecError) as info:
        load_spec(churn, [])
    assert "defaults" in info.value.render() and "stolen" not in info.value.render()


def test_a_lock_naming_files_outside_the_build_is_not_followed(churn: Path, tmp_path: Path) -> None:
    import json

    from mlwright.compiler import compile_system
    from mlwright.compiler.write import stale_files, unified_diff, write_tree

    (tmp_path / "outside.txt").write_text("CI_SECRET=hunter2\n")
    compiled = compile_system(churn, [], Path("build/churn"))
    write_tree(compiled.files, compiled.out_dir)
    lock = compiled.out_dir / "mlwright.lock.json"
    data = json.loads(lock.read_text())
    data["files"]["../../outside.txt"] = "0" * 64
    data["files"][str(tmp_path / "outside.txt")] = "0" * 64
    lock.write_text(json.dumps(data))
    stale = stale_files(compiled.files, compiled.out_dir)
    assert stale == ["mlwright.lock.json"]
    assert "hunter2" not in unified_diff(compiled.files, compiled.out_dir, stale)
    write_tree(compiled.files, compiled.out_dir)
    assert (tmp_path / "outside.txt").is_file(), "a file the lock names outside the build is never deleted"


@pytest.mark.parametrize(
    ("override", "stages"),
    [
        ("monitoring.covariate.bins=20", "register, package"),  # the bundle's reference profile is built with it
        ("monitoring.concept.metric=roc_auc", "register, package"),  # so is the concept baseline
        ("features.store.retrieval_p99_ms=80", "none"),  # documented in ml_spec.md, read by no stage
    ],
)
def test_diff_names_the_stages_that_read_a_key(churn: Path, override: str, stages: str) -> None:
    from typer.testing import CliRunner

    from mlwright.cli import app

    assert CliRunner().invoke(app, ["compile", str(churn)]).exit_code == 0
    out = CliRunner().invoke(app, ["diff", str(churn), override])
    assert out.exit_code == 0, out.output
    assert f"Stages re-run: {stages}\n" in out.output, out.output


def test_a_moved_online_store_is_declared_where_it_is(churn: Path) -> None:
    from mlwright.compiler import compile_system

    compiled = compile_system(churn, ["features.store.online.path=features/store.db"], Path("build/churn"))
    dvc = compiled.files["dvc.yaml"].decode()
    assert "features/store.db" in dvc and "online.sqlite" not in dvc
