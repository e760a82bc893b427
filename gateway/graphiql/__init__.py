"""GraphiQL served by the gateway itself: our page and its vendored assets (README.md here).

Nothing loads from another origin, no script is inline, and the page keeps no header (a
bearer token) in the browser's storage, so its Content-Security-Policy allows the gateway
alone and the page works without the internet.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

_HERE = Path(__file__).resolve().parent
STATIC_DIR = _HERE / "static"
# Under the endpoint, so the page's relative links work behind any path prefix.
STATIC_PATH = "/graphql/static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        # Blocks the <style> react-remove-scroll adds while a dialog is open; the page never
        # scrolls (ehp-graphiql.css), so nothing is lost.
        "style-src 'self'",
        # GraphiQL's stylesheet embeds its fonts and icons as data: URLs.
        "font-src 'self' data:",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
# Headers of the page and of every asset.
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def page() -> Response:
    """The GraphiQL page, with a strict Content-Security-Policy."""
    html = (_HERE / "page.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


class _Assets(StaticFiles):
    """The vendored files, each with the page's security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        """The file (or 404/304), with the security headers added."""
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def assets_route() -> Mount:
    """The route serving the page's scripts, styles and licences."""
    return Mount(STATIC_PATH, app=_Assets(directory=STATIC_DIR), name="graphiql-static")
