"""Fault injection and request counting shared by every emulator (SOURCES.md, "Faults").

``Instrumented(app, base_path)`` wraps an emulator's ASGI app. It answers
``{base}/__faults`` (POST JSON sets faults, DELETE clears) and ``{base}/__requests``
(GET the count and the last 1,000 requests, DELETE resets), counts every other
request on arrival (so retries are visible), then applies the faults to it. A FHIR batch
POST to the base path is recorded with its entries' URLs under ``batch``.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

RECENT_LIMIT = 1000


@dataclass
class Faults:
    """The faults currently simulated by one emulator."""

    latency_ms: float = 0
    jitter_ms: float = 0
    error_rate: float = 0.0
    status: int = 503
    hang: bool = False
    down: bool = False


class Instrumented:
    """ASGI wrapper adding ``__faults`` and ``__requests`` under ``base_path``."""

    def __init__(self, app: ASGIApp, base_path: str = "") -> None:
        self.app = app
        self.base_path = base_path.rstrip("/")
        self.faults = Faults()
        self.count = 0
        self.recent: deque[dict[str, str]] = deque(maxlen=RECENT_LIMIT)
        self._random = random.Random()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the instrumentation endpoints, or count and fault a real request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == f"{self.base_path}/__faults":
            await self._faults_endpoint(scope, receive, send)
            return
        if path == f"{self.base_path}/__requests":
            await self._requests_endpoint(scope, send)
            return
        self.count += 1
        record: dict[str, Any] = {
            "method": scope["method"],
            "path": path,
            "query": scope.get("query_string", b"").decode("latin-1"),
        }
        self.recent.append(record)
        if scope["method"] == "POST" and path.rstrip("/") == self.base_path and self.base_path:
            # A FHIR batch: say which searches it held, so tests see what was asked.
            body = await _read_body(receive)
            record["batch"] = _batch_urls(body)
            receive = _replay(body)
        faults = self.faults
        if faults.down:
            await _send_json(send, 503, {"error": "down"})
            return
        if faults.hang:
            # Accept the connection and never answer, until the client gives up.
            await asyncio.Event().wait()
        delay = faults.latency_ms + self._random.uniform(0, faults.jitter_ms)
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if faults.error_rate > 0 and self._random.random() < faults.error_rate:
            await _send_json(send, faults.status, {"error": "injected fault"})
            return
        await self.app(scope, receive, send)

    async def _faults_endpoint(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "DELETE":
            self.faults = Faults()
        elif method == "POST":
            body = await _read_body(receive)
            try:
                fields = json.loads(body or b"{}")
                self.faults = Faults(**{**asdict(Faults()), **fields})
            except (ValueError, TypeError) as exc:
                await _send_json(send, 400, {"error": f"bad faults: {exc}"})
                return
        elif method != "GET":
            await _send_json(send, 405, {"error": "method not allowed"})
            return
        await _send_json(send, 200, asdict(self.faults))

    async def _requests_endpoint(self, scope: Scope, send: Send) -> None:
        if scope["method"] == "DELETE":
            self.count = 0
            self.recent.clear()
        await _send_json(send, 200, {"count": self.count, "recent": list(self.recent)})


def _batch_urls(body: bytes) -> list[str]:
    """The request URLs of a batch Bundle's entries (empty for anything else)."""
    try:
        bundle = json.loads(body or b"{}")
        return [str(entry["request"]["url"]) for entry in bundle.get("entry") or ()]
    except (ValueError, TypeError, KeyError, AttributeError):
        return []


def _replay(body: bytes) -> Receive:
    """A receive callable that hands the app the body already read."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send_json(send: Send, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
