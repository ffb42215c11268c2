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
        "sqlite, redis (did you mean 'sqlite'?)"
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
