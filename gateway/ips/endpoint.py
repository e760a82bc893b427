"""``GET /fhir/Patient/{iin}/$summary`` and ``GET /fhir/Patient/$summary?identifier=...``.

The FHIR face of the passport applies the GraphQL face's rules through the same code: the
token is checked by the same verifier, the read is opened by ``open_read`` (role, care
relationship, the patient's restrictions, break-glass), the sections are shaped by the
passport's section functions, and the request's audit events are written by ``write_audit``
before the Bundle leaves; when they cannot be written, no data is sent (fail closed).

Break-glass: a nurse or doctor without a care relationship gives the reason in the
``X-Break-Glass-Reason`` header (UTF-8; percent-encoded UTF-8 is decoded, so any client can
send Kazakh or Russian). A header, not a query parameter, so that the reason is not written
into proxies' and servers' access logs with the URL; it is audited and shown to the patient
like ``breakGlassReason``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import unquote

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import metrics
from gateway.auth.policy import EntryPoint
from gateway.auth.tokens import TokenVerifier
from gateway.deadline import Deadline
from gateway.errors import (
    INTERNAL,
    UNAUTHENTICATED,
    BadUserInput,
    GatewayError,
    RateLimited,
    SourceUnavailable,
)
from gateway.iin import is_valid_iin
from gateway.ips.document import summary_bundle
from gateway.ips.outcome import NOT_ACCEPTABLE, error_outcome, http_status
from gateway.ips.sections import REQUESTED
from gateway.language import Words, negotiate, words_for
from gateway.limits import ADDRESS, PRINCIPAL, RequestRates
from gateway.resolvers.access import open_read
from gateway.resolvers.context import RequestContext, Services, write_audit

log = logging.getLogger("gateway.ips")
FHIR_JSON = "application/fhir+json"
BREAK_GLASS_HEADER = "x-break-glass-reason"
IIN_SYSTEM = "urn:kz:iin"
# Answers differ per token and language and carry health data: no cache may keep or share one.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Vary": "Authorization, Accept-Language"}
_ACCEPTED = ("json", "*/*", "application/*")


class Serving(Protocol):
    """What the running app holds that this face needs."""

    services: Services
    verifier: TokenVerifier
    rates: RequestRates | None


class SummaryEndpoint:
    """The two routes of the ``$summary`` operation on Patient."""

    def __init__(self, serving: Callable[[], Serving]) -> None:
        self.serving = serving

    async def by_id(self, request: Request) -> Response:
        """``/fhir/Patient/{iin}/$summary``: the Patient's id is the IIN."""
        return await self.answer(request, lambda: request.path_params["iin"])

    async def by_identifier(self, request: Request) -> Response:
        """``/fhir/Patient/$summary?identifier=urn:kz:iin|{iin}``."""
        return await self.answer(request, lambda: _identified(request))

    async def answer(self, request: Request, iin_of: Callable[[], str]) -> Response:
        """Authenticate, read, build the Bundle, audit, answer; OperationOutcome on error."""
        serving = self.serving()
        rates = serving.rates
        asked = request.headers.get("accept-language")
        words = words_for(negotiate(asked, serving.services.default_language))
        if not _acceptable(request.headers.get("accept")):
            message = words.message(
                "this operation answers {media_type}", {"media_type": FHIR_JSON}
            )
            return _outcome(NOT_ACCEPTABLE, message, words)
        try:
            if rates is not None:  # the GraphQL face's request rates, counted together
                client = request.client
                await rates.admit(ADDRESS, client.host if client is not None else "unknown")
            principal = await serving.verifier.verify(request.headers.get("authorization"))
            if rates is not None:
                await rates.admit(PRINCIPAL, principal.subject)
        except RateLimited as limited:
            metrics.SUMMARY_REQUESTS.labels(role="any", outcome="rate_limited").inc()
            message = words.message(limited.template, limited.values)
            return _outcome(limited.code, message, words, limited.retry_after_s)
        except GatewayError as error:
            metrics.SUMMARY_REQUESTS.labels(role="anonymous", outcome=error.code.lower()).inc()
            code = error.code if error.code == UNAUTHENTICATED else "SOURCE_UNAVAILABLE"
            return _outcome(code, words.message(error.template, error.values), words)
        context = RequestContext(
            services=serving.services,
            principal=principal,
            deadline=Deadline.after_ms(serving.services.policy.request_deadline_ms),
            request_id=request.state.request_id,  # the client's only when short and plain
            words=words,
        )
        try:
            bundle: dict[str, Any] | None = await _read(context, iin_of(), request)
            failure: GatewayError | None = None
        except GatewayError as error:
            bundle, failure = None, error
        except Exception:  # details to the log, never to the caller
            log.exception("summary failed (request %s)", context.request_id)
            bundle, failure = None, GatewayError()
        role = principal.role.value
        try:
            # Whatever the outcome, the request's events are written before anything leaves.
            await write_audit(context)
        except Exception:  # fail closed: the data must not leave without its audit event
            log.exception("audit write failed; response withheld (request %s)", context.request_id)
            metrics.SUMMARY_REQUESTS.labels(role=role, outcome="audit_failed").inc()
            return _outcome(INTERNAL, words.message("internal error", {}), words)
        if failure is not None:
            metrics.SUMMARY_REQUESTS.labels(role=role, outcome=failure.code.lower()).inc()
            # Past the distinct-patients ceiling: 429, and when the day lets one more in.
            retry = failure.retry_after_s if isinstance(failure, RateLimited) else None
            message = words.message(failure.template, failure.values)
            return _outcome(failure.code, message, words, retry)
        metrics.SUMMARY_REQUESTS.labels(role=role, outcome="ok").inc()
        headers = {**PRIVATE_HEADERS, "Content-Language": words.language}
        return Response(orjson.dumps(bundle), 200, headers, media_type=FHIR_JSON)


def routes(serving: Callable[[], Serving]) -> list[Route]:
    """The routes of this face, for the app to mount."""
    endpoint = SummaryEndpoint(serving)
    return [
        Route("/fhir/Patient/$summary", endpoint.by_identifier, methods=["GET"]),
        Route("/fhir/Patient/{iin}/$summary", endpoint.by_id, methods=["GET"]),
    ]


async def _read(context: RequestContext, iin: str, request: Request) -> dict[str, Any]:
    """Open the passport read of every section the summary shows, and build the Bundle."""
    # Checked before open_read: a clinician's care relationship is looked up before decide().
    if not is_valid_iin(iin):
        raise BadUserInput("invalid IIN")
    reason = _break_glass_reason(request)
    # The plan of care needs the problem list beside the screenings (its exclusions), also
    # when PROBLEMS itself may not be shown.
    read = await open_read(
        context, iin, EntryPoint.PASSPORT, REQUESTED, reason, fields=frozenset({"screeningPlan"})
    )
    await read.settled()
    # NOT_FOUND for an IIN the register does not know; when the register is down, the Patient
    # carries the IIN alone and the OperationOutcome says why.
    with contextlib.suppress(SourceUnavailable):
        read.patient()
    return summary_bundle(read, context.words.language)


def _identified(request: Request) -> str:
    """The IIN of ``identifier=urn:kz:iin|{iin}`` (exactly one identifier of that system)."""
    given = request.query_params.getlist("identifier")
    if len(given) != 1:
        raise BadUserInput("identifier must be urn:kz:iin|<IIN>")
    system, bar, value = given[0].partition("|")
    if not bar or system != IIN_SYSTEM:
        raise BadUserInput("identifier must be urn:kz:iin|<IIN>")
    return value


def _break_glass_reason(request: Request) -> str | None:
    """The reason of the break-glass header, decoded; None when the header is absent."""
    raw = request.headers.get(BREAK_GLASS_HEADER)
    if raw is None:
        return None
    try:
        # Starlette decodes header bytes as Latin-1; the client sent UTF-8.
        decoded = raw.encode("latin-1").decode("utf-8")
        return unquote(decoded, errors="strict")
    except UnicodeError:
        raise BadUserInput(
            "X-Break-Glass-Reason must be UTF-8 text (percent-encoded or not)"
        ) from None


def _acceptable(accept: str | None) -> bool:
    """True when the client accepts JSON (FHIR's or plain) or anything."""
    return accept is None or not accept.strip() or any(kind in accept for kind in _ACCEPTED)


def _outcome(code: str, message: str, words: Words, retry_after_s: int | None = None) -> Response:
    """An OperationOutcome answer with the HTTP status of ``code`` (and Retry-After), in the
    request's language."""
    status = http_status(code)
    headers = {**PRIVATE_HEADERS, "Content-Language": words.language}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if retry_after_s is not None:
        headers["Retry-After"] = str(retry_after_s)
    body = orjson.dumps(error_outcome(code, message))
    return Response(body, status, headers, media_type=FHIR_JSON)
