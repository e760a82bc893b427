"""Errors become GraphQL errors with an ``extensions.code`` here, and nowhere else.

Errors carrying one of our codes keep their (safe) message, said in the request's language
(our document limits give QUERY_TOO_COMPLEX themselves); the code is the same in every
language. Validation errors of the query document become BAD_USER_INPUT, or QUERY_TOO_COMPLEX
for the parser's token limit; their messages are graphql-core's, in English.
Everything else is masked as INTERNAL and logged with its traceback, never sent.
"""

from __future__ import annotations

import logging

from graphql import GraphQLError

from gateway.errors import BAD_USER_INPUT, INTERNAL, QUERY_TOO_COMPLEX, GatewayError
from gateway.language import Words

log = logging.getLogger("gateway.errors")

# The parser's message when a document is over its token limit (it carries no code).
_PARSER_LIMIT_MARKER = "tokens. Parsing aborted"


def gateway_error_of(error: BaseException | None) -> GatewayError | None:
    """The ``GatewayError`` behind a GraphQL error, however deeply graphql-core wrapped it."""
    seen = 0
    while error is not None and seen < 8:
        if isinstance(error, GatewayError):
            return error
        error = getattr(error, "original_error", None) or error.__cause__
        seen += 1
    return None


def coded(error: GraphQLError, words: Words) -> GraphQLError:
    """The error as the client may see it: a code, a safe message in ``words``, its path."""
    gateway_error = gateway_error_of(error.original_error)
    if gateway_error is not None:
        said = words.message(gateway_error.template, gateway_error.values)
        # Before any field ran, graphql-core's message wraps ours (a variable's value): only
        # our part is ours to say.
        message = (
            said if error.path is not None else error.message.replace(gateway_error.message, said)
        )
        return _with(error, message, gateway_error.code)
    if error.extensions and error.extensions.get("code"):
        return error
    if error.original_error is None or error.path is None:
        # A problem with the request itself, found before any field ran: syntax, validation,
        # limits, or variables that do not coerce (graphql-core then keeps the KeyError or
        # coercion error it caught, which is the caller's mistake, not ours).
        code = QUERY_TOO_COMPLEX if _PARSER_LIMIT_MARKER in error.message else BAD_USER_INPUT
        return _with(error, error.message, code)
    log.error(
        "unexpected error at %s",
        error.path,
        exc_info=(type(error.original_error), error.original_error, None),
    )
    return _with(error, words.message("internal error", {}), INTERNAL)


def _with(error: GraphQLError, message: str, code: str) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions={"code": code},
    )
