"""Turn pydantic's validation errors into ``file:line`` problems a person can act on."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from koumbit_infra.inventory.problems import Problem
from koumbit_infra.inventory.text import shown
from koumbit_infra.inventory.yamlsource import YamlDocument, YamlPath


def problems_from(
    error: ValidationError, doc: YamlDocument, model: type[BaseModel]
) -> list[Problem]:
    """One problem per pydantic error, at the line of the offending key or item."""
    out = []
    for err in error.errors(include_url=False):
        loc: YamlPath = tuple(err["loc"])
        out.append(Problem(doc.path, doc.line_of(loc), *_describe(err, loc, model)))
    return out


def _describe(err: Any, loc: YamlPath, root: type[BaseModel]) -> tuple[str, str]:
    kind = err["type"]
    field = ".".join(str(x) for x in loc) or "file"
    msg = err["msg"].removeprefix("Value error, ")
    msg = msg[:1].lower() + msg[1:]
    if kind == "extra_forbidden":
        known = _known_keys(root, loc[:-1])
        hint = f"remove it or fix its spelling (known keys: {', '.join(known)})" if known else (
            "remove it"
        )
        return f"unknown key '{loc[-1]}'", hint
    if kind == "missing":
        description = _description(root, loc)
        what = f" ({description})" if description else ""
        return f"missing required key '{field}'", f"add '{loc[-1]}'{what}"
    if kind == "php_not_shipped":
        return f"{field}: {msg}", (
            "list the PHP of the server's release, or set debian: to the release it really runs"
        )
    if kind in {"enum", "literal_error"}:
        return f"{field}: {msg}", "use one of the values listed"
    if kind.startswith("date_"):
        return f"{field}: {msg} (got '{shown(err.get('input'))}')", (
            "give a date that exists, written YYYY-MM-DD"
        )
    if kind.endswith(("_type", "_parsing")):
        return f"{field}: {msg} (got '{shown(err.get('input'))}')", (
            "give a value of the expected type"
        )
    return f"{field}: {msg}", "fix the value"


def _model_at(root: type[BaseModel], loc: YamlPath) -> type[BaseModel] | None:
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        model = inner_annotation(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def inner_annotation(annotation: Any) -> Any:
    """The model inside ``X | None``, ``tuple[X, ...]`` and similar wrappers."""
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType, tuple, list, frozenset):
            args = [a for a in typing.get_args(annotation) if a not in (type(None), Ellipsis)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = models[0] if models else (args[0] if args else None)
            continue
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        return annotation


def _known_keys(root: type[BaseModel], loc: YamlPath) -> list[str]:
    model = _model_at(root, loc)
    return sorted(model.model_fields) if model else []


def _description(root: type[BaseModel], loc: YamlPath) -> str:
    model = _model_at(root, loc[:-1])
    if model is None:
        return ""
    field = model.model_fields.get(str(loc[-1]))
    return (field.description or "").rstrip(".") if field else ""
