"""The GraphQL endpoint: authenticate, execute, audit, answer.

Every request but the GraphiQL page needs a verified token (401 + UNAUTHENTICATED
otherwise). After execution, one audit event per person and basis tried is written before
the response leaves: every disclosure, and every attempt ACCESS.md audits though it showed
nothing (a refusal, an unknown IIN asked with a reason, a break-glass or emergency call). If
that fails, no data is sent (fail closed), and a refused or not-found attempt gets INTERNAL
instead of its FORBIDDEN or NOT_FOUND: nobody learns anything about a person untraced.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from gateway import graphiql, metrics
from gateway.auth.tokens import TokenVerifier
from gateway.deadline import Deadline
from gateway.errors import BAD_USER_INPUT, INTERNAL, UNAUTHENTICATED, GatewayError
from gateway.language import Words, negotiate, words_for
from gateway.resolvers.context import RequestContext, Services, write_audit
from gateway.schema.errors import coded
from gateway.schema.schema import PassportSchema

log = logging.getLogger("gateway.view")
# Answers differ per token and language and may carry health data: no cache may keep or share one.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Vary": "Authorization, Accept-Language"}


class PassportView(GraphQL[RequestContext, None]):
    """strawberry's ASGI view with our authentication, audit and error codes."""

    def __init__(
        self,
        schema: PassportSchema,
        services: Services,
        verifier: TokenVerifier,
        *,
        request_deadline_ms: int,
        graphiql: bool,
    ) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None)
        self.services = services
        self.verifier = verifier
        self.request_deadline_ms = request_deadline_ms

    async def get_context(self, request: Request, response: Any) -> RequestContext:  # type: ignore[override]
        """The context made by ``handle``; strawberry asks for it after authentication."""
        return request.state.ehp_context

    async def handle(self, request: Request) -> Response:
        """Authenticate, then let strawberry execute (GraphiQL's page needs no token)."""
        wants_page = "text/html" in request.headers.get("accept", "")
        if request.method == "GET" and wants_page and "query" not in request.query_params:
            return await self._run(request, None)  # GraphiQL's page, or 404 when off
        response = await self._authenticated(request)
        response.headers.update(PRIVATE_HEADERS)
        response.headers["Content-Language"] = self._words(request).language
        return response

    async def render_graphql_ide(self, request: Request) -> Response:  # type: ignore[override]
        """Our GraphiQL page, its assets served by the gateway (gateway.graphiql)."""
        return graphiql.page()

    async def _authenticated(self, request: Request) -> Response:
        try:
            principal = await self.verifier.verify(request.headers.get("authorization"))
        except GatewayError as error:
            status = 401 if error.code == UNAUTHENTICATED else 503
            metrics.REQUESTS.labels(role="anonymous", outcome=error.code.lower()).inc()
            message = self._words(request).message(error.template, error.values)
            return _error_response(status, error.code, message)
        request.state.ehp_context = RequestContext(
            services=self.services,
            principal=principal,
            deadline=Deadline.after_ms(self.request_deadline_ms),
            request_id=request.state.request_id,  # the client's only when short and plain
            words=self._words(request),
        )
        return await self._run(request, UNSET)

    async def _run(self, request: Request, context: Any) -> Response:
        """strawberry's run, with its HTTP errors (no query, bad JSON) as coded JSON errors."""
        try:
            return await self.run(request, context=context)
        except HTTPException as error:
            # strawberry's own reasons stay English; ours (decode_json) are said in the language.
            message = self._words(request).message(error.reason, {})
            return _error_response(error.status_code, BAD_USER_INPUT, message)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:  # type: ignore[override]
        """Code the errors, then write the audit events; on audit failure send no data."""
        context: RequestContext | None = getattr(request.state, "ehp_context", None)
        words = self._words(request)
        errors = [coded(error, words) for error in result.errors or ()]
        response: GraphQLHTTPResponse = {"data": result.data}
        if errors:
            response["errors"] = [error.formatted for error in errors]
        if context is None:
            return response
        outcome = "error" if errors else "ok"
        try:
            await write_audit(context)
        except Exception:  # fail closed: the data must not leave without its audit event
            log.exception("audit write failed; response withheld (request %s)", context.request_id)
            outcome = "audit_failed"
            message = words.message("internal error", {})
            response = {
                "data": None,
                "errors": [{"message": message, "extensions": {"code": INTERNAL}}],
            }
        metrics.REQUESTS.labels(role=context.principal.role.value, outcome=outcome).inc()
        return response

    def _words(self, request: Request) -> Words:
        """The request's language (Accept-Language, else the configured one), chosen once."""
        words: Words | None = getattr(request.state, "ehp_words", None)
        if words is None:
            language = negotiate(
                request.headers.get("accept-language"), self.services.default_language
            )
            words = request.state.ehp_words = words_for(language)
        return words

    def encode_json(self, data: object) -> bytes:  # type: ignore[override]
        """orjson: several times faster than json for passport-sized answers."""
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        """orjson for request bodies too; its JSONDecodeError is json's, so a body that does
        not parse is still strawberry's 400 (BAD_USER_INPUT here)."""
        decoded = orjson.loads(data)
        # strawberry reads fields of an object (or checks a batch list); a number, string or
        # null would reach it as such and fail with a 500.
        if not isinstance(decoded, dict | list):
            raise HTTPException(400, "A JSON object was expected (body or query parameter)")
        return decoded


def _error_response(status: int, code: str, message: str) -> Response:
    body = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(orjson.dumps(body), status, headers, media_type="application/json")
