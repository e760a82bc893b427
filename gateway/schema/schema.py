"""The served schema: the contract's types, our limits, and nothing per field.

Parsing and validation are cached (same document, same work skipped); depth, alias and token
limits reject hostile documents before any resolver runs; introspection is off unless
configured. No extension runs per field.
"""

from __future__ import annotations

from pathlib import Path

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from gateway.config import ServerSettings
from gateway.contract.scalars import IIN, IIN_SCALAR
from gateway.schema.documents import CachedDocuments, DocumentStore
from gateway.schema.execution import PlainDataExecutionContext
from gateway.schema.query import Mutation, Query

SDL_PATH = Path(__file__).resolve().parents[2] / "schema.graphql"


class PassportSchema(strawberry.Schema):
    """The schema, quiet about errors: ``gateway.schema.errors`` logs the unexpected ones."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Do not print tracebacks for expected errors (denials, bad input, sources down)."""


def build_schema(server: ServerSettings | None = None) -> PassportSchema:
    """The schema with the limits of ``server`` (defaults when None)."""
    server = server or ServerSettings()
    # The limit rules are built once and shared by every request (one store per schema).
    rules = [
        *QueryDepthLimiter(max_depth=server.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=server.max_aliases).validation_rules,
    ]
    if not server.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    store = DocumentStore(max_documents=256)
    extensions = [lambda: CachedDocuments(store, server.max_tokens, rules)]
    return PassportSchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(scalar_map={IIN: IIN_SCALAR}),
        execution_context_class=PlainDataExecutionContext,
    )


def served_sdl() -> str:
    """The SDL of the served schema, as written to ``schema.graphql``."""
    return build_schema().as_str() + "\n"


if __name__ == "__main__":
    SDL_PATH.write_text(served_sdl(), encoding="utf-8")
