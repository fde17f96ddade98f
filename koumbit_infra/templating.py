"""The project's jinja2 templates: where they live and how they are rendered.

Deploys (through pyinfra's ``files.template``) and unit tests render with the
same settings as pyinfra itself: undefined names are errors, trailing
newlines are kept, and ``{% include %}`` resolves under ``templates/``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


def template_path(name: str) -> str:
    """Absolute path of ``templates/<name>`` (what pyinfra's ``files.template`` takes)."""
    path = TEMPLATE_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"no template {name} under {TEMPLATE_DIR}")
    return str(path)


def jinja_env_kwargs() -> dict[str, Any]:
    """Extra environment arguments for ``files.template``: includes resolve under templates/."""
    return {"loader": FileSystemLoader(str(TEMPLATE_DIR))}


@cache
def _environment() -> Environment:
    """One environment per process: it caches compiled templates (reloaded if a file changes)."""
    # Configuration files, not HTML: escaping would corrupt them (pyinfra does not escape).
    return Environment(undefined=StrictUndefined, keep_trailing_newline=True,  # noqa: S701
                       **jinja_env_kwargs())


def render(name: str, **context: Any) -> str:
    """Render ``templates/<name>`` exactly as a deploy would."""
    return _environment().get_template(name).render(**context)
