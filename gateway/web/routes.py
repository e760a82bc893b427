"""Routes of the web passport: ``/app/`` (static, strict CSP) and ``/app/config.json``.

The app is plain ES modules in ``static/`` (no build step). It talks to the gateway's
public GraphQL only, and signs in at ``[app] oidc_issuer`` (authorization code with PKCE),
so the CSP allows scripts, styles and fetches from this origin and fetches to that issuer.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.config import Settings

STATIC_DIR = Path(__file__).parent / "static"
GRAPHQL_PATH = "/graphql"


def app_routes(settings: Settings) -> list[BaseRoute]:
    """The routes to mount for ``/app/`` (none when ``[app] enabled`` is false)."""
    app = settings.app
    if not app.enabled:
        return []
    headers = security_headers(content_security_policy(app.oidc_issuer or ""))
    config = {
        "issuer": app.oidc_issuer,
        "clientId": app.oidc_client_id,
        "defaultLanguage": app.default_language,
        "graphqlPath": GRAPHQL_PATH,
        # The region picker offers the regions a configured EHR serves (stats accepts no other).
        "regions": [s.region for s in settings.sources_of("fhir-ehr") if s.region],
        "breakGlassMinChars": settings.policy.break_glass_min_chars,
        "emergencyReasonMinChars": settings.policy.emergency_reason_min_chars,
        "suppressionK": settings.policy.suppression_k,
    }

    async def app_config(request: Request) -> Response:
        return JSONResponse(config, headers=headers)

    async def to_app(request: Request) -> Response:
        return RedirectResponse("/app/", status_code=308, headers=headers)

    static = StaticFiles(directory=STATIC_DIR, html=True)
    return [
        Route("/app", to_app),
        Route("/app/config.json", app_config),
        Mount("/app", app=WithHeaders(static, headers)),
    ]


def content_security_policy(issuer: str) -> str:
    """Self only, plus fetches to the identity provider's origin (discovery and token)."""
    parts = urlsplit(issuer)
    provider = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    connect = f"'self' {provider}".strip()
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {connect}",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(csp: str) -> dict[str, str]:
    """The headers of every ``/app/`` response."""
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        # The sign-in code comes back in the URL: never send it on as a referrer.
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Cache-Control": "no-cache",
    }


class WithHeaders:
    """ASGI wrapper adding fixed headers to every response of the wrapped app."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request through; add the headers when the response starts."""
        names = {name for name, _ in self.raw}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() not in names]
                message = {**message, "headers": kept + self.raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)
