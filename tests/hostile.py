"""Hostile upstreams for tests: small Starlette apps on loopback that lie, redirect or steal.

``Recorder`` stands for the attacker's server: it answers anything plausibly and remembers
every request it got, with the credentials that came along, so a test can assert it got none.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]
CREDENTIAL_HEADERS = ("authorization", "x-api-key")


@dataclass(frozen=True)
class Seen:
    """One request a hostile server received: method, path, query and the credentials sent."""

    method: str
    path: str
    query: str
    credentials: dict[str, str]
    body: bytes


class Recorder:
    """A server that records every request; ``handler`` answers (by default an empty bundle)."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self.handler = handler or _empty_bundle
        self.app = Starlette(
            routes=[
                Route("/", self._serve, methods=METHODS),
                Route("/{path:path}", self._serve, methods=METHODS),
            ]
        )

    async def _serve(self, request: Request) -> Response:
        body = await request.body()
        credentials = {h: request.headers[h] for h in CREDENTIAL_HEADERS if h in request.headers}
        with self._lock:
            self.seen.append(
                Seen(request.method, request.url.path, request.url.query, credentials, body)
            )
        return await self.handler(request)

    def paths(self) -> list[str]:
        """The paths asked so far, in order."""
        with self._lock:
            return [seen.path for seen in self.seen]


async def _empty_bundle(request: Request) -> Response:
    return JSONResponse(
        {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []},
        media_type="application/fhir+json",
    )
