"""The one YAML reader (vcrpy cassettes, YAML datasets): PyYAML's safe loader, with a
bound on alias expansion.

A YAML alias (`*a`) refers to an anchored node (`&a [...]`) without copying it, so a
1.5 KB file of nested aliases (the "billion laughs") describes billions of values.
PyYAML builds it with shared references, cheaply, but anything that walks the result
(json.dumps of a body, a copy, a comparison) expands it and grows memory without
bound. Before constructing anything, `load_yaml` adds up the size of the document with
every alias expanded (a node counts 1, a scalar also its length) and refuses it when
aliases add more than `ALIAS_EXPANSION_LIMIT` to what the file itself holds, or refer
to a node they are inside of (a recursive document). A document without aliases is
never refused, and a few shared values stay far below the bound.
"""

from __future__ import annotations

from typing import Any

#: How much aliases may add to a document, in nodes plus scalar characters.
ALIAS_EXPANSION_LIMIT = 100_000


def load_yaml(source: str | bytes, *, fast: bool = True) -> tuple[Any, Any]:
    """The data of a single-document YAML text and its root node (None when empty).

    `fast` uses libyaml's parser when PyYAML was built with it. Raises `yaml.YAMLError`
    (with the position of the problem) for invalid YAML, a second document, or aliases
    past the bound.
    """
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader) if fast else yaml.SafeLoader
    loader = loader_class(source)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        check_alias_expansion(node)
        return loader.construct_document(node), node
    finally:
        loader.dispose()


def check_alias_expansion(root: Any) -> None:
    """Refuse a composed YAML node graph whose aliases expand past the bound, or loop."""
    import yaml

    expanded: dict[int, int] = {}  # id(node) -> size with every alias below it expanded
    own = 0  # the size of the distinct nodes: what the file itself holds
    open_nodes: set[int] = set()  # entered, not yet finished: the current path from the root
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if key in expanded:
            continue
        children = _children(node)
        if finished:
            weight = 1 + (len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
            own += weight
            expanded[key] = weight + sum(expanded[id(child)] for child in children)
            open_nodes.discard(key)
            if expanded[key] - own > ALIAS_EXPANSION_LIMIT:
                raise _refusal(
                    node,
                    f"aliases in this YAML expand it by more than {ALIAS_EXPANSION_LIMIT:,} "
                    "nodes and characters (an alias bomb?); write the values out",
                )
            continue
        if key in open_nodes:
            raise _refusal(
                node,
                "an alias refers to a node it is inside of (a recursive "
                "document); write the values out",
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(children))


def _children(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _refusal(node: Any, problem: str) -> Exception:
    from yaml.error import MarkedYAMLError

    return MarkedYAMLError(problem=problem, problem_mark=node.start_mark)
