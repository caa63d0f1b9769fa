"""Read a YAML file a person wrote, refusing what PyYAML would silently accept or blow up on.

PyYAML's `safe_load` keeps the last of two equal keys (a service defined twice loses the first
without a word), expands aliases without limit once the data is walked (a few lines of `&a`/`*a`
become gigabytes), and recurses once per nesting level. Each of these is refused here with the
line it happened on, before any of the data is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_FILE_BYTES = 1024 * 1024
"""A configuration is a few kilobytes; a larger file is a mistake (or an attack), not a config."""

MAX_EXPANDED_NODES = 100_000
"""Values the document holds once every alias is followed: far above any real configuration."""

_MERGE_TAG = "tag:yaml.org,2002:merge"

try:  # libyaml's parser, which PyYAML's wheels carry: several times faster than pure Python
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - a PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


@dataclass(frozen=True)
class YamlProblem(Exception):
    """The file cannot be used; `text` says why and where, in words for the config's author."""

    text: str

    def __str__(self) -> str:
        return self.text


def _line(node: Node) -> int:
    return node.start_mark.line + 1


class _StrictLoader(_SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (merge keys `<<:` stay allowed)."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                earlier = first_seen.get(key)
                first_seen.setdefault(key, _line(key_node))
            except TypeError:
                continue  # an unhashable key: PyYAML itself explains it below
            if earlier is not None:
                raise YamlProblem(
                    f"line {_line(key_node)}: key {key!r} is given twice in the same mapping "
                    f"(first on line {earlier}); keep one"
                )
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _expanded_size(root: Node) -> int:
    """How many nodes the document has once every alias is followed (a shared node counts once
    per use, as it will when the data is walked); refuses an alias that contains itself."""
    sizes: dict[int, int] = {}
    in_progress: set[int] = set()
    aliases_followed = False

    def size(node: Node) -> int:
        nonlocal aliases_followed
        key = id(node)
        if key in sizes:
            aliases_followed = True  # a node met again is one an alias points to
            return sizes[key]
        if key in in_progress:
            raise YamlProblem(f"line {_line(node)}: an alias refers to itself (a recursive value)")
        if isinstance(node, ScalarNode):
            return 1
        in_progress.add(key)
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_EXPANDED_NODES:
                raise _too_many_values(node, aliases_followed=aliases_followed)
        in_progress.discard(key)
        sizes[key] = total
        return total

    return size(root)


def _too_many_values(node: Node, *, aliases_followed: bool) -> YamlProblem:
    if aliases_followed:
        return YamlProblem(
            f"line {_line(node)}: the document expands to more than {MAX_EXPANDED_NODES:,} "
            "values once its aliases are followed; write the values out or use fewer aliases"
        )
    return YamlProblem(
        f"line {_line(node)}: the document has more than {MAX_EXPANDED_NODES:,} values; a "
        "configuration has a few hundred: is this the right file?"
    )


def _mark_text(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    problem = getattr(error, "problem", None) or str(error)
    return f"{where}not valid YAML ({problem})"


def _too_large() -> YamlProblem:
    return YamlProblem(
        f"the file is larger than {MAX_FILE_BYTES // 1024} KiB; a configuration is a few "
        "kilobytes — is this the right file?"
    )


def parse_yaml(text: str) -> Any:
    """Parse one YAML document with the checks above; raise YamlProblem on any of them."""
    if len(text.encode("utf-8", errors="replace")) > MAX_FILE_BYTES:
        raise _too_large()
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    except yaml.YAMLError as error:
        raise YamlProblem(_mark_text(error)) from None
    except RecursionError:
        raise YamlProblem("the document is nested too deeply to be a configuration") from None
    finally:
        loader.dispose()


def read_yaml(path: Path) -> Any:
    """Read and parse `path`; the size is checked before the file is read whole."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise _too_large()
    return parse_yaml(path.read_text(encoding="utf-8"))
