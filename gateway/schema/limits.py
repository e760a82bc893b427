"""The limits a query document must keep before it is validated further or run.

Depth, aliases, fields and repeated fields (``[server] max_depth``, ``max_aliases``,
``max_fields``, ``max_repeated_fields``) are measured with every fragment expanded, in time
linear in the document (``gateway.schema.measures``); then the query cost (``[limits]
max_query_cost``, ``gateway.schema.cost``). Each operation of a document must keep every
limit, since any of them may be run. A document beyond one is refused with QUERY_TOO_COMPLEX
before graphql-core's own rules see it (one is quadratic in repeated fields), and before any
resolver.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import DocumentNode, FragmentDefinitionNode, GraphQLError, OperationDefinitionNode

from gateway.config import LimitsSettings, ServerSettings
from gateway.errors import QUERY_TOO_COMPLEX
from gateway.schema.cost import Fragments, query_cost
from gateway.schema.measures import Measures, measure_operations

_SHOWN_UP_TO = 10**9  # larger counts (a fragment fan-out reaches 2^29 and more) are not spelt out


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """The limits of one schema, checked once per document."""

    max_depth: int
    max_aliases: int
    max_fields: int
    max_repeated: int
    max_cost: int

    @classmethod
    def of(cls, server: ServerSettings, limits: LimitsSettings) -> DocumentLimits:
        """The limits configured in ``[server]`` and ``[limits]``."""
        return cls(
            max_depth=server.max_depth,
            max_aliases=server.max_aliases,
            max_fields=server.max_fields,
            max_repeated=server.max_repeated_fields,
            max_cost=limits.max_query_cost,
        )

    def check(self, document: DocumentNode) -> list[GraphQLError]:
        """One QUERY_TOO_COMPLEX error per operation beyond a limit; none when all keep them."""
        fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        errors = []
        for operation, measures in measure_operations(document).items():
            problem = self._problem(operation, measures, fragments)
            if problem is not None:
                errors.append(_too_complex(problem, operation))
        return errors

    def _problem(
        self, operation: OperationDefinitionNode, measures: Measures, fragments: Fragments
    ) -> str | None:
        """What the operation exceeds first (shape, then cost), or None."""
        name = f"'{operation.name.value}'" if operation.name else "the operation"
        if measures.depth > self.max_depth:
            return f"{name} is nested {measures.depth} deep; at most {self.max_depth} allowed"
        if measures.aliases > self.max_aliases:
            return f"{name} has {_count(measures.aliases)} aliases; at most {self.max_aliases}"
        if measures.fields > self.max_fields:
            return (
                f"{name} selects {_count(measures.fields)} fields once its fragments are "
                f"expanded; at most {self.max_fields} allowed"
            )
        if measures.repeated > self.max_repeated:
            return (
                f"{name} repeats a field already selected at its level "
                f"{_count(measures.repeated)} times; at most {self.max_repeated} allowed"
            )
        cost = query_cost(operation, fragments)
        if cost > self.max_cost:
            return (
                f"{name} costs {cost}, over the limit of {self.max_cost} (each passport, "
                "emergency record or stats view costs the source systems it needs)"
            )
        return None


def _count(value: int) -> str:
    return str(value) if value < _SHOWN_UP_TO else f"more than {_SHOWN_UP_TO}"


def _too_complex(message: str, operation: OperationDefinitionNode) -> GraphQLError:
    return GraphQLError(message, nodes=[operation], extensions={"code": QUERY_TOO_COMPLEX})
