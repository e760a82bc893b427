"""The one place HTTP clients for source systems are made, and the one way answers are read.

Every client is an ``httpx.AsyncClient`` (authlib's OAuth2 client is one too); what moves the
bytes under it is chosen by ``TRANSPORT``, one line below (bench/README.md, S6, measured them
side by side).
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import yarl

from gateway.config import SourceSettings
from gateway.sources.errors import (
    BAD_RESPONSE,
    SourceError,
    error_for_status,
    source_errors,
)
from gateway.sources.pool import SourcePool, read_capped
from gateway.telemetry import SpanKind, current_tracer, failed, inject_traceparent, route_template
from gateway.telemetry import started as started_span

# What moves the bytes: "aiohttp" (answers read by ``fetch`` go straight through aiohttp;
# anything else the client sends, e.g. authlib's token calls, through httpx on the same pool),
# "httpx-aiohttp" (everything through httpx, over aiohttp's pool) or "httpcore" (httpx's own
# transport, whose pool probes every pooled connection's socket on each request).
TRANSPORT = "aiohttp"
KEEPALIVE_S = 30.0

USER_AGENT = "ehp-gateway/0.1 (+https://github.com/ehp-kz)"
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
_IIN = re.compile(r"[0-9]{12}")
_UNSAFE = re.compile(r"[^\x21-\x7e]")  # controls, spaces, non-ASCII: never in a URL we send
_DEFAULT_PORTS = {"http": 80, "https": 443}
# The clients whose answers ``fetch`` reads straight through their pool (TRANSPORT "aiohttp").
_DIRECT: weakref.WeakKeyDictionary[httpx.AsyncClient, SourcePool] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class ClientOptions:
    """What one kind of source needs of its HTTP client: headers, auth, and the client class
    (each adapter says, in ``client_options``)."""

    headers: Mapping[str, str] = field(default_factory=dict)
    auth: httpx.Auth | None = None
    client_class: type[httpx.AsyncClient] = httpx.AsyncClient
    client_kwargs: Mapping[str, Any] = field(default_factory=dict)


def new_client(settings: SourceSettings, options: ClientOptions, **extra: Any) -> httpx.AsyncClient:
    """Make the HTTP client of one source: base URL, timeout, pool limits, and ``options``.

    ``extra`` is passed to the client (tests give ``transport=httpx.MockTransport(...)``).
    """
    headers = {"User-Agent": USER_AGENT, **options.headers}
    headers.update(extra.pop("headers", {}))
    timeout_s = settings.timeout_ms / 1000
    limits = httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=settings.max_connections,
        keepalive_expiry=KEEPALIVE_S,
    )
    auth = {"auth": options.auth} if options.auth is not None else {}
    pool = None
    if "transport" not in extra:  # tests bring a MockTransport
        if TRANSPORT == "httpcore":
            extra["transport"] = httpx.AsyncHTTPTransport(limits=limits, http1=True, http2=False)
        elif TRANSPORT in ("aiohttp", "httpx-aiohttp"):
            pool = SourcePool(limits, timeout_s)
            extra["transport"] = pool.transport()
        else:
            raise ValueError(f"unknown HTTP transport {TRANSPORT!r}")
    client = options.client_class(
        base_url=settings.base_url.rstrip("/"),
        timeout=httpx.Timeout(timeout_s),
        limits=limits,
        http1=True,
        http2=False,
        follow_redirects=False,
        headers=headers,
        **auth,
        **options.client_kwargs,
        **extra,
    )
    # Every request the client sends passes here: ours, authlib's token calls, any redirect.
    hooks = client.event_hooks
    hooks["request"] = [*hooks["request"], refuse_outside(settings.name, client.base_url)]
    client.event_hooks = hooks
    if pool is not None and TRANSPORT == "aiohttp":
        pool.bind(client, options.auth)
        _DIRECT[client] = pool
    return client


def within_base(base: httpx.URL, url: httpx.URL) -> bool:
    """Whether ``url`` stays on ``base``: same scheme, host and port, no user info, and a path
    at or under base's path without dot segments or backslashes (a server would resolve
    those out of it)."""
    # url.path is percent-decoded, so %2e%2e and %2f are seen for what they are.
    return _within(base, url.scheme, url.host, url.port, bool(url.userinfo), url.path)


def within_base_sent(base: httpx.URL, target: str) -> yarl.URL | None:
    """The URL to hand aiohttp for ``target`` if it is ``within_base``, else None. It is sent as
    it is (``encoded=True``: not normalised, not requoted), so only printable ASCII without
    spaces is admitted."""
    if _UNSAFE.search(target):
        return None
    url = yarl.URL(target, encoded=True)
    port = url.explicit_port
    if port is not None and port == _DEFAULT_PORTS.get(url.scheme):
        port = None  # httpx.URL's rule: the scheme's own port is no port
    userinfo = url.raw_user is not None or url.raw_password is not None
    return url if _within(base, url.scheme, url.host or "", port, userinfo, url.path) else None


def _within(
    base: httpx.URL, scheme: str, host: str, port: int | None, userinfo: bool, path: str
) -> bool:
    """The one origin and path rule of ``within_base`` and ``within_base_sent``."""
    if (scheme, host, port) != (base.scheme, base.host, base.port) or userinfo:
        return False
    root = base.path.rstrip("/")
    if path != root and not path.startswith(root + "/"):
        return False
    return "\\" not in path and not any(part in (".", "..") for part in path.split("/"))


def resolve_within(source: str, base: httpx.URL, link: str) -> httpx.URL:
    """A link a source gave us (e.g. a FHIR ``next``), resolved against ``base``; a
    SourceError (bad_response) unless it stays within ``base`` (``within_base``)."""
    try:
        url = base.join(link)
    except httpx.InvalidURL:
        raise SourceError(source, BAD_RESPONSE, "unreadable link") from None
    if not within_base(base, url):
        raise SourceError(source, BAD_RESPONSE, "link outside the source's base URL")
    return url


class OutsideRefused:
    """The request hook of ``refuse_outside``; the direct reads (``pool.py``) ask it too,
    with the very URL they hand to aiohttp."""

    def __init__(self, source: str, base: httpx.URL) -> None:
        self.source = source
        self.base = base

    async def __call__(self, request: httpx.Request) -> None:
        """Refuse a request httpx is about to send outside the base."""
        if not within_base(self.base, request.url):
            raise SourceError(self.source, BAD_RESPONSE, "request outside the source's base URL")

    def check_sent(self, target: str) -> yarl.URL:
        """The URL a direct read may send for ``target``; refused outside the base."""
        url = within_base_sent(self.base, target)
        if url is None:
            raise SourceError(self.source, BAD_RESPONSE, "request outside the source's base URL")
        return url


def refuse_outside(source: str, base: httpx.URL) -> OutsideRefused:
    """A request hook that stops, before a byte is sent, any request not ``within_base``:
    our credentials go to the configured source and nowhere else."""
    return OutsideRefused(source, base)


def query_string(params: Sequence[tuple[str, str]]) -> str:
    """Encode query parameters keeping ``, | :`` literal (FHIR OR lists and token systems)."""
    return "&".join(f"{_quoted_key(k)}={_quoted_value(v)}" for k, v in params)


# What ``quote`` leaves as it is (its own safe set, letters, digits and ``_.-~``, plus ours):
# most keys and values are only that, and a match costs a tenth of quote's per-byte work.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.~:-]*")
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.~,|:-]*")


def _quoted_key(key: str) -> str:
    return key if _PLAIN_KEY.fullmatch(key) else quote(key, safe="_:.-")


def _quoted_value(value: str) -> str:
    return value if _PLAIN_VALUE.fullmatch(value) else quote(value, safe=",|:.-_~")


@dataclass(frozen=True, slots=True)
class Reply:
    """A whole upstream answer: status, headers and the (size-capped) body."""

    status: int
    headers: httpx.Headers
    body: bytes


async def fetch(
    client: httpx.AsyncClient,
    source: str,
    method: str,
    url: str,
    *,
    params: Sequence[tuple[str, str]] | None = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Reply:
    """Send one request and read its answer, at most ``max_bytes``; raise SourceError only.

    With tracing on, the call is a client span (method, the route template of its path, never
    the path or query) and the source gets its W3C ``traceparent``.
    """
    if params:
        url = f"{url}?{query_string(params)}"
    tracer = current_tracer()
    if tracer is None:
        return await _exchange(client, source, method, url, content, headers, max_bytes)
    target = client.base_url.join(url)
    route = route_template(target.path)
    attributes = {
        "ehp.source": source,
        "http.request.method": method,
        "url.template": route,
        "server.address": target.host,
        "server.port": target.port or (443 if target.scheme == "https" else 80),
    }
    with started_span(tracer, f"{method} {route}", attributes, SpanKind.CLIENT) as span:
        traced = dict(headers or {})
        inject_traceparent(traced)
        try:
            reply = await _exchange(client, source, method, url, content, traced, max_bytes)
        except SourceError as error:
            failed(span, error.kind)
            raise
        except asyncio.CancelledError:  # the deadline or the caller gave up on it
            failed(span, "cancelled")
            raise
        span.set_attribute("http.response.status_code", reply.status)
        if reply.status >= 400:
            failed(span, str(reply.status))
        return reply


async def _exchange(
    client: httpx.AsyncClient,
    source: str,
    method: str,
    url: str,
    content: bytes | None,
    headers: Mapping[str, str] | None,
    max_bytes: int,
) -> Reply:
    """One request and its size-capped answer (``fetch`` without the span)."""
    pool = _DIRECT.get(client)
    with source_errors(source):
        if pool is not None:
            status, answer_headers, body = await pool.read(
                client, source, method, url, content, headers, max_bytes
            )
            return Reply(status, answer_headers, body)
        async with client.stream(method, url, content=content, headers=headers) as response:
            length = response.headers.get("content-length")
            declared = int(length) if length and length.isdigit() else None
            body = await read_capped(source, declared, response.aiter_bytes(), max_bytes)
            return Reply(response.status_code, response.headers, body)


def raise_for_reply(source: str, reply: Reply) -> None:
    """Raise the SourceError a non-2xx answer stands for."""
    error = error_for_status(source, reply.status, reply.headers, reply.body)
    if error is not None:
        raise error


def require_iin(iin: str) -> str:
    """Refuse anything but 12 digits before it reaches a URL (the schema validated it already)."""
    if not isinstance(iin, str) or not _IIN.fullmatch(iin):
        raise ValueError("IIN must be 12 digits")
    return iin
