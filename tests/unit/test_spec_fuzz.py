"""Spec fuzzing: 1,000 generated specs per run, each compiled or refused cleanly.

Each example takes the reference churn spec and replaces values at random key
paths with generated YAML (odd scalars, nesting, references, paths, control
characters), or splices random text into the file. Whatever comes in, `compile`
must either succeed or raise SpecError whose every line is positioned
(`file:line:col: error: key: message`, hints indented): no other exception, nothing
written for a refused spec, and no example slower than 5 s. Derandomized, so a run
in CI is the same run as on a laptop.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from mlwright.compiler import SpecError, compile_system

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(r"^(\S.*?):(\d+):(\d+): error: .+$|^  hint: .*$")

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            ".",
            "..",
            "../../etc/passwd",
            "/abs/path",
            "~/x",
            "s3://bucket/key",
            "${oc.env:HOME}",
            "${oc.env:X,http://u:p@h/}",
            "${spec.target}",
            "${nope.nope}",
            "${",
            "{{ 7*7 }}",
            "a\nb",
            "a\x00b",
            "0d",
            "90d",
            "5%",
            "150%",
            "1e999",
            "NaN",
            "yes",
            "no",
            "sqlit3",
            "python:3.11\nRUN x",
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(min_size=1, max_size=12), inner, max_size=4)
    ),
    max_leaves=10,
)


def leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [path] + [p for k, v in value.items() for p in leaf_paths(v, (*path, k))]
    if isinstance(value, list):
        return [path] + [p for i, v in enumerate(value) for p in leaf_paths(v, (*path, i))]
    return [path]


BASE_TEXT = (ROOT / "pipelines" / "churn" / "system.yaml").read_text()
BASE = yaml.safe_load(BASE_TEXT)
PATHS = [p for p in leaf_paths(BASE) if p]


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict) and head in doc:
        return {**doc, head: replaced(doc[head], rest, value)}
    if isinstance(doc, list) and isinstance(head, int) and head < len(doc):
        out = list(doc)
        out[head] = replaced(out[head], rest, value)
        return out
    return doc  # an earlier replacement changed the shape here: leave it


@st.composite
def specs(draw: Any) -> str:
    if draw(st.integers(0, 4)) == 0:  # splice raw text somewhere into the file
        at = draw(st.integers(0, len(BASE_TEXT)))
        junk = draw(st.text(alphabet=st.sampled_from(list(" \t\n:-[]{}&*!|>'\"#%@`,?$0aZ\\")), max_size=12))
        return BASE_TEXT[:at] + junk + BASE_TEXT[at:]
    doc = BASE
    for _ in range(draw(st.integers(1, 3))):
        doc = replaced(doc, draw(st.sampled_from(PATHS)), draw(VALUES))
    return str(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(ROOT / "pipelines" / "churn" / "profile", root / "profile")
    (root / "data" / "payments").mkdir(parents=True)
    (root / "data" / "events.csv").write_text("x\n")
    return root


@settings(
    max_examples=int(os.environ.get("MLWRIGHT_FUZZ_EXAMPLES", "1000")),  # `make soak`: many more
    deadline=None,
    derandomize=not os.environ.get("MLWRIGHT_FUZZ_EXAMPLES"),  # soak runs explore new specs each time
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(text=specs())
def test_every_generated_spec_compiles_or_is_refused_with_positions(folder: Path, text: str) -> None:
    spec = folder / "system.yaml"
    spec.write_text(text, encoding="utf-8")
    out = folder / "out"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    try:
        compile_system(spec, [], out)
    except SpecError as exc:
        rendered = exc.render()
        assert rendered, "an empty refusal"
        bad = [line for line in rendered.splitlines() if not LINE.match(line)]
        assert not bad, f"unpositioned or multi-line diagnostic: {bad[:3]}\n--- spec ---\n{text[:2000]}"
        assert not out.exists() or not any(out.iterdir()), "a refused spec wrote files"
    assert time.perf_counter() - started < 5.0, "a compile took longer than 5 s"
