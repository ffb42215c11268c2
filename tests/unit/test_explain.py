"""`mlwright explain`: a setting's value, where it was set, what it allows, which stages it reaches."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlwright.compiler import SpecError
from mlwright.compiler.explain import explain

from ..conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "pipelines" / "churn" / "system.yaml"


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_setting_from_a_profile_names_that_file_and_line(tmp_path: Path) -> None:
    e = explain(SPEC, "features.store.online.backend", ["profile=prod"], tmp_path / "b")
    profile = ROOT / "pipelines" / "churn" / "profile" / "prod.yaml"
    assert e.value == "redis"
    assert e.origin.endswith(f"profile/prod.yaml:{line_of(profile, 'backend: redis')}:16"), e.origin
    assert e.allowed == "'sqlite' | 'redis' | 'dynamodb'"
    assert e.changed == ("featurize", "register", "package")


def test_an_override_a_default_and_the_spec_file(tmp_path: Path) -> None:
    e = explain(SPEC, "training.seed", ["training.seed=7"], tmp_path / "b")
    assert e.value == 7 and e.origin == "the command line (<override>)" and e.changed == ("train", "register")
    e = explain(SPEC, "serving.canary.min_requests", [], tmp_path / "b")
    assert e.value == 100 and e.origin.startswith("not written") and e.allowed == "integer (>= 1)"
    e = explain(SPEC, "monitoring.covariate.bins", [], tmp_path / "b")
    assert e.origin.endswith(f"system.yaml:{line_of(SPEC, 'bins: 10')}:11")
    assert e.changed == ("register",) and e.rerun == ("register", "package")


def test_documentation_only_settings_reach_no_stage_and_say_so(tmp_path: Path) -> None:
    e = explain(SPEC, "spec.owner", [], tmp_path / "b")
    assert e.changed == () and e.rerun == () and "Documentation only" in e.meaning


def test_an_unknown_key_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="monitoring.covariate.binz: no such setting"):
        explain(SPEC, "monitoring.covariate.binz", [], tmp_path / "b")
    out = run_cli("explain", str(SPEC), "monitoring.covariate.bins", cwd=tmp_path)
    assert out.returncode == 0 and "read by register" in out.stdout and "re-runs register, package" in out.stdout
