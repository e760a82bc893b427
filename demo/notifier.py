"""The demo's stand-in for a national notifier: receives the gateway's patient notifications,
checks each one's signature (Standard Webhooks, the shared secret), drops duplicates by id,
and prints what the patient would be told, in their language (``kk`` by default, ``ru``,
``en``; the texts are in ``notification_messages.json`` beside this file).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.notify.signing import signing_key

MESSAGES: dict[str, Any] = json.loads(
    (Path(__file__).with_name("notification_messages.json")).read_text(encoding="utf-8")
)
LANGUAGES = tuple(code for code in MESSAGES if not code.startswith("_"))
PATH = "/ehp/notifications"


def render(data: dict[str, Any], language: str = "kk") -> str:
    """What the patient is told about one notification's ``data``, in ``language``."""
    texts = MESSAGES[language]
    reader = data["reader"]
    role = texts["roles"].get(reader["role"]) or texts["roles"]["DOCTOR"]
    details = ", ".join(part for part in (reader["organization"], reader["practitioner"]) if part)
    who = f"{role['who']} ({details})" if details else role["who"]
    sections = ", ".join(texts["sections"].get(s, s) for s in data["sections"])
    when = datetime.fromisoformat(data["at"]).strftime("%d.%m.%Y %H:%M")
    template = texts[f"{data['basis']}.{data['outcome']}"]
    return template.format(
        who=who,
        read=role["read"],
        tried=role["tried"],
        when=when,
        sections=sections or texts["no_sections"],
        reason=data["reason"] or texts["no_reason"],
        id=data["id"],
    )


def create_receiver(secret: str, language: str = "kk", out: TextIO = sys.stdout) -> Starlette:
    """The receiver app: 401 for a bad signature, 200 for a notification (new or not)."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
    webhook = Webhook(signing_key(secret))
    seen: set[str] = set()
    lock = threading.Lock()

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            payload = webhook.verify(body, dict(request.headers))
        except (WebhookVerificationError, ValueError):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        data = payload["data"]
        with lock:
            duplicate = data["id"] in seen
            seen.add(data["id"])
        if not duplicate:
            iin = data["patient"]["iin"]
            out.write(f"[notify {language}] to patient …{iin[-4:]}: {render(data, language)}\n")
            out.flush()
        return JSONResponse({"id": data["id"], "duplicate": duplicate})

    app = Starlette(routes=[Route(PATH, receive, methods=["POST"])])
    app.state.seen = seen
    return app


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the demo's main server keeps the handlers
        pass


@contextmanager
def running_notifier(secret: str, port: int, language: str = "kk") -> Iterator[str]:
    """Serve the receiver on 127.0.0.1:``port`` in a thread; yield its webhook URL."""
    config = uvicorn.Config(
        create_receiver(secret, language),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        log_config=None,
    )
    server = _ThreadServer(config)
    thread = threading.Thread(target=server.run, name="demo-notifier", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}{PATH}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
