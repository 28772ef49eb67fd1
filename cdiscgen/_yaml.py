"""YAML loading with a SafeLoader subclass that remembers the line of every mapping key and list item.

Spec errors must name file, line and key; plain dicts forget where they came from, so mappings load
as `LineDict` and sequences as `LineList`, both plain containers with a `line_of()` lookup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class YamlSyntaxError(ValueError):
    """A YAML file that does not parse; the message names file and line."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: YAML syntax error: {problem}")


class LineDict(dict):
    """A dict that knows the 1-based line of itself and of each of its keys."""

    line: int = 0
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A list that knows the 1-based line of itself and of each item."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        if 0 <= index < len(self.item_lines):
            return self.item_lines[index]
        return self.line


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """SafeLoader (libyaml's parser when present) that builds LineDict/LineList. Only safe tags are constructed."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:  # type: ignore[override]
        self.flatten_mapping(node)
        mapping = LineDict()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found an unhashable key",
                    key_node.start_mark,
                ) from None
            if key in mapping.key_lines:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            mapping[key] = self.construct_object(value_node, deep=True)
            mapping.key_lines[key] = key_node.start_mark.line + 1
        return mapping

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:  # type: ignore[override]
        items = LineList(self.construct_object(child, deep=True) for child in node.value)
        items.line = node.start_mark.line + 1
        items.item_lines = [child.start_mark.line + 1 for child in node.value]
        return items


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _LineLoader.construct_sequence)


_PLAIN_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_plain(stream: Any) -> Any:
    """yaml.safe_load by libyaml's parser when present (the pure-Python one takes a quarter of a second
    for the bundled rules files): plain dicts and lists, no line numbers, for files the package ships or
    reads whole (rules, simulator settings)."""
    return yaml.load(stream, Loader=_PLAIN_LOADER)  # noqa: S506 - a safe loader, C or Python


# A spec is a few thousand nodes; aliases that expand it past these limits are an attack or a mistake
# (the "billion laughs"), refused before anything walks the expanded tree.
MAX_EXPANDED_NODES = 1_000_000
MAX_DEPTH = 200


def plain(node: Any) -> Any:
    """A loaded tree as plain dicts and lists (without line numbers): what a writer or a pickle takes."""
    if isinstance(node, dict):
        return {k: plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def load_yaml(path: Path) -> Any:
    """Load one YAML document safely, keeping line numbers; syntax errors name file and line. A file that
    is not UTF-8, nests deeper than MAX_DEPTH or expands through aliases past MAX_EXPANDED_NODES is refused
    with a YamlSyntaxError naming it."""
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise YamlSyntaxError(
            path,
            line,
            f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}; save the file as UTF-8",
        ) from None
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(path, node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        if "maximum nesting depth" in problem:  # libyaml's own depth limit
            problem = f"nested deeper than the parser allows ({problem})"
        raise YamlSyntaxError(path, line, problem) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(path, None, str(exc)) from None
    except RecursionError:
        raise YamlSyntaxError(path, None, f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def _check_expansion(path: Path, root: yaml.Node) -> None:
    """Refuse a document nested deeper than MAX_DEPTH or whose aliases expand it past MAX_EXPANDED_NODES
    (sizes are counted once per node, so the check itself stays linear in the file)."""
    size: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if depth > MAX_DEPTH:
            raise YamlSyntaxError(path, node.start_mark.line + 1, f"nested deeper than {MAX_DEPTH} levels")
        children = _children(node)
        if done:
            size[id(node)] = 1 + sum(size[id(c)] for c in children)
            if size[id(node)] > MAX_EXPANDED_NODES:
                raise YamlSyntaxError(
                    path,
                    node.start_mark.line + 1,
                    f"aliases expand this document past {MAX_EXPANDED_NODES:,} values; refused",
                )
            continue
        if id(node) in size:
            continue
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
