"""The web passport's routes: what /app/config.json says, the CSP, and [app] enabled = false."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from gateway.config import parse_settings
from gateway.web import app_routes, content_security_policy
from gateway.web.routes import STATIC_DIR
from tests.gateway.test_config import ENV, EXAMPLE


def settings_with(app: dict[str, object]):
    data = copy.deepcopy(tomllib.loads(EXAMPLE))
    data["app"] = app
    return parse_settings(data, ENV)


async def get(app: Starlette, path: str) -> httpx.Response:
    # The routes in process, without the gateway's lifespan: no source is needed for them.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        return await client.get(path)


async def test_config_json_tells_the_app_what_it_needs() -> None:
    settings = settings_with({"oidc_issuer": "https://id.egov.kz/oidc", "default_language": "ru"})
    response = await get(Starlette(routes=app_routes(settings)), "/app/config.json")
    assert response.json() == {
        "issuer": "https://id.egov.kz/oidc",
        "clientId": "ehp-web",
        "defaultLanguage": "ru",
        "graphqlPath": "/graphql",
        "regions": ["astana"],
        "breakGlassMinChars": 10,
        "emergencyReasonMinChars": 3,
        "suppressionK": 5,
    }
    assert "connect-src 'self' https://id.egov.kz;" in response.headers["content-security-policy"]


async def test_every_static_file_is_served_with_the_policy() -> None:
    app = Starlette(routes=app_routes(settings_with({})))
    files = [p for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert any(p.suffix == ".js" for p in files) and any(p.suffix == ".json" for p in files)
    for path in files:
        response = await get(app, "/app/" + path.relative_to(STATIC_DIR).as_posix())
        assert response.status_code == 200, path
        assert response.headers["x-frame-options"] == "DENY"
        assert "script-src 'self';" in response.headers["content-security-policy"]
    assert (await get(app, "/app/../config.py")).status_code == 404
    assert (await get(app, "/app/nothing.js")).status_code == 404


def test_disabled_app_has_no_routes() -> None:
    assert app_routes(settings_with({"enabled": False})) == []


@pytest.mark.parametrize(
    ("issuer", "connect"),
    [
        ("https://idp.example.kz/realms/kz", "'self' https://idp.example.kz"),
        ("http://127.0.0.1:8001", "'self' http://127.0.0.1:8001"),
        ("", "'self'"),
    ],
)
def test_policy_allows_fetches_to_the_provider_s_origin_only(issuer: str, connect: str) -> None:
    policy = dict(part.split(" ", 1) for part in content_security_policy(issuer).split("; "))
    assert policy["connect-src"] == connect
    assert policy["default-src"] == "'none'"
    assert all("unsafe" not in value for value in policy.values())


def test_labels_exist_in_every_language_for_every_key() -> None:
    labels = {
        lang: json.loads((STATIC_DIR / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
        for lang in ("kk", "ru", "en")
    }
    assert labels["kk"].keys() == labels["ru"].keys() == labels["en"].keys()
    used: set[str] = set()
    for script in Path(STATIC_DIR / "js").rglob("*.js"):
        used |= set(re.findall(r"\bt\('([\w.-]+)'", script.read_text(encoding="utf-8")))
    assert used - labels["en"].keys() == set()
