"""Each HTTP transport of the factory against a real loopback server: a bounded pool that reuses
its connections, size caps that leave no half-read connection behind, deadlines that cancel,
the request hook on every request, and authlib's OAuth2 flow on the direct reads."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import httpx
import pytest

from gateway.config import SourceSettings
from gateway.sources import http
from gateway.sources.dps import DpsAdapter
from gateway.sources.errors import SourceError
from gateway.sources.registry import create_client

TRANSPORTS = ("aiohttp", "httpx-aiohttp", "httpcore")
IIN = "900101300007"


@dataclass
class Seen:
    """One request as the server read it."""

    connection: int
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


Answer = Callable[[Seen], Awaitable[tuple[int, dict[str, str], bytes | list[bytes]]]]


@dataclass
class Upstream:
    """A raw HTTP/1.1 server in the test's loop: counts connections and requests in flight."""

    answer: Answer
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    open_now: int = 0
    peak_open: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    url: str = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        self.open_now += 1
        self.peak_open = max(self.peak_open, self.open_now)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip()
                    for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                seen = Seen(connection, method, target, headers, body)
                self.seen.append(seen)
                self.in_flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                try:
                    status, extra, content = await self.answer(seen)
                finally:
                    self.in_flight -= 1
                chunked = isinstance(content, list)
                framing = (
                    "Transfer-Encoding: chunked"
                    if chunked
                    else f"Content-Length: {extra.pop('Content-Length', len(content))}"
                )
                out = [f"HTTP/1.1 {status} X", framing, *(f"{k}: {v}" for k, v in extra.items())]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode())
                if chunked:
                    for part in content:
                        writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                        await writer.drain()
                    writer.write(b"0\r\n\r\n")
                else:
                    writer.write(content)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open_now -= 1
            writer.close()


@contextlib.asynccontextmanager
async def upstream(answer: Answer, path: str = "/api") -> AsyncIterator[Upstream]:
    server_state = Upstream(answer)
    server = await asyncio.start_server(server_state._serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server_state.url = f"http://127.0.0.1:{port}{path}"
    async with server:
        yield server_state


def json_answer(body: bytes = b'{"ok": true}', delay_s: float = 0.0) -> Answer:
    async def answer(seen: Seen):
        if delay_s:
            await asyncio.sleep(delay_s)
        return 200, {"Content-Type": "application/json"}, body

    return answer


@pytest.fixture(params=TRANSPORTS)
def transport(request, monkeypatch) -> str:
    monkeypatch.setattr(http, "TRANSPORT", request.param)
    return request.param


def lis_settings(url: str, **overrides) -> SourceSettings:
    values = {
        "name": "lis",
        "kind": "lis-json",
        "base_url": url,
        "api_key": "k3y",
        "timeout_ms": 2000,
        "max_connections": 3,
    }
    values.update(overrides)
    return SourceSettings(**values)


async def test_the_pool_is_bounded_and_its_connections_reused(transport):
    async with (
        upstream(json_answer(delay_s=0.03)) as server,
        create_client(lis_settings(server.url)) as client,
    ):
        replies = await asyncio.gather(
            *(http.fetch(client, "lis", "GET", f"/x/{i}") for i in range(12))
        )
        for i in range(5):  # one at a time: a kept-alive connection each time
            await http.fetch(client, "lis", "GET", f"/y/{i}")
    assert [r.body for r in replies] == [b'{"ok": true}'] * 12
    assert server.peak_in_flight == 3  # max_connections
    assert server.connections == 3  # and no new one for the later requests
    assert {s.target for s in server.seen} >= {"/api/x/0", "/api/x/11", "/api/y/4"}


async def test_requests_carry_the_source_headers(transport):
    async with (
        upstream(json_answer()) as server,
        create_client(lis_settings(server.url)) as client,
    ):
        # "aiohttp" reads answers straight through the pool; the others go through httpx.
        assert (client in http._DIRECT) == (transport == "aiohttp")
        await http.fetch(client, "lis", "GET", "/orders", params=[("page", "2")])
    seen = server.seen[0]
    assert seen.target == "/api/orders?page=2"
    assert seen.headers["x-api-key"] == "k3y"
    assert seen.headers["user-agent"] == http.USER_AGENT
    assert seen.headers["accept"] == "application/json"


async def test_basic_auth_on_every_request(transport):
    async with upstream(json_answer()) as server:
        settings = SourceSettings(
            name="ambulance",
            kind="ambulance-xml",
            base_url=server.url,
            username="ehp",
            password="pw",
        )
        async with create_client(settings) as client:
            await http.fetch(client, "ambulance", "GET", "/api/calls")
    assert server.seen[0].headers["authorization"] == "Basic ZWhwOnB3"


async def test_an_oversize_answer_is_refused_and_its_connection_never_reused(transport):
    async def answer(seen: Seen):
        if seen.target.endswith("/big"):
            return 200, {}, [b"x" * 4096] * 8  # chunked: no length announced
        return 200, {}, b"small"

    async with upstream(answer) as server:
        settings = lis_settings(server.url, max_connections=1)
        async with create_client(settings) as client:
            with pytest.raises(SourceError) as raised:
                await http.fetch(client, "lis", "GET", "/big", max_bytes=10_000)
            assert raised.value.kind == "too_large"
            reply = await http.fetch(client, "lis", "GET", "/next", max_bytes=10_000)
    assert reply.body == b"small"  # not the rest of the big answer


async def test_a_declared_oversize_answer_is_refused_before_reading(transport):
    async def answer(seen: Seen):
        return 200, {}, b"y" * 5000

    async with upstream(answer) as server, create_client(lis_settings(server.url)) as client:
        with pytest.raises(SourceError) as raised:
            await http.fetch(client, "lis", "GET", "/big", max_bytes=4000)
        assert raised.value.kind == "too_large"
        assert (await http.fetch(client, "lis", "GET", "/big", max_bytes=5000)).body == (
            b"y" * 5000
        )


async def test_a_deadline_cancels_the_call_and_the_pool_still_serves(transport):
    async def answer(seen: Seen):
        if seen.target.endswith("/hang"):
            await asyncio.sleep(30)
        return 200, {}, b"fine"

    async with (
        upstream(answer) as server,
        create_client(lis_settings(server.url, max_connections=1)) as client,
    ):
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):  # the fetcher's deadline, as in Fetcher._call
                await http.fetch(client, "lis", "GET", "/hang")
        assert asyncio.get_running_loop().time() - started < 1.0
        reply = await http.fetch(client, "lis", "GET", "/after")
    assert reply.body == b"fine"


async def test_the_source_timeout_holds_without_a_deadline(transport):
    async def answer(seen: Seen):
        await asyncio.sleep(30)
        return 200, {}, b""

    async with (
        upstream(answer) as server,
        create_client(lis_settings(server.url, timeout_ms=200)) as client,
    ):
        with pytest.raises(SourceError) as raised:
            await http.fetch(client, "lis", "GET", "/slow")
    assert raised.value.kind == "timeout"


async def test_a_refused_connection_is_a_connect_error(transport):
    async with upstream(json_answer()) as server:
        url = server.url
    async with create_client(lis_settings(url)) as client:  # the server is gone
        with pytest.raises(SourceError) as raised:
            await http.fetch(client, "lis", "GET", "/x")
    assert raised.value.kind == "connect"


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.2:9/api/x",  # another host
        "{origin}/elsewhere",  # the source's host, outside its base path
        "../admin",
        "/../admin",
        "%2e%2e/admin",
    ],
)
async def test_nothing_is_sent_outside_the_base(transport, target):
    async with upstream(json_answer()) as server:
        origin = server.url.removesuffix("/api")
        async with create_client(lis_settings(server.url)) as client:
            with pytest.raises(SourceError) as raised:
                await http.fetch(client, "lis", "GET", target.format(origin=origin))
    assert raised.value.kind == "bad_response"
    assert server.seen == []


async def test_a_direct_read_sends_nothing_it_would_have_to_requote(monkeypatch):
    monkeypatch.setattr(http, "TRANSPORT", "aiohttp")
    async with (
        upstream(json_answer()) as server,
        create_client(lis_settings(server.url)) as client,
    ):
        for target in ("/x y", "/x\r\nHost: evil.test", "/\u0434", "/x\ty"):
            with pytest.raises(SourceError) as raised:
                await http.fetch(client, "lis", "GET", target)
            assert raised.value.kind == "bad_response"
    assert server.seen == []


BASE = httpx.URL("http://ehr.test:8080/fhir/")


@pytest.mark.parametrize(
    "url",
    [
        "http://ehr.test:8080/fhir",
        "http://ehr.test:8080/fhir/Patient?identifier=urn:kz:iin|1",
        "http://EHR.test:8080/fhir/Patient",
        "http://ehr.test:8080/fhir/a/%2e%2e/b",
        "http://ehr.test:8080/fhir/%2E%2E/admin",
        "http://ehr.test:8080/fhir/..%2fadmin",
        "http://ehr.test:8080/fhir/a%5c..%5cadmin",
        "http://ehr.test:8080/fhir/../admin",
        "http://ehr.test:8080/fhirx",
        "http://ehr.test:8080/admin",
        "http://ehr.test/fhir/Patient",
        "http://ehr.test:8081/fhir/Patient",
        "https://ehr.test:8080/fhir/Patient",
        "http://user:pw@ehr.test:8080/fhir/Patient",
        "http://evil.test:8080/fhir/Patient",
    ],
)
def test_the_direct_reads_check_agrees_with_the_hook(url):
    # Either both admit the URL, or the direct read refuses it (never admits more).
    hook = http.within_base(BASE, httpx.URL(url))
    sent = http.within_base_sent(BASE, url)
    assert (sent is not None) == hook or (hook and sent is None and ".." in url)
    if sent is not None:
        assert str(sent) == url  # sent as it is


def test_a_default_port_is_no_port_for_either_check():
    base = httpx.URL("http://ehr.test/fhir/")
    assert http.within_base_sent(base, "http://ehr.test:80/fhir/x") is not None
    assert http.within_base_sent(base, "http://ehr.test:81/fhir/x") is None


# --- authlib's OAuth2 client on the chosen transport --------------------------------------


class Dps:
    """A DPS over real HTTP: a token endpoint and an API that wants the latest token."""

    def __init__(self, expires_in: int = 300, reject: frozenset[str] = frozenset()) -> None:
        self.expires_in = expires_in
        self.reject = reject
        self.tokens: list[dict[str, str]] = []
        self.api: list[Seen] = []

    async def __call__(self, seen: Seen):
        if seen.target.endswith("/oauth/token"):
            self.tokens.append(dict(parse_qsl(seen.body.decode())))
            token = f"tok-{len(self.tokens)}"
            body = (
                f'{{"access_token": "{token}", "token_type": "Bearer", '
                f'"expires_in": {self.expires_in}}}'
            ).encode()
            return 200, {"Content-Type": "application/json"}, body
        self.api.append(seen)
        token = seen.headers.get("authorization", "").removeprefix("Bearer ")
        if not token or token in self.reject:
            return 401, {"Content-Type": "application/json"}, b'{"error": "invalid_token"}'
        return 200, {"Content-Type": "application/json"}, b'{"items": []}'


def dps_adapter(url: str) -> DpsAdapter:
    settings = SourceSettings(
        name="drugs", kind="dps-json", base_url=url, client_id="gw", client_secret="s3cret"
    )
    return DpsAdapter(settings, create_client(settings))


async def test_oauth2_token_is_fetched_once_and_sent_with_every_call(transport):
    dps = Dps()
    async with upstream(dps, "/dps") as server:
        drugs = dps_adapter(server.url)
        await asyncio.gather(*(drugs.active_prescriptions(IIN) for _ in range(4)))
        await drugs.client.aclose()
    assert len(dps.tokens) == 1
    assert dps.tokens[0]["client_secret"] == "s3cret"
    assert [s.headers["authorization"] for s in dps.api] == ["Bearer tok-1"] * 4
    assert server.seen[0].target == "/dps/oauth/token"  # within the base, like every call


async def test_oauth2_token_near_expiry_is_renewed_before_the_call(transport):
    dps = Dps(expires_in=10)  # inside authlib's 60 s leeway: due at once
    async with upstream(dps, "/dps") as server:
        drugs = dps_adapter(server.url)
        await drugs.active_prescriptions(IIN)
        await drugs.active_prescriptions(IIN)
        await drugs.client.aclose()
    assert len(dps.tokens) >= 2
    assert dps.api[-1].headers["authorization"] == f"Bearer tok-{len(dps.tokens)}"


async def test_oauth2_401_fetches_one_new_token_and_retries(transport):
    dps = Dps(reject=frozenset({"tok-1"}))
    async with upstream(dps, "/dps") as server:
        drugs = dps_adapter(server.url)
        assert (await drugs.active_prescriptions(IIN)).value == []
        await drugs.client.aclose()
    assert [s.headers["authorization"] for s in dps.api] == ["Bearer tok-1", "Bearer tok-2"]
    assert len(dps.tokens) == 2
