"""Read YAML with the line of every key and item, so errors can name ``file:line``.

PyYAML's C loader composes the node tree (fast even for thousands of files);
we turn nodes into plain Python data and keep, for each path of keys and
indexes, the line where it starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

try:  # the C loader is 10x faster; fall back if PyYAML was built without libyaml
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

from koumbit_infra.inventory.problems import Problem

YamlPath = tuple[str | int, ...]

# Far above any real inventory file, far below what would stall the loader: a YAML
# "billion laughs" (aliases of aliases) expands past the node limit within microseconds.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_NODES = 100_000


@dataclass
class YamlDocument:
    """The data of one YAML file and the line (1-based) of each path in it."""

    path: Path
    data: Any
    lines: dict[YamlPath, int] = field(default_factory=dict)

    def line_of(self, loc: YamlPath) -> int:
        """Line of ``loc``, or of its nearest parent that exists (a missing key)."""
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)


class YamlSyntaxError(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


_CONSTRUCTOR = _Loader("")


def load_yaml(path: Path, display_path: Path | None = None) -> YamlDocument:
    """Parse ``path``; a syntax error raises :class:`YamlSyntaxError` naming the line."""
    shown = display_path or path
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise YamlSyntaxError(Problem(
                shown, 1, f"file is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB",
                "split it, or remove what does not belong in an inventory",
            ))
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlSyntaxError(
            Problem(shown, 1, f"cannot read file ({exc})", "make it a readable UTF-8 text file")
        ) from exc
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = exc.problem or "invalid YAML"
        raise YamlSyntaxError(
            Problem(shown, line, f"YAML syntax error: {what}", "fix the YAML syntax at this line")
        ) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(
            Problem(shown, 1, f"YAML error: {exc}", "fix the YAML syntax")
        ) from exc
    doc = YamlDocument(path=shown, data=None)
    if node is None:
        doc.lines[()] = 1
        return doc
    # The constructor caches what it built; a fresh cache per file keeps nothing alive.
    _CONSTRUCTOR.constructed_objects.clear()
    _CONSTRUCTOR.recursive_objects.clear()
    try:
        doc.data = _convert(node, (), doc.lines)
    except _DuplicateKey as dup:
        raise YamlSyntaxError(
            Problem(shown, dup.line, f"key '{dup.key}' appears twice", "keep only one of them")
        ) from dup
    except _TooManyNodes as many:
        raise YamlSyntaxError(
            Problem(shown, many.line, f"file expands to more than {MAX_NODES} values"
                    " (aliases of aliases?)", "write the values out, without nested aliases")
        ) from many
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        what = getattr(exc, "problem", None) or str(exc)
        raise YamlSyntaxError(
            Problem(shown, line, f"YAML value error: {what}", "fix the value at this line")
        ) from exc
    return doc


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int) -> None:
        self.key, self.line = key, line


class _TooManyNodes(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _convert(node: yaml.Node, loc: YamlPath, lines: dict[YamlPath, int]) -> Any:
    lines[loc] = node.start_mark.line + 1
    if len(lines) > MAX_NODES:
        raise _TooManyNodes(lines[loc])
    if isinstance(node, yaml.MappingNode):
        _CONSTRUCTOR.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _key(key_node)
            if key in out:
                raise _DuplicateKey(str(key), key_node.start_mark.line + 1)
            child = (*loc, key)
            out[key] = _convert(value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*loc, i), lines) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    try:
        return _CONSTRUCTOR.construct_object(node, deep=True)
    except (ValueError, OverflowError):
        # An impossible date (2025-02-30) looks like a timestamp to YAML, which then fails to
        # build it. Keep the text: the model says, at this line, that it is not a real date.
        _CONSTRUCTOR.recursive_objects.pop(node, None)
        return node.value


def _key(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):  # a list or mapping as a key: no model has one
        raise yaml.MarkedYAMLError(problem="a key must be a plain word",
                                   problem_mark=node.start_mark)
    return _scalar(node)
