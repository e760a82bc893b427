"""A query's cost (ACCESS.md "Limits"): the source systems its reads need, before any runs.

Each read a query asks for costs the number of kinds of source system it needs:

- a ``passport`` or ``emergency`` read costs the register (always asked) plus each kind of
  system its selected sections read (``gateway.resolvers.reads.source_kinds``: the regional
  EHRs count once, however many regions are configured, then the laboratory, the drug
  provision system and the ambulance dispatch); a full passport costs 5, an emergency read 3;
- a stats view (``dispensations``, ``prevalence``, ``ambulanceCalls``) costs 1, the one
  kind of system that counts it;
- ``dependants`` costs 1, the register (the caller's RelatedPersons and their children);
- anything else (``me``, ``restrictSection``, ``__typename``) costs nothing.

Reads are counted as graphql-core will run them: fields of the same response key merge into
one read, so only aliases (or distinct fields) make more. The cost depends on the document
alone (every ``@skip``/``@include`` counted as included), so it is computed once per document
with the other limits, after them: each read's fields are collected once (each fragment once
per collection, as graphql-core does), and the alias limit bounds how many reads there are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)

from gateway.auth.policy import EMERGENCY_FIELDS, PASSPORT_FIELDS, requested_sections
from gateway.config import SourceKind
from gateway.resolvers.reads import source_kinds

# The fields of ``Query`` that read a person's record, with the field-to-section map of each.
PERSON_READS = {"passport": PASSPORT_FIELDS, "emergency": EMERGENCY_FIELDS}
# The views of ``Query.stats``, with the kind of system that counts each.
STATS_VIEWS: dict[str, frozenset[SourceKind]] = {
    "dispensations": frozenset({SourceKind.DPS}),
    "prevalence": frozenset({SourceKind.EHR}),
    "ambulanceCalls": frozenset({SourceKind.AMBULANCE}),
}

# ``dependants`` asks the register (the caller's RelatedPersons and their children).
DEPENDANTS_READS = frozenset({SourceKind.REGISTER})

Fragments = Mapping[str, FragmentDefinitionNode]


def query_cost(operation: OperationDefinitionNode, fragments: Fragments) -> int:
    """The cost of ``operation``: the source systems of every read it asks for."""
    if operation.operation is not OperationType.QUERY:
        return 0
    cost = 0
    for nodes in _collect([operation.selection_set], fragments).values():
        name = nodes[0].name.value
        below = [node.selection_set for node in nodes if node.selection_set is not None]
        if name in PERSON_READS:
            selected = _collect(below, fragments)
            sections = requested_sections(
                (group[0].name.value for group in selected.values()), PERSON_READS[name]
            )
            cost += len(source_kinds(sections))
        elif name == "dependants":
            cost += len(DEPENDANTS_READS)
        elif name == "stats":
            for views in _collect(below, fragments).values():
                cost += len(STATS_VIEWS.get(views[0].name.value, ()))
    return cost


def _collect(
    selection_sets: Iterable[SelectionSetNode], fragments: Fragments
) -> dict[str, list[FieldNode]]:
    """The fields of these selection sets by response key, as graphql-core collects them:
    through inline fragments and spreads, each fragment once (no recursion, no repeat)."""
    groups: dict[str, list[FieldNode]] = {}
    visited: set[str] = set()
    pending = list(selection_sets)
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                groups.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in visited:
                    visited.add(name)
                    pending.append(fragment.selection_set)
    return groups
