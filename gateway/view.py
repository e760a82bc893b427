"""The GraphQL endpoint: authenticate, execute, audit, answer.

Every request but the GraphiQL page needs a verified token (401 + UNAUTHENTICATED
otherwise). Then the trusted documents decide which text runs, before it is parsed
(``gateway.schema.trusted``; PERSISTED_QUERY_NOT_FOUND answers HTTP 200, as Apollo's), and
the caller's address and principal are counted against their request rates (429 with
Retry-After and RATE_LIMITED past them). After execution, one audit event per person and
basis tried is written before the response leaves: every disclosure, and every attempt
ACCESS.md audits though it showed nothing (a refusal, an unknown IIN asked with a reason, a
break-glass or emergency call). If that fails, no data is sent (fail closed), and a refused
or not-found attempt gets INTERNAL instead of its FORBIDDEN or NOT_FOUND: nobody learns
anything about a person untraced.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from gateway import graphiql, metrics, telemetry
from gateway.auth.tokens import TokenVerifier
from gateway.deadline import Deadline
from gateway.errors import (
    BAD_USER_INPUT,
    INTERNAL,
    PERSISTED_QUERY_NOT_FOUND,
    UNAUTHENTICATED,
    GatewayError,
    RateLimited,
)
from gateway.language import Words, negotiate, words_for
from gateway.limits import ADDRESS, PRINCIPAL, RequestRates
from gateway.resolvers.context import RequestContext, Services, write_audit
from gateway.schema.errors import coded, gateway_error_of
from gateway.schema.schema import PassportSchema
from gateway.schema.trusted import TrustedDocuments

log = logging.getLogger("gateway.view")
# Answers differ per token and language and may carry health data: no cache may keep or share one.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Vary": "Authorization, Accept-Language"}
DOCUMENT_ID = "documentId"  # GraphQL over HTTP's persisted documents parameter
# Apollo answers an unknown persisted query with HTTP 200, so its clients read the error.
ERROR_STATUS = {PERSISTED_QUERY_NOT_FOUND: 200, UNAUTHENTICATED: 401}
TOO_MANY_REQUESTS = 429


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
        documents: TrustedDocuments | None = None,
        rates: RequestRates | None = None,
    ) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None)
        self.services = services
        self.verifier = verifier
        self.request_deadline_ms = request_deadline_ms
        self.documents = documents
        self.rates = rates

    async def get_context(self, request: Request, response: Any) -> RequestContext:  # type: ignore[override]
        """The context made by ``handle``; strawberry asks for it after authentication."""
        return request.state.ehp_context

    async def handle(self, request: Request) -> Response:
        """Authenticate, then let strawberry execute (GraphiQL's page needs no token)."""
        wants_page = "text/html" in request.headers.get("accept", "")
        if request.method == "GET" and wants_page and "query" not in request.query_params:
            return await self._run(request, None)  # GraphiQL's page, or 404 when off
        try:
            response = await self._authenticated(request)
        except RateLimited as limited:
            response = _rate_limited(limited, self._words(request))
        response.headers.update(PRIVATE_HEADERS)
        response.headers["Content-Language"] = self._words(request).language
        return response

    async def render_graphql_ide(self, request: Request) -> Response:  # type: ignore[override]
        """Our GraphiQL page, its assets served by the gateway (gateway.graphiql)."""
        return graphiql.page()

    async def _authenticated(self, request: Request) -> Response:
        """Count the request against its address's and then its principal's limits, and run it
        (RateLimited when one is exhausted)."""
        if self.rates is not None:
            client = request.client
            await self.rates.admit(ADDRESS, client.host if client is not None else "unknown")
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
        telemetry.annotate({"ehp.role": principal.role.value})
        if self.rates is not None:
            await self.rates.admit(PRINCIPAL, principal.subject)
        response = await self._run(request, UNSET)
        limited: RateLimited | None = getattr(request.state, "rate_limited", None)
        if limited is not None:  # a read refused past the distinct-patients ceiling
            response.status_code = TOO_MANY_REQUESTS
            response.headers["Retry-After"] = str(limited.retry_after_s)
        return response

    async def _run(self, request: Request, context: Any) -> Response:
        """strawberry's run, with its HTTP errors (no query, bad JSON) and refused documents
        as coded JSON errors."""
        try:
            return await self.run(request, context=context)
        except HTTPException as error:
            # strawberry's own reasons stay English; ours (decode_json) are said in the language.
            message = self._words(request).message(error.reason, {})
            return _error_response(error.status_code, BAD_USER_INPUT, message)
        except GatewayError as error:
            message = self._words(request).message(error.template, error.values)
            return _error_response(ERROR_STATUS.get(error.code, 400), error.code, message)

    def should_render_graphql_ide(self, request: Any) -> bool:
        """GraphiQL's page only for a GET naming no document (``documentId`` or Apollo's
        extension in ``extensions``)."""
        params = request.query_params
        named = DOCUMENT_ID in params or "extensions" in params
        return not named and super().should_render_graphql_ide(request)

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        """strawberry's parse of the request, then the trusted documents' choice of text."""
        data = await super().parse_http_body(request)
        if self.documents is None or not isinstance(data, GraphQLRequestData):
            return data  # no manifest configured (batches are off: strawberry refuses them)
        named_id = await self._named_id(request)
        text = self.documents.text(data.query, named_id, data.extensions)
        if text is not data.query:
            data.query = text
        return data

    async def _named_id(self, request: Any) -> object:
        """The request's ``documentId`` parameter, if any (strawberry does not read it)."""
        if request.method == "GET":
            return request.query_params.get(DOCUMENT_ID)
        body = await request.get_body()  # read once already: Starlette keeps it
        if DOCUMENT_ID.encode() not in body:
            return None
        decoded = self.decode_json(body)
        return decoded.get(DOCUMENT_ID) if isinstance(decoded, dict) else None

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:  # type: ignore[override]
        """Code the errors, then write the audit events; on audit failure send no data."""
        context: RequestContext | None = getattr(request.state, "ehp_context", None)
        words = self._words(request)
        errors = [coded(error, words) for error in result.errors or ()]
        for error in result.errors or ():
            refused = gateway_error_of(error.original_error)
            if isinstance(refused, RateLimited):
                request.state.rate_limited = refused
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
        telemetry.annotate({"ehp.outcome": outcome})
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


def _rate_limited(limited: RateLimited, words: Words) -> Response:
    """429 with Retry-After, before the request ran."""
    metrics.REQUESTS.labels(role="any", outcome="rate_limited").inc()
    message = words.message(limited.template, limited.values)
    response = _error_response(TOO_MANY_REQUESTS, limited.code, message)
    response.headers["Retry-After"] = str(limited.retry_after_s)
    return response


def _error_response(status: int, code: str, message: str) -> Response:
    body = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    telemetry.annotate({"ehp.outcome": code.lower()})
    return Response(orjson.dumps(body), status, headers, media_type="application/json")
