"""The client factory, bounded reads and the mapping of HTTP failures to SourceError."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import SourceSettings
from gateway.sources.errors import SourceError, error_from_exception, retry_after_seconds
from gateway.sources.http import USER_AGENT, fetch, query_string, raise_for_reply
from gateway.sources.registry import create_client

IIN = "900101300007"


def make_settings(kind: str = "fhir-ehr", **overrides) -> SourceSettings:
    values = {
        "name": "src",
        "kind": kind,
        "base_url": "http://upstream.test/fhir/",
        "region": "astana" if kind == "fhir-ehr" else None,
        "timeout_ms": 1234,
        "max_connections": 7,
    }
    values.update(overrides)
    return SourceSettings(**values)


def recording(handler):
    seen: list[httpx.Request] = []

    def transport(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return seen, httpx.MockTransport(transport)


async def test_factory_sets_base_url_timeout_redirects_and_user_agent():
    seen, transport = recording(lambda r: httpx.Response(200, json={}))
    client = create_client(make_settings(token="t0k"), transport=transport)
    assert client.timeout == httpx.Timeout(1.234)
    assert client.follow_redirects is False
    await client.get("Patient")
    request = seen[0]
    assert str(request.url) == "http://upstream.test/fhir/Patient"
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["authorization"] == "Bearer t0k"
    assert request.headers["accept"] == "application/fhir+json"


async def test_factory_auth_per_kind():
    seen, transport = recording(lambda r: httpx.Response(200, json={}))
    lis = create_client(make_settings("lis-json", api_key="k3y"), transport=transport)
    ambulance = create_client(
        make_settings("ambulance-xml", username="ehp", password="pw"), transport=transport
    )
    await lis.get("/x")
    await ambulance.get("/x")
    assert seen[0].headers["x-api-key"] == "k3y"
    assert "authorization" not in seen[0].headers
    expected = "Basic " + base64.b64encode(b"ehp:pw").decode()
    assert seen[1].headers["authorization"] == expected


def test_factory_makes_oauth_client_for_dps():
    client = create_client(make_settings("dps-json", client_id="gw", client_secret="s"))
    from authlib.integrations.httpx_client import AsyncOAuth2Client  # after: the factory imports it

    assert isinstance(client, AsyncOAuth2Client)
    assert client.metadata["token_endpoint"] == "/oauth/token"
    assert client.scope == "read"


@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=4))
def test_query_string_is_what_quote_makes_of_each_part(params):
    # The plain-text shortcut must give exactly quote's encoding, for any text.
    expected = "&".join(f"{quote(k, safe='_:.-')}={quote(v, safe=',|:.-_~')}" for k, v in params)
    assert query_string(params) == expected


def test_query_string_keeps_fhir_separators_literal():
    query = query_string([("identifier", "urn:kz:bin|1,urn:kz:bin|2"), ("date", "ge2026-01-01")])
    assert query == "identifier=urn:kz:bin|1,urn:kz:bin|2&date=ge2026-01-01"
    assert query_string([("name", "a&b=c")]) == "name=a%26b%3Dc"


async def test_fetch_stops_reading_beyond_the_cap():
    async def endless():
        for _ in range(100):
            yield b"x" * 1024

    _, transport = recording(lambda r: httpx.Response(200, content=endless()))
    client = create_client(make_settings(), transport=transport)
    with pytest.raises(SourceError) as raised:
        await fetch(client, "src", "GET", "Patient", max_bytes=10_000)
    assert raised.value.kind == "too_large"


async def test_fetch_refuses_a_declared_oversize_body():
    _, transport = recording(lambda r: httpx.Response(200, content=b"y" * 5000))
    client = create_client(make_settings(), transport=transport)
    with pytest.raises(SourceError) as raised:
        await fetch(client, "src", "GET", "Patient", max_bytes=4000)
    assert raised.value.kind == "too_large"
    reply = await fetch(client, "src", "GET", "Patient", max_bytes=5000)
    assert reply.body == b"y" * 5000


@pytest.mark.parametrize(
    ("exception", "kind"),
    [
        (httpx.ConnectTimeout("timed out"), "timeout"),
        (httpx.ReadTimeout("timed out"), "timeout"),
        (httpx.ConnectError("refused"), "connect"),
        (httpx.RemoteProtocolError("garbage"), "bad_response"),
    ],
)
async def test_transport_failures_become_source_errors(exception, kind):
    def fail(request):
        raise exception

    client = create_client(make_settings(), transport=httpx.MockTransport(fail))
    with pytest.raises(SourceError) as raised:
        await fetch(client, "src", "GET", f"Patient?identifier=urn:kz:iin|{IIN}")
    assert raised.value.kind == kind
    assert raised.value.source == "src"
    assert IIN not in str(raised.value)
    assert raised.value.__cause__ is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, "unauthorized"), (403, "unauthorized"), (404, "http_404"), (503, "http_503")],
)
async def test_bad_statuses_become_source_errors(status, kind):
    body = {"code": f"failed for {IIN} at http://upstream.test/secret?iin={IIN}"}
    _, transport = recording(lambda r: httpx.Response(status, json=body))
    client = create_client(make_settings(), transport=transport)
    reply = await fetch(client, "src", "GET", "x")
    with pytest.raises(SourceError) as raised:
        raise_for_reply("src", reply)
    assert raised.value.kind == kind
    assert IIN not in str(raised.value)
    assert "http://" not in str(raised.value)


async def test_redirects_are_not_followed():
    seen, transport = recording(
        lambda r: httpx.Response(302, headers={"Location": "http://elsewhere.test/"})
    )
    client = create_client(make_settings(), transport=transport)
    reply = await fetch(client, "src", "GET", "x")
    assert len(seen) == 1
    with pytest.raises(SourceError) as raised:
        raise_for_reply("src", reply)
    assert raised.value.kind == "http_302"


async def test_rate_limited_carries_retry_after():
    _, transport = recording(lambda r: httpx.Response(429, headers={"Retry-After": "12"}))
    client = create_client(make_settings(), transport=transport)
    reply = await fetch(client, "src", "GET", "x")
    with pytest.raises(SourceError) as raised:
        raise_for_reply("src", reply)
    assert raised.value.kind == "rate_limited"
    assert raised.value.retry_after_s == 12.0


def test_retry_after_forms():
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < retry_after_seconds(later) <= 120


def test_unexpected_exceptions_are_bad_responses():
    error = error_from_exception("src", KeyError("orderNo"))
    assert (error.kind, error.source) == ("bad_response", "src")
