"""How big each operation of a document is once its fragments are expanded, in linear time.

A fragment may spread another fragment several times, so the expanded query can be
exponentially larger than its text (``fragment F1 on Me { ...F0 ...F0 }`` ... up to F29 is
2^29 fields in 305 tokens). Walking every spread again, as strawberry's depth and alias
limiters do, takes as long as the expansion. Here each definition is walked once: its own
fields, and which fragments it spreads at which nesting level; then each fragment's measures
are combined from those of the fragments it spreads, each computed once (memoised), in an
order found without recursion, so a long chain of fragments cannot exhaust the stack.

Besides depth, aliases and fields, the fields that repeat a response key at their level are
counted (``{ me { role } me { role } }`` repeats one): graphql-core's rule that checks that
such fields can be merged compares them pairwise, so its time grows with their square. A
fragment's top-level response keys are merged into each level that spreads it, once per
level (their number is bounded by the distinct keys there, not by the expansion).

A spread that closes a fragment cycle adds nothing (graphql-core's ``NoFragmentCycles``
reports the cycle), and neither does a spread of an unknown fragment (``KnownFragmentNames``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)


@dataclass(frozen=True, slots=True)
class Measures:
    """The size of one operation (or fragment) with every fragment spread expanded."""

    # Deepest field nesting below a root field (the root field is 0, as strawberry counts);
    # the inside of introspection fields (``__schema``, ``__type``) is not counted.
    depth: int
    aliases: int  # aliased fields, each spread of a fragment counting its aliases again
    fields: int  # field selections, each spread of a fragment counting its fields again
    repeated: int  # fields whose response key another field at the same level already has


@dataclass(slots=True)
class _Level:
    """One selection set: its fields' response keys (through inline fragments), and the
    fragments spread there, whose top-level keys join it."""

    keys: Counter[str] = field(default_factory=Counter)
    spreads: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class _Own:
    """What one definition holds itself, and which fragments it spreads, how often, how deep."""

    depth: int = 0
    aliases: int = 0
    fields: int = 0
    spreads: Counter[str] = field(default_factory=Counter)  # name -> times spread
    # name -> deepest level of a spread that counts for depth (none inside introspection)
    spread_levels: dict[str, int] = field(default_factory=dict)
    levels: list[_Level] = field(default_factory=list)  # the definition's own first


@dataclass(frozen=True, slots=True)
class _Fragment:
    """A fragment's measures (its top level's repeats left to where it is spread) and the
    response keys it brings to that level."""

    measures: Measures
    keys: Counter[str]


def measure_operations(document: DocumentNode) -> dict[OperationDefinitionNode, Measures]:
    """The measures of every operation of ``document``, fragments expanded."""
    fragments: dict[str, _Own] = {}
    operations: dict[OperationDefinitionNode, _Own] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            fragments.setdefault(definition.name.value, _own(definition.selection_set))
        elif isinstance(definition, OperationDefinitionNode):
            operations[definition] = _own(definition.selection_set)
    measured = _measure_fragments(fragments)
    return {node: _combine(own, measured, True).measures for node, own in operations.items()}


def _own(selection_set: SelectionSetNode) -> _Own:
    """Walk one definition (its nesting is bounded by the parser), not into its spreads."""
    own = _Own()
    own.levels.append(_Level())
    _walk(selection_set, 0, True, own, own.levels[0])
    return own


def _walk(
    selection_set: SelectionSetNode, level: int, for_depth: bool, own: _Own, here: _Level
) -> None:
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            own.fields += 1
            if selection.alias is not None:
                own.aliases += 1
            here.keys[(selection.alias or selection.name).value] += 1
            if for_depth:
                own.depth = max(own.depth, level)
            if selection.selection_set is not None:
                below = _Level()
                own.levels.append(below)
                introspection = selection.name.value.startswith("__")
                deeper = for_depth and not introspection
                _walk(selection.selection_set, level + 1, deeper, own, below)
        elif isinstance(selection, InlineFragmentNode):
            _walk(selection.selection_set, level, for_depth, own, here)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            own.spreads[name] += 1
            here.spreads[name] += 1
            if for_depth:
                own.spread_levels[name] = max(own.spread_levels.get(name, 0), level)


def _measure_fragments(fragments: dict[str, _Own]) -> dict[str, _Fragment]:
    """Each fragment measured once, after those it spreads (depth-first, no recursion); a
    spread back onto the path being walked is a cycle and counts as nothing."""
    measured: dict[str, _Fragment] = {}
    for root in fragments:
        if root in measured:
            continue
        path = [(root, iter(fragments[root].spreads))]
        on_path = {root}
        while path:
            name, spreads = path[-1]
            for spread in spreads:
                if spread in fragments and spread not in measured and spread not in on_path:
                    path.append((spread, iter(fragments[spread].spreads)))
                    on_path.add(spread)
                    break
            else:
                path.pop()
                on_path.discard(name)
                measured[name] = _combine(fragments[name], measured, False)
    return measured


def _combine(own: _Own, measured: dict[str, _Fragment], whole: bool) -> _Fragment:
    """A definition's measures from its own and those of the fragments it spreads; its top
    level's repeats are counted only for a ``whole`` operation (a fragment's count where it
    is spread)."""
    depth, aliases, fields, repeated = own.depth, own.aliases, own.fields, 0
    for name, times in own.spreads.items():
        spread = measured.get(name)
        if spread is None:  # unknown, or closing a cycle
            continue
        aliases += times * spread.measures.aliases
        fields += times * spread.measures.fields
        repeated += times * spread.measures.repeated
        level = own.spread_levels.get(name)
        if level is not None:
            depth = max(depth, level + spread.measures.depth)
    top = Counter[str]()
    for index, level_keys in enumerate(own.levels):
        keys = _keys(level_keys, measured)
        if index == 0:
            top = keys
        if index > 0 or whole:
            repeated += sum(keys.values()) - len(keys)
    return _Fragment(Measures(depth, aliases, fields, repeated), top)


def _keys(level: _Level, measured: dict[str, _Fragment]) -> Counter[str]:
    """The response keys at one level, with those of the fragments spread there."""
    keys = Counter(level.keys)
    for name, times in level.spreads.items():
        spread = measured.get(name)
        if spread is not None:
            for key, count in spread.keys.items():
                keys[key] += times * count
    return keys
