"""One source's connection pool (aiohttp), and the direct read of an answer through it.

Each source's ``httpx.AsyncClient`` sits on a ``SourcePool``: its transport (httpx-aiohttp)
and ``read`` share one aiohttp session, so one bounded pool per source serves both. ``read``
is what ``http.fetch`` uses for the clients the factory made: the same request as httpx
would send (base URL, default headers, auth), checked by the client's request hooks
(``refuse_outside`` checks the very URL handed to aiohttp), without httpx's per-request
machinery, which costs about as much CPU as the whole aiohttp round trip.
aiohttp takes an idle connection per request in O(1) (no scan of the pool).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import httpx
import yarl
from httpx_aiohttp import AiohttpTransport

from gateway.sources.errors import (
    BAD_RESPONSE,
    CONNECT,
    TIMEOUT,
    TOO_LARGE,
    SourceError,
)

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
# Headers aiohttp writes itself: it decodes only what it announces in Accept-Encoding.
_OWN_HEADERS = frozenset({"accept-encoding", "connection", "content-length", "host"})

Sign = Callable[[httpx.AsyncClient, str, dict[str, str]], Awaitable[tuple[str, dict[str, str]]]]


class SourcePool:
    """One source's aiohttp session and bounded pool, made at first use inside the loop."""

    def __init__(self, limits: httpx.Limits, timeout_s: float) -> None:
        self.limits = limits
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout_s, sock_connect=timeout_s, sock_read=timeout_s
        )
        self._session: aiohttp.ClientSession | None = None
        self._headers: dict[str, str] | None = None
        self._base = ""
        self._sign: Sign | None = None

    def session(self) -> aiohttp.ClientSession:
        """The session (made now if this is the first request)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.limits.max_connections or 0,  # the bound; callers queue beyond it
                limit_per_host=0,  # one source, one host: ``limit`` is the bound
                keepalive_timeout=self.limits.keepalive_expiry,
            )
            # httpx keeps the cookies (sources set none): aiohttp's jar would be a second one.
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), timeout=self.timeout
            )
        return self._session

    def transport(self) -> httpx.AsyncBaseTransport:
        """An httpx transport over this pool (what does not go through ``read``: token calls)."""
        return _PoolTransport(self)

    def bind(self, client: httpx.AsyncClient, auth: httpx.Auth | None) -> None:
        """Take the client's default headers and auth for ``read`` (once, after it is made)."""
        headers = {k: v for k, v in client.headers.items() if k.lower() not in _OWN_HEADERS}
        if isinstance(auth, httpx.BasicAuth):
            signed = next(auth.sync_auth_flow(httpx.Request("GET", client.base_url)))
            headers["Authorization"] = signed.headers["Authorization"]
        elif auth is not None:
            raise ValueError("direct reads know Basic auth and authlib's OAuth2 clients only")
        self._headers = headers
        base = str(client.base_url)  # httpx keeps its path ending in "/", but shows "/" as ""
        self._base = base if base.endswith("/") else base + "/"
        self._sign = _oauth2_sign if hasattr(client, "ensure_active_token") else None

    async def read(
        self,
        client: httpx.AsyncClient,
        source: str,
        method: str,
        url: str,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        max_bytes: int,
    ) -> tuple[int, httpx.Headers, bytes]:
        """Send one request as ``client`` would and read the answer, at most ``max_bytes``."""
        assert self._headers is not None, "bind() first"
        # httpx's rule: a relative URL is appended to the base URL's path.
        absolute = url.startswith(("http://", "https://"))
        target = url if absolute else self._base + url.lstrip("/")
        merged = {**self._headers, **headers} if headers else dict(self._headers)
        if self._sign is not None:
            target, merged = await self._sign(client, target, merged)
        sent: yarl.URL | None = None
        request = None
        for hook in client.event_hooks["request"]:
            check_sent = getattr(hook, "check_sent", None)
            if check_sent is not None:
                sent = check_sent(target)  # refuse_outside's rule; what it admits is sent
            else:  # any other hook sees the request as httpx would have built it
                request = request or httpx.Request(method, target, headers=merged, content=content)
                await hook(request)
        if sent is None:
            sent = yarl.URL(target, encoded=True)
        try:
            async with self.session().request(
                method, sent, headers=merged, data=content, allow_redirects=False
            ) as response:
                # httpx's request line (the IIN in the URL is pseudonymised by gateway.logs).
                log.debug(
                    'HTTP Request: %s %s "HTTP/1.1 %d %s"',
                    method,
                    sent,
                    response.status,
                    response.reason,
                )
                body = await read_capped(
                    source,
                    response.content_length,
                    response.content.iter_chunked(CHUNK_BYTES),
                    max_bytes,
                )
                return response.status, httpx.Headers(response.raw_headers), body
        except aiohttp.ClientError as exc:
            raise _source_error(source, exc) from None
        except TimeoutError:  # aiohttp's own (ServerTimeoutError is one too)
            raise SourceError(source, TIMEOUT, "no answer in time") from None

    async def close(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None


async def read_capped(
    source: str, declared: int | None, chunks: AsyncIterator[bytes], max_bytes: int
) -> bytes:
    """A streamed answer's body; TOO_LARGE as soon as its declared or read size passes
    ``max_bytes`` (nothing more is read)."""
    if declared is not None and declared > max_bytes:
        raise SourceError(source, TOO_LARGE, f"declared {declared} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise SourceError(source, TOO_LARGE, f"more than {max_bytes} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _source_error(source: str, exc: aiohttp.ClientError) -> SourceError:
    """aiohttp's failures as the kinds httpx's would have been (``errors.error_from_exception``)."""
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return SourceError(source, TIMEOUT, name)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return SourceError(source, BAD_RESPONSE, name)  # httpx: RemoteProtocolError
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.InvalidURL):
        return SourceError(source, CONNECT, name)
    return SourceError(source, BAD_RESPONSE, name)  # malformed answers


async def _oauth2_sign(
    client: Any, url: str, headers: dict[str, str]
) -> tuple[str, dict[str, str]]:
    """authlib's bearer token, as its ``AsyncOAuth2Client.stream`` adds it (renewed when due;
    in the header, or in the URL if the client was told so: the base check sees that URL)."""
    from authlib.integrations.base_client import MissingTokenError

    if not client.token:
        raise MissingTokenError()
    # authlib takes a lock on every call to look; it need only be taken when renewal is due
    # (it looks again under the lock, so two callers still renew once).
    if client.token.is_expired(leeway=client.leeway):
        await client.ensure_active_token(client.token)
    signed_url, signed, _ = client.token_auth.prepare(url, headers, "")
    return signed_url, signed


class _PoolTransport(AiohttpTransport):
    """httpx-aiohttp's transport on a ``SourcePool``'s session; closing it closes the pool."""

    def __init__(self, pool: SourcePool) -> None:
        super().__init__(client=pool.session)
        self.pool = pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """httpx-aiohttp's, but a refused connection is a ConnectError (it says ConnectTimeout)."""
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as exc:
            if isinstance(exc.__cause__, aiohttp.ClientConnectorError):
                raise httpx.ConnectError(str(exc), request=request) from exc.__cause__
            raise

    async def aclose(self) -> None:
        """Close the pool (the direct reads' too: they share it)."""
        await self.pool.close()
