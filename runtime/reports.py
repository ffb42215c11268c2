"""Self-contained HTML reports (no network): Jinja2 templates with autoescaping."""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path
from typing import Any

from mlwright.runtime.atomic import write_text


@functools.cache
def _env() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    root = str(importlib.resources.files("mlwright.templates"))
    return Environment(
        loader=FileSystemLoader(root), undefined=StrictUndefined, autoescape=select_autoescape(["html", "j2"])
    )


def render_html(template: str, path: Path, **data: Any) -> None:
    write_text(path, _env().get_template(template).render(**data))
