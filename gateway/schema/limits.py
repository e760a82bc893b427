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
from gateway.errors import QUERY_TOO_COMPLEX, QueryTooComplex
from gateway.language import Phrase
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
    ) -> QueryTooComplex | None:
        """What the operation exceeds first (shape, then cost), or None."""
        name: object = Phrase.of("the operation")
        if operation.name:
            name = f"'{operation.name.value}'"
        if measures.depth > self.max_depth:
            return QueryTooComplex(
                "{operation} is nested {depth} deep; at most {max} allowed",
                operation=name,
                depth=measures.depth,
                max=self.max_depth,
            )
        if measures.aliases > self.max_aliases:
            return QueryTooComplex(
                "{operation} has {count} aliases; at most {max}",
                operation=name,
                count=_count(measures.aliases),
                max=self.max_aliases,
            )
        if measures.fields > self.max_fields:
            return QueryTooComplex(
                "{operation} selects {count} fields once its fragments are expanded; "
                "at most {max} allowed",
                operation=name,
                count=_count(measures.fields),
                max=self.max_fields,
            )
        if measures.repeated > self.max_repeated:
            return QueryTooComplex(
                "{operation} repeats a field already selected at its level {count} times; "
                "at most {max} allowed",
                operation=name,
                count=_count(measures.repeated),
                max=self.max_repeated,
            )
        cost = query_cost(operation, fragments)
        if cost > self.max_cost:
            return QueryTooComplex(
                "{operation} costs {cost}, over the limit of {max} (each passport, emergency "
                "record or stats view costs the source systems it needs)",
                operation=name,
                cost=cost,
                max=self.max_cost,
            )
        return None


def _count(value: int) -> object:
    if value < _SHOWN_UP_TO:
        return value
    return Phrase.of("more than {count}", count=_SHOWN_UP_TO)


def _too_complex(error: QueryTooComplex, operation: OperationDefinitionNode) -> GraphQLError:
    """The error of the document (English; each request says it in its own language)."""
    return GraphQLError(
        error.message,
        nodes=[operation],
        original_error=error,
        extensions={"code": QUERY_TOO_COMPLEX},
    )
