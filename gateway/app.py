"""``create_app(settings)``: routes, middleware, and the lifespan that owns every client."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import secrets
import uuid
from collections.abc import AsyncIterator
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

from gateway.audit import open_audit_store, open_restriction_store
from gateway.auth.tokens import TokenVerifier
from gateway.config import AuditSettings, Settings
from gateway.metrics import BREAKER_STATE, BREAKER_STATE_VALUES, render_metrics
from gateway.resolvers.context import Services, SourceSet
from gateway.schema.schema import build_schema
from gateway.sources import create_adapter, create_client
from gateway.sources.breaker import BreakerSettings
from gateway.sources.fetcher import Fetcher
from gateway.sources.resilience import RetrySettings
from gateway.view import PassportView
from gateway.web import app_routes

log = logging.getLogger("gateway.app")


def create_app(settings: Settings) -> Starlette:
    """The gateway as an ASGI app; clients, cache and stores live as long as it runs."""
    state: dict[str, Services] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await open_services(settings)
        state["services"] = services
        view = PassportView(
            build_schema(settings.server),
            services,
            graphiql=bool(settings.server.graphiql),
        )
        app.state.view = view
        tune_garbage_collector()
        directory = asyncio.create_task(keep_directory_warm(services))
        try:
            yield
        finally:
            directory.cancel()
            await close_services(services)

    async def graphql(request: Request) -> Response:
        return await request.app.state.view.handle(request)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        return await readiness(state["services"])

    async def metrics(request: Request) -> Response:
        services = state["services"]
        for source, value in services.fetcher.breaker_states().items():
            BREAKER_STATE.labels(source=source).set(BREAKER_STATE_VALUES.get(value, 0))
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    middleware = [Middleware(RequestLimits, max_body_bytes=settings.server.max_body_bytes)]
    if settings.server.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.server.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            )
        )
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            *app_routes(settings),  # the web passport at /app/
        ],
        middleware=middleware,
        lifespan=lifespan,
    )


async def open_services(settings: Settings) -> Services:
    """Create adapters, the fetcher, the token verifier and the audit stores."""
    clients = {source.name: create_client(source) for source in settings.sources}
    adapters = {s.name: create_adapter(s, clients[s.name]) for s in settings.sources}
    by_kind: dict[str, list] = {}
    for source in settings.sources:
        by_kind.setdefault(source.kind, []).append(adapters[source.name])
    sources = SourceSet(
        register=by_kind["fhir-register"][0],
        ehrs=tuple(by_kind.get("fhir-ehr", ())),
        lis=_single(by_kind, "lis-json"),
        dps=_single(by_kind, "dps-json"),
        ambulance=_single(by_kind, "ambulance-xml"),
        settings={source.name: source for source in settings.sources},
    )
    cache = settings.cache
    resilience = settings.resilience
    fetcher = Fetcher.create(
        backend=cache.backend,
        redis_url=cache.redis_url,
        encryption_key=cache.encryption_key,
        max_stale_s=cache.max_stale_s,
        max_items=cache.max_items,
        subject_key=cache.key_salt,
        sources=tuple(adapters),
        breaker=BreakerSettings(
            failure_threshold=resilience.breaker_failure_threshold,
            open_s=resilience.breaker_open_s,
            window=resilience.breaker_window,
            min_calls=resilience.breaker_min_calls,
            failure_ratio=resilience.breaker_failure_ratio,
        ),
        retry=RetrySettings(
            max_attempts=resilience.retry_max_attempts,
            base_s=resilience.retry_base_ms / 1000,
            cap_s=resilience.retry_cap_ms / 1000,
            budget_ratio=resilience.retry_budget_ratio,
            budget_floor=resilience.retry_budget_floor,
        ),
    )
    verifier = TokenVerifier(settings.auth, http_client_factory=lambda: httpx.AsyncClient())
    secret = patient_key_secret(settings.audit)
    audit = open_audit_store(settings.audit.database_url, secret)
    restrictions = open_restriction_store(settings.audit.database_url, secret)
    await audit.open()
    await restrictions.open()
    await verifier.load()
    services = Services(settings, sources, fetcher, verifier, audit, restrictions)
    services.close_hooks.extend(client.aclose for client in clients.values())
    return services


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


async def keep_directory_warm(services: Services) -> None:
    """Load the register's organisations and practitioners now and again every half TTL."""
    register = services.sources.register
    period = max(60.0, services.sources.ttl_s(register.source) / 2)
    while True:
        try:
            count = await register.warm_directory()
            log.info("register directory loaded: %d organisations and practitioners", count)
        except Exception:  # the directory is an optimisation: lookups still work without it
            log.warning("register directory could not be loaded; names are looked up on demand")
        await asyncio.sleep(period)


async def close_services(services: Services) -> None:
    """Release every client, pool and store."""
    await asyncio.gather(*(close() for close in services.close_hooks), return_exceptions=True)
    await services.fetcher.close()
    await services.verifier.aclose()
    await services.audit.close()
    await services.restrictions.close()


async def readiness(services: Services) -> Response:
    """Ready when the audit store answers; each source's breaker state is reported."""
    breakers = services.fetcher.breaker_states()
    try:
        await services.audit.count()
        audit_ok = True
    except Exception:  # not ready: reads could not be audited
        audit_ok = False
    sources = {name: breakers.get(name, "closed") for name in services.sources.settings}
    ready = audit_ok and any(state != "open" for state in sources.values())
    body = {"ready": ready, "audit": audit_ok, "sources": sources}
    return JSONResponse(body, status_code=200 if ready else 503)


def patient_key_secret(audit: AuditSettings) -> bytes:
    """The audit's patient-key secret: configured, or a key file beside the SQLite database."""
    if audit.patient_key is not None:
        return audit.patient_key.encode()
    path = Path(audit.database_url.removeprefix("sqlite:///") + ".key")
    if not audit.database_url.startswith("sqlite:///"):
        raise ValueError("audit.patient_key is required for this database")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _single(by_kind: dict[str, list], kind: str):
    adapters = by_kind.get(kind)
    return adapters[0] if adapters else None


class RequestLimits:
    """Pure ASGI middleware: a request id on every request, and a cap on the body size."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse oversized bodies with 413 before anything parses them."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})["request_id"] = uuid.uuid4().hex
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body_bytes:
                await _too_large(send)
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

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            await _too_large(send)


class BodyTooLarge(Exception):
    """A chunked body grew past the limit."""


async def _too_large(send: Send) -> None:
    body = orjson.dumps(
        {
            "data": None,
            "errors": [
                {"message": "request body too large", "extensions": {"code": "BAD_USER_INPUT"}}
            ],
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
