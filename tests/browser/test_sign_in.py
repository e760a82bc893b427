"""Sign-in through the demo IdP (code flow with PKCE), the app's CSP, tokens kept in memory."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import CLIENT_ID, WebStack
from tests.browser.helpers import assert_accessible, sign_in


def test_app_is_served_with_a_strict_content_security_policy(web: WebStack) -> None:
    response = web.stack.client.get(web.app_url)
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["connect-src"] == f"'self' {web.idp_url}"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    # No inline script or style in the page itself: the policy would block them.
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)
    assert " style=" not in response.text and "<style" not in response.text
    script = web.stack.client.get(web.app_url + "js/main.js")
    assert script.headers["content-security-policy"] == response.headers["content-security-policy"]
    assert "javascript" in script.headers["content-type"]


def test_app_config_says_where_to_sign_in(web: WebStack) -> None:
    config = web.stack.client.get(web.app_url + "config.json").json()
    regions = [source.region for source in web.stack.settings().sources_of("fhir-ehr")]
    assert config == {
        "issuer": web.idp_url,
        "clientId": CLIENT_ID,
        "defaultLanguage": "kk",
        "graphqlPath": "/graphql",
        "regions": regions,
        "breakGlassMinChars": 10,
        "emergencyReasonMinChars": 3,
        "suppressionK": 5,
    }
    assert web.stack.client.get(web.app_url.rstrip("/")).status_code in (307, 308)


def test_sign_in_keeps_tokens_in_memory_and_the_code_out_of_the_address(
    page: Any, web: WebStack
) -> None:
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    token_requests: list[str] = []
    page.on(
        "request",
        lambda r: token_requests.append(r.post_data or "") if r.url.endswith("/token") else None,
    )
    sign_in(page, web, "patient")
    assert page.url == web.app_url
    stored = page.evaluate(
        "() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    assert "eyJ" not in stored  # no JWT anywhere in web storage
    assert page.context.cookies() == []
    # PKCE: the token request carried a verifier, not a secret.
    assert len(token_requests) == 1
    assert "code_verifier=" in token_requests[0]
    assert "client_secret" not in token_requests[0]
    assert refused == []
    assert_accessible(page)


def test_a_forged_return_from_the_provider_is_refused(page: Any, web: WebStack) -> None:
    token_requests: list[str] = []
    page.on("request", lambda r: token_requests.append(r.url) if r.url.endswith("/token") else None)
    page.goto(f"{web.app_url}?code=stolen-code&state=forged-state")
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert "could not be checked" in alert.inner_text()
    assert token_requests == []  # the code was never exchanged
    assert page.url == web.app_url
    assert page.locator("#sign-in").is_visible()


def test_signing_out_forgets_the_session(page: Any, web: WebStack) -> None:
    sign_in(page, web, "manager")
    page.locator("#sign-out").click()
    assert page.locator("#sign-in").is_visible()
    assert page.locator("#who").inner_text() == ""


def test_keyboard_alone_signs_in_and_opens_a_passport(page: Any, web: WebStack) -> None:
    nurse = web.person("nurse")
    iin = web.person("patient").claims["iin"]
    page.goto(web.app_url)
    page.locator("#sign-in").wait_for()
    for _ in range(10):  # skip link, language, then the sign-in button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "sign-in":
            break
    page.keyboard.press("Enter")
    page.wait_for_url(f"{web.idp_url}/authorize?*")
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.value") == nurse.key:
            break
    page.keyboard.press("Enter")
    page.locator("#who").filter(has_text=nurse.name).wait_for()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "iin":
            break
    page.keyboard.type(iin)
    page.keyboard.press("Enter")  # submits the search form
    page.locator("#relationship").wait_for()
    assert "Care relationship: yes" in page.locator("#relationship").inner_text()
