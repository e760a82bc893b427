"""``create_app(settings)``: routes, middleware, and the lifespan that owns every client."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import graphiql
from gateway.audit import open_audit_store
from gateway.audit.keys import patient_key_secret
from gateway.audit.outbox import Outbox
from gateway.audit.trail import Trail
from gateway.auth.restrictions import open_restriction_store
from gateway.auth.tokens import TokenVerifier
from gateway.config import DocumentsSettings, LimitsStorage, Settings
from gateway.deadline import Deadline
from gateway.ips.endpoint import routes as summary_routes
from gateway.language import DEFAULT_LANGUAGE, negotiate, words_for
from gateway.limits import PatientCeiling, RequestRates
from gateway.logs import REQUEST_ID, carries_identifier
from gateway.metrics import (
    BREAKER_STATE,
    BREAKER_STATE_VALUES,
    NOTIFICATIONS_GIVEN_UP,
    NOTIFICATIONS_UNDELIVERED,
    render_metrics,
)
from gateway.notify.worker import NameLookup, NotificationWorker, outbox_for
from gateway.records import OrgRef, PractitionerRef
from gateway.resolvers.context import Services
from gateway.schema.manifest import load_manifest
from gateway.schema.schema import build_schema
from gateway.schema.trusted import TrustedDocuments
from gateway.sources import SourceSystems
from gateway.telemetry import TracedRequests, Tracing
from gateway.view import PassportView
from gateway.web import app_routes

log = logging.getLogger("gateway.app")
# An audit store slower than this to read one row is not ready (deploy/k8s probes allow 3 s).
READINESS_AUDIT_TIMEOUT_S = 2.5


def create_app(settings: Settings) -> Starlette:
    """The gateway as an ASGI app; clients, cache and stores live as long as it runs.

    A bad trusted-documents manifest stops it here (ConfigError naming the entry).
    """
    state: dict[str, Gateway] = {}
    documents = trusted_documents(settings.documents)
    endpoint = settings.telemetry.otlp_endpoint
    tracing = Tracing(endpoint) if endpoint else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gateway = await open_gateway(settings)
        state["gateway"] = gateway
        view = PassportView(
            build_schema(settings.server, settings.limits),
            gateway.services,
            gateway.verifier,
            request_deadline_ms=settings.policy.request_deadline_ms,
            graphiql=bool(settings.server.graphiql),
            documents=documents,
            rates=gateway.rates,
        )
        app.state.view = view
        tune_garbage_collector()
        directory = asyncio.create_task(keep_directory_warm(gateway.services.sources))
        worker = None
        if gateway.outbox is not None:
            worker = NotificationWorker(
                gateway.services.audit,
                settings.notifications,
                names=register_names(gateway.services.sources),
            )
            worker.start(gateway.outbox)
        try:
            yield
        finally:
            directory.cancel()
            if worker is not None:
                await worker.stop()
            await close_gateway(gateway)
            if tracing is not None:
                await asyncio.to_thread(tracing.shutdown)  # sends the spans still queued

    async def graphql(request: Request) -> Response:
        return await request.app.state.view.handle(request)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        return await readiness(state["gateway"].services)

    async def metrics(request: Request) -> Response:
        sources = state["gateway"].services.sources
        for source, value in sources.breaker_states().items():
            BREAKER_STATE.labels(source=source).set(BREAKER_STATE_VALUES.get(value, 0))
        await count_notifications(state["gateway"])
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    middleware = [
        Middleware(
            RequestLimits,
            max_body_bytes=settings.server.max_body_bytes,
            default_language=settings.app.default_language,
        )
    ]
    if tracing is not None:
        middleware.append(Middleware(TracedRequests, tracing=tracing))
    if settings.server.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.server.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            )
        )
    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *summary_routes(lambda: state["gateway"]),
        *app_routes(settings),  # the web passport at /app/
    ]
    if settings.server.graphiql:
        routes.append(graphiql.assets_route())
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.tracing = tracing  # None when off; benchmarks flush it between rounds
    return app


def trusted_documents(settings: DocumentsSettings) -> TrustedDocuments | None:
    """The manifest of `[documents] path` with its `require` rule; None when no path is set."""
    if not settings.path:
        return None
    return TrustedDocuments(load_manifest(Path(settings.path)), settings.require)


@dataclass
class Gateway:
    """What the app holds while it runs: the resolvers' services and the token verifier."""

    services: Services
    verifier: TokenVerifier
    rates: RequestRates | None
    # Where the audit store queues patient notifications (None: no webhook configured).
    outbox: Outbox | None = None


async def open_gateway(settings: Settings) -> Gateway:
    """Open the source systems, the audit and restriction stores and the token verifier."""
    sources = SourceSystems.open(settings)
    verifier = TokenVerifier(settings.auth, http_client_factory=lambda: httpx.AsyncClient())
    secret = patient_key_secret(settings.audit)
    trail = Trail.from_settings(settings.audit)
    outbox = outbox_for(settings.notifications)
    audit = open_audit_store(settings.audit.database_url, secret, trail, outbox)
    restrictions = open_restriction_store(settings.audit.database_url, secret)
    await audit.open()
    await restrictions.open()
    await verifier.load()
    limits = settings.limits
    redis_url = settings.cache.redis_url if limits.storage is LimitsStorage.REDIS else None
    rates = RequestRates.open(limits, redis_url)
    patients = PatientCeiling.open(limits, redis_url, secret)
    services = Services(
        settings.policy, sources, audit, restrictions, patients, settings.app.default_language
    )
    return Gateway(services, verifier, rates, outbox)


def register_names(sources: SourceSystems, budget_ms: int = 2000) -> NameLookup:
    """A name lookup for notifications: the register's names of an organisation and a
    practitioner (the warm directory, else one round trip within ``budget_ms``)."""

    async def names(
        org_bin: str | None, practitioner_id: str | None
    ) -> tuple[str | None, str | None]:
        organizations = [OrgRef(bin=org_bin)] if org_bin else []
        practitioners = [PractitionerRef(id=practitioner_id)] if practitioner_id else []
        directory = await sources.directory(
            organizations, practitioners, Deadline.after_ms(budget_ms)
        )
        org = directory.organizations.get(org_bin) if org_bin else None
        person = directory.practitioners.get(practitioner_id) if practitioner_id else None
        return (org.name if org else None), (person.name if person else None)

    return names


async def count_notifications(gateway: Gateway) -> None:
    """Set the outbox gauges of /metrics (left as they were when the store does not answer)."""
    try:
        counts = await asyncio.wait_for(
            gateway.services.audit.notification_counts(), READINESS_AUDIT_TIMEOUT_S
        )
    except Exception:  # the metrics page must still answer; readiness reports the store
        log.warning("notification outbox could not be counted for /metrics")
        return
    NOTIFICATIONS_UNDELIVERED.set(counts.undelivered)
    NOTIFICATIONS_GIVEN_UP.set(counts.given_up)


def tune_garbage_collector() -> None:
    """Move start-up objects out of the collector's sight and collect young objects less often.

    Each request leaves a few hundred short-lived cyclic objects (graphql-core's execution
    context, tasks); with the default thresholds, collections took a third of the CPU of a
    warm passport (bench/README.md). Freezing the long-lived start-up heap keeps each
    collection small.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)


async def keep_directory_warm(sources: SourceSystems) -> None:
    """Load the register's organisations and practitioners now and again every half TTL."""
    period = max(60.0, sources.ttl_s(sources.register.source) / 2)
    while True:
        try:
            count = await sources.warm_directory()
            log.info("register directory loaded: %d organisations and practitioners", count)
        except Exception:  # the directory is an optimisation: lookups still work without it
            log.warning("register directory could not be loaded; names are looked up on demand")
        await asyncio.sleep(period)


async def close_gateway(gateway: Gateway) -> None:
    """Release every client, pool and store."""
    services = gateway.services
    await services.sources.close()
    await gateway.verifier.aclose()
    await services.audit.close()
    await services.restrictions.close()
    if gateway.rates is not None:
        await gateway.rates.close()
    if services.patients is not None:
        await services.patients.close()


async def readiness(services: Services) -> Response:
    """503 only when the audit store does not answer (reads could not be audited); sources'
    breaker states are reported but never fail it: with sources down, stale copies and
    `emergency` from cache are exactly what a replica is for (CONFIG.md)."""
    try:
        await asyncio.wait_for(services.audit.ping(), READINESS_AUDIT_TIMEOUT_S)
        audit_ok = True
    except Exception:  # not ready: reads could not be audited
        audit_ok = False
    sources = services.sources.breaker_states()
    body = {"ready": audit_ok, "audit": audit_ok, "sources": sources}
    return JSONResponse(body, status_code=200 if audit_ok else 503)


# A client's X-Request-Id is kept only when short and plain: it is stored in every audit event
# and written to the logs, so it must neither grow them nor carry anything but an id.
CLIENT_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


def request_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-Id when it is at most 64 of [A-Za-z0-9._-] with no 12-digit
    number (an IIN in logs and spans), else a new one."""
    for name, value in headers:
        if name == b"x-request-id" and CLIENT_REQUEST_ID.fullmatch(value):
            text = value.decode("ascii")
            if not carries_identifier(text):
                return text
    return uuid.uuid4().hex


class RequestLimits:
    """Pure ASGI middleware: a request id on every request (the caller's X-Request-Id when it
    is a plain token without an IIN-like number, else a new one; in the log context too), and
    a cap on the body size."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, default_language: str = DEFAULT_LANGUAGE
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.default_language = default_language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse oversized bodies with 413 before anything parses them."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["request_id"] = identifier = request_id(scope.get("headers", ()))
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                await _too_large(send, self._language(scope))
                return
        received = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        # Log lines of this request (and of the tasks it starts) carry its id.
        token = REQUEST_ID.set(identifier)
        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            await _too_large(send, self._language(scope))
        finally:
            REQUEST_ID.reset(token)

    def _language(self, scope: Scope) -> str:
        """The language the request asks for (Accept-Language), else the configured one."""
        asked = next((v for k, v in scope.get("headers", ()) if k == b"accept-language"), b"")
        return negotiate(asked.decode("latin-1"), self.default_language)


class BodyTooLarge(Exception):
    """A chunked body grew past the limit."""


async def _too_large(send: Send, language: str) -> None:
    message = words_for(language).message("request body too large", {})
    body = orjson.dumps(
        {"data": None, "errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-language", language.encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
