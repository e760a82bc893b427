"""Which fields a query selects directly under a field, read once from the raw AST."""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionSetNode,
)


def selected_field_names(info: Any) -> frozenset[str]:
    """Return the names of the fields selected one level below the current field.

    Walks fragments and inline fragments without converting the whole subtree, which is
    what ``strawberry.Info.selected_fields`` would do at a higher cost. Takes strawberry's
    ``Info`` (whose graphql-core info is private) or graphql-core's own.
    """
    info = getattr(info, "_raw_info", info)
    names: set[str] = set()
    for node in info.field_nodes:
        _collect(node.selection_set, info, names, visited=set())
    return frozenset(names)


def _collect(
    selection_set: SelectionSetNode | None,
    info: GraphQLResolveInfo,
    names: set[str],
    visited: set[str],
) -> None:
    if selection_set is None:
        return
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.add(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            _collect(selection.selection_set, info, names, visited)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = info.fragments.get(name)
            if fragment is not None and name not in visited:
                visited.add(name)
                _collect(fragment.selection_set, info, names, visited)
