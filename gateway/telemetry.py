"""OpenTelemetry traces, off unless `[telemetry] otlp_endpoint` is set; manual spans only.

Spans are made at the few places that matter: one per request (``TracedRequests``, the edge),
one per source load (the fetcher), one per upstream HTTP call (``sources.http.fetch``, which
also sends the W3C ``traceparent``), and one per audit write. No instrumentation library is
used: they record URLs, arguments or resolver calls, and this gateway's URLs and arguments
carry IINs.

The running gateway's tracer is held in a context variable set per request, so the code
below asks ``current_tracer()`` and does nothing when it is None: with tracing off a request
pays a few context-variable lookups. Several gateways in one process (the tests) keep one
provider each. Attributes name sources, route templates, cache outcomes, status codes and
error kinds; never an IIN, a name, a reason, a token, or a URL's path or query string.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, MutableMapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:  # the SDK and the exporter are loaded only when tracing is on
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import SpanExporter

SERVICE = "ehp-gateway"
TRACES_PATH = "/v1/traces"  # OTLP/HTTP's path for traces under the collector's base URL
# Probes and scrapes every few seconds would bury the requests worth reading.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Kept as written in a route template: words and API versions; any other segment is data.
_PLAIN_SEGMENT = re.compile(r"[A-Za-z_$.\-]*|v[0-9]+")
_IIN_SEGMENT = re.compile(r"[0-9]{12}")

_TRACER: ContextVar[Tracer | None] = ContextVar("ehp_tracer", default=None)
_PROPAGATOR = TraceContextTextMapPropagator()


class Tracing:
    """One gateway's tracer provider, exporting batches of spans over OTLP/HTTP."""

    def __init__(self, endpoint: str, exporter: SpanExporter | None = None) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.provider = TracerProvider(resource=service_resource())
        exporter = exporter or OTLPSpanExporter(endpoint=traces_url(endpoint))
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer = self.provider.get_tracer("gateway")

    def shutdown(self) -> None:
        """Export what is queued and stop the exporter's thread."""
        self.provider.shutdown()


def service_resource() -> Resource:
    """The SDK's resource (OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES apply), named
    ``ehp-gateway`` unless those name it."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    detected = Resource.create()
    if str(detected.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        detected = detected.merge(Resource({SERVICE_NAME: SERVICE}))
    return detected


def traces_url(endpoint: str) -> str:
    """The collector's traces URL under its base URL (as OTEL_EXPORTER_OTLP_ENDPOINT reads)."""
    return endpoint.rstrip("/") + TRACES_PATH


@contextlib.contextmanager
def traced(tracing: Tracing) -> Iterator[None]:
    """Spans made inside the block (and the tasks it starts) go to ``tracing``."""
    token = _TRACER.set(tracing.tracer)
    try:
        yield
    finally:
        _TRACER.reset(token)


def current_tracer() -> Tracer | None:
    """The tracer of the request being served, or None when tracing is off."""
    return _TRACER.get()


def span(
    name: str, attributes: dict[str, Any] | None = None, kind: SpanKind = SpanKind.INTERNAL
) -> contextlib.AbstractContextManager[Span | None]:
    """A child span of the current one, or None (and no work) when tracing is off.

    An exception marks the span failed with its class name only: exception messages (httpx
    puts URLs in them) are never recorded.
    """
    tracer = _TRACER.get()
    if tracer is None:
        return _OFF
    return _failing_by_kind(tracer, name, attributes, kind)


_OFF: contextlib.AbstractContextManager[None] = contextlib.nullcontext()


@contextlib.contextmanager
def _failing_by_kind(
    tracer: Tracer, name: str, attributes: dict[str, Any] | None, kind: SpanKind
) -> Iterator[Span]:
    with started(tracer, name, attributes, kind) as current:
        try:
            yield current
        except BaseException as error:  # CancelledError too: the span says how it ended
            failed(current, type(error).__name__)
            raise


def started(
    tracer: Tracer,
    name: str,
    attributes: dict[str, Any] | None,
    kind: SpanKind = SpanKind.INTERNAL,
    context: Any = None,
) -> contextlib.AbstractContextManager[Span]:
    """A span of ``tracer`` made current, that records no exception message or traceback."""
    return tracer.start_as_current_span(
        name,
        context=context,
        kind=kind,
        attributes=attributes,
        record_exception=False,  # a message or a traceback could carry an IIN or a URL
        set_status_on_exception=False,  # its description would be the exception's message
    )


def annotate(attributes: dict[str, Any]) -> None:
    """Set attributes of the current span (the request's, at the edge); nothing when off."""
    if _TRACER.get() is not None:
        trace.get_current_span().set_attributes(attributes)


def failed(current: Span | None, kind: str) -> None:
    """Mark a span failed with an error kind (``timeout``, ``http_503``, a class name)."""
    if current is not None:
        current.set_attribute("error.type", kind)
        current.set_status(Status(StatusCode.ERROR))


def inject_traceparent(headers: MutableMapping[str, str]) -> None:
    """Add the W3C ``traceparent`` of the current span to outgoing ``headers``."""
    _PROPAGATOR.inject(headers)


def route_template(path: str) -> str:
    """A URL path with every segment that may be data replaced: ``{iin}`` for 12 digits,
    ``{id}`` for anything but a word or an API version (LIS and DPS carry the IIN in theirs)."""
    segments = []
    for segment in path.split("/"):
        if _PLAIN_SEGMENT.fullmatch(segment):
            segments.append(segment)
        elif _IIN_SEGMENT.fullmatch(segment):
            segments.append("{iin}")
        else:
            segments.append("{id}")
    return "/".join(segments)


class TracedRequests:
    """Pure ASGI middleware: a server span per request, continuing a caller's ``traceparent``,
    and the tracer in context for every span made below it."""

    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        self.app = app
        self.tracing = tracing
        self.tracer = tracing.tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request inside its span; probes are not traced."""
        if scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name in (b"traceparent", b"tracestate")
        }
        method = scope["method"]
        attributes = {"http.request.method": method, "url.scheme": scope.get("scheme", "http")}
        request_id = scope.get("state", {}).get("request_id")
        if request_id:
            attributes["ehp.request_id"] = request_id
        parent = _PROPAGATOR.extract(carrier)
        with started(self.tracer, method, attributes, SpanKind.SERVER, parent) as current:
            if not current.is_recording():
                # Not sampled: the request runs as with tracing off, its loads make no spans.
                await self.app(scope, receive, send)
                return

            async def traced_send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = message["status"]
                    current.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        failed(current, str(status))
                await send(message)

            try:
                with traced(self.tracing):
                    await self.app(scope, receive, traced_send)
            except BaseException as error:
                failed(current, type(error).__name__)
                raise
            finally:
                # The router put the matched route in the scope: its template, never the
                # path (/fhir/Patient/{iin}/$summary).
                route = getattr(scope.get("route"), "path", None)
                if route:
                    current.set_attribute("http.route", route)
                    current.update_name(f"{method} {route}")


__all__ = [
    "Span",
    "SpanKind",
    "TracedRequests",
    "Tracing",
    "annotate",
    "current_tracer",
    "failed",
    "inject_traceparent",
    "route_template",
    "span",
    "started",
    "traced",
]
