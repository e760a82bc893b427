"""Spans of the fetcher and of upstream calls, route templates, and tracing off.

Spans go to the SDK's in-memory exporter here; tests/e2e/test_tracing.py sends them over
OTLP/HTTP from a running gateway.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gateway import telemetry
from gateway.config import SourceSettings
from gateway.deadline import Deadline
from gateway.sources.errors import SourceError
from gateway.sources.fetcher import RECORD_CODEC
from gateway.sources.http import ClientOptions, fetch, new_client
from gateway.telemetry import Tracing, route_template, service_resource, traced
from tests.gateway.cache.test_fetcher import Clock, Loader, make

IIN = "900101300123"


@pytest.fixture
def spans() -> Iterator[tuple[Tracing, InMemorySpanExporter]]:
    """A tracer provider whose spans are kept in memory."""
    exporter = InMemorySpanExporter()
    tracing = Tracing("http://127.0.0.1:1", exporter=exporter)
    yield tracing, exporter
    tracing.shutdown()


def finished(tracing: Tracing, exporter: InMemorySpanExporter) -> list:
    tracing.provider.force_flush()
    return list(exporter.get_finished_spans())


@pytest.mark.parametrize(
    ("path", "template"),
    [
        (f"/api/v2/patients/{IIN}/orders", "/api/v2/patients/{iin}/orders"),
        (f"/v1/patients/{IIN}/prescriptions", "/v1/patients/{iin}/prescriptions"),
        ("/fhir/Patient", "/fhir/Patient"),
        ("/fhir/Practitioner/P0100007", "/fhir/Practitioner/{id}"),
        ("/fhir/Patient/abc-123/$everything", "/fhir/Patient/{id}/$everything"),
        ("/api/calls", "/api/calls"),
        ("/names/Әуезова", "/names/{id}"),  # anything not plain ASCII words is data
        (f"/x/{IIN}0", "/x/{id}"),
        ("", ""),
    ],
)
def test_route_templates_keep_words_and_versions_only(path: str, template: str) -> None:
    assert route_template(path) == template


def test_without_tracing_nothing_is_made() -> None:
    assert telemetry.current_tracer() is None
    with telemetry.span("audit append") as current:
        assert current is None
    telemetry.annotate({"ehp.role": "DOCTOR"})  # no span, no error


async def test_each_load_is_a_span_saying_how_the_cache_answered(spans) -> None:
    tracing, exporter = spans
    clock = Clock()
    fetcher = make(clock)
    key = fetcher.key("lis", "lab", IIN)
    options = {"ttl_s": 60, "codec": RECORD_CODEC, "timeout_s": 1.0}
    loader = Loader({"orders": 1}, SourceError("lis", "bad_response", "garbled"))
    with traced(tracing):
        first = await fetcher.fetch(key, loader, deadline=Deadline.after(2), **options)
        again = await fetcher.fetch(key, loader, deadline=Deadline.after(2), **options)
        assert fetcher.fresh_now(key, ttl_s=60, codec=RECORD_CODEC) is not None
        clock.advance(120)  # no longer fresh: the source is asked and fails
        stale = await fetcher.fetch(key, loader, deadline=Deadline.after(2), **options)
    await fetcher.close()
    assert (first.ok, again.ok, stale.stale) == (True, True, True)
    loads = finished(tracing, exporter)
    assert [s.name for s in loads] == ["load lis"] * 4
    cache = [s.attributes["ehp.cache"] for s in loads]
    assert cache == ["miss", "hit", "hit", "stale"]
    assert [s.attributes["ehp.source.outcome"] for s in loads] == ["ok"] * 3 + ["bad_response"]
    assert loads[3].status.status_code is StatusCode.ERROR
    assert loads[3].attributes["error.type"] == "bad_response"
    assert {s.attributes["ehp.source.item"] for s in loads} == {"lab"}
    for span in loads:
        assert IIN not in str(dict(span.attributes))
        assert not span.events


async def test_loads_are_not_traced_when_tracing_is_off(spans) -> None:
    tracing, exporter = spans
    fetcher = make()
    key = fetcher.key("lis", "lab", IIN)
    fetched = await fetcher.fetch(
        key, Loader({"orders": 1}), ttl_s=60, deadline=Deadline.after(2), codec=RECORD_CODEC
    )
    await fetcher.close()
    assert fetched.ok
    assert finished(tracing, exporter) == []


def lis_settings() -> SourceSettings:
    return SourceSettings(name="lis", kind="lis-json", base_url="http://lis.test", api_key="k")


async def test_an_upstream_call_is_a_client_span_and_sends_its_traceparent(spans) -> None:
    tracing, exporter = spans
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503 if "fail" in request.url.path else 200, json={})

    client = new_client(lis_settings(), ClientOptions(), transport=httpx.MockTransport(answer))
    with traced(tracing):
        with telemetry.span("load lis"):
            reply = await fetch(
                client, "lis", "GET", f"/api/v2/patients/{IIN}/orders", params=[("iin", IIN)]
            )
        failing = await fetch(client, "lis", "GET", "/fail")
    await client.aclose()
    assert (reply.status, failing.status) == (200, 503)
    calls = [s for s in finished(tracing, exporter) if s.kind is SpanKind.CLIENT]
    assert [s.name for s in calls] == ["GET /api/v2/patients/{iin}/orders", "GET /fail"]
    first, second = calls
    assert first.attributes["url.template"] == "/api/v2/patients/{iin}/orders"
    assert first.attributes["http.response.status_code"] == 200
    assert first.attributes["server.address"] == "lis.test"
    assert second.status.status_code is StatusCode.ERROR
    for span in calls:
        assert IIN not in str(dict(span.attributes)) and IIN not in span.name
    # The source got the traceparent of the call's own span.
    context = first.get_span_context()
    version, trace_id, parent_id, _ = seen[0].headers["traceparent"].split("-")
    assert (version, trace_id, parent_id) == (
        "00",
        format(context.trace_id, "032x"),
        format(context.span_id, "016x"),
    )


async def test_without_tracing_no_traceparent_is_sent() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    client = new_client(lis_settings(), ClientOptions(), transport=httpx.MockTransport(answer))
    await fetch(client, "lis", "GET", "/api/calls")
    await client.aclose()
    assert "traceparent" not in seen[0].headers


async def test_a_failed_call_records_its_kind_never_its_message(spans) -> None:
    tracing, exporter = spans

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")  # the URL holds the IIN

    client = new_client(lis_settings(), ClientOptions(), transport=httpx.MockTransport(refuse))
    with traced(tracing), pytest.raises(SourceError):
        await fetch(client, "lis", "GET", f"/api/v2/patients/{IIN}/orders")
    await client.aclose()
    (call,) = finished(tracing, exporter)
    assert call.attributes["error.type"] == "connect"
    assert call.status.status_code is StatusCode.ERROR
    assert not call.status.description and not call.events


def test_the_service_is_named_unless_the_environment_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    assert service_resource().attributes["service.name"] == "ehp-gateway"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "ehp-gateway-staging")
    assert service_resource().attributes["service.name"] == "ehp-gateway-staging"
