"""GraphiQL without the internet, and private answers (issues 11 and 15), over real HTTP.

The page and every file it loads come from the gateway, under a Content-Security-Policy that
allows the gateway alone, with no inline script; the vendored builds are served unchanged
(SHA-256 of the npm packages' files); GraphQL answers are never stored by a cache.
"""

from __future__ import annotations

import hashlib
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

from tests.e2e.conftest import Stack

PAGE_HEADERS = {"Accept": "text/html"}
# SHA-256 of the files of graphiql@3.8.3, react@18.2.0 and react-dom@18.2.0 as packed on npm.
VENDORED = {
    "graphiql.min.js": "22faab94067b695e5f7959619fbe686ebcc8955002a0c97d986bcbba4ad4bc2c",
    "graphiql.min.css": "b1868247f8e0502cd869e581f5f3cb55b334862e7f51b1d6cbace11059b9adc2",
    "react.production.min.js": "4b4969fa4ef3594324da2c6d78ce8766fbbc2fd121fff395aedf997db0a99a06",
    "react-dom.production.min.js": (
        "21758ed084cd0e37e735722ee4f3957ea960628a29dfa6c3ce1a1d47a2d6e4f7"
    ),
}
LICENSES = ("graphiql.LICENSE", "react.LICENSE", "react-dom.LICENSE")


class _References(HTMLParser):
    """Every src/href of a page, and the text of any script without src."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []
        self.scripts: list[str] = []
        self.inline: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name) is not None:
                self.references.append(values[name] or "")
        if tag == "script":
            if values.get("src"):
                self.scripts.append(values["src"] or "")
            else:
                self._in_inline_script = True
                self.inline.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_inline_script = False

    def handle_data(self, data: str) -> None:
        if self._in_inline_script:
            self.inline[-1] += data


def _page(stack: Stack) -> tuple[httpx.Response, _References]:
    response = stack.client.get(f"{stack.gateway.url}/graphql", headers=PAGE_HEADERS)
    parser = _References()
    parser.feed(response.text)
    return response, parser


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (part.split() for part in policy.split(";") if part.strip())
    return {words[0]: words[1:] for words in parts}


def test_page_has_a_strict_policy_and_cannot_be_framed(stack: Stack) -> None:
    response, _ = _page(stack)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = _directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval, no other origin
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    for directive, sources in policy.items():
        assert all(s in ("'self'", "'none'", "data:") for s in sources), (directive, sources)
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_page_loads_nothing_from_another_origin_and_has_no_inline_script(stack: Stack) -> None:
    response, page = _page(stack)
    assert page.inline == []
    assert len(page.scripts) >= 4  # React, ReactDOM, GraphiQL, ours
    own = urlsplit(stack.gateway.url)
    for reference in page.references:
        target = urlsplit(urljoin(str(response.url), reference))
        if target.scheme == "data":
            continue
        assert (target.scheme, target.netloc) == (own.scheme, own.netloc), reference
        assert target.path.startswith("/graphql/static/"), reference
    # The vendored stylesheet embeds its fonts; it names no other origin either.
    css = stack.client.get(f"{stack.gateway.url}/graphql/static/graphiql.min.css").text
    assert re.findall(r"url\((?!['\"]?data:)", css) == []
    assert "@import" not in css


def test_every_file_the_page_names_is_served_with_the_page_headers(stack: Stack) -> None:
    response, page = _page(stack)
    names = set()
    for reference in page.references:
        url = urljoin(str(response.url), reference)
        if url.startswith("data:"):
            continue
        asset = stack.client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["x-content-type-options"] == "nosniff"
        expected = "text/css" if url.endswith(".css") else "javascript"
        assert expected in asset.headers["content-type"], url
        names.add(url.rsplit("/", 1)[1])
    assert VENDORED.keys() <= names
    for name, digest in VENDORED.items():
        body = stack.client.get(f"{stack.gateway.url}/graphql/static/{name}").content
        assert hashlib.sha256(body).hexdigest() == digest, f"{name} is not the npm build"
    for name in LICENSES:
        licence = stack.client.get(f"{stack.gateway.url}/graphql/static/licenses/{name}")
        assert licence.status_code == 200 and licence.text.startswith("MIT License")


def test_page_keeps_headers_in_memory_only(stack: Stack) -> None:
    _, page = _page(stack)
    ours = [src for src in page.scripts if "ehp-graphiql" in src]
    assert len(ours) == 1
    script = stack.client.get(urljoin(f"{stack.gateway.url}/graphql", ours[0])).text
    assert "shouldPersistHeaders: false" in script
    assert "storage: storage" in script  # GraphiQL's storage is the in-memory map
    assert "localStorage" not in script and "sessionStorage" not in script
    assert "document.cookie" not in script


def test_graphql_answers_are_never_stored_by_a_cache(stack: Stack) -> None:
    url = f"{stack.gateway.url}/graphql"
    token = stack.token("manager")
    answers = {
        "POST with a token": stack.client.post(
            url, json={"query": "{ me { role } }"}, headers={"Authorization": f"Bearer {token}"}
        ),
        "GET with a token": stack.client.get(
            url, params={"query": "{ me { role } }"}, headers={"Authorization": f"Bearer {token}"}
        ),
        "no token": stack.client.post(url, json={"query": "{ me { role } }"}),
        "bad request": stack.client.post(
            url, content=b"{not json", headers={"Authorization": f"Bearer {token}"}
        ),
    }
    assert answers["POST with a token"].json() == {"data": {"me": {"role": "MANAGER"}}}
    assert answers["GET with a token"].json() == {"data": {"me": {"role": "MANAGER"}}}
    assert answers["no token"].status_code == 401
    assert answers["bad request"].status_code == 400
    for name, answer in answers.items():
        assert answer.headers["cache-control"] == "no-store", name
        assert answer.headers["vary"] == "Authorization, Accept-Language", name


def test_without_graphiql_neither_page_nor_assets_are_served(stack: Stack) -> None:
    with stack.fresh_gateway(server={"introspection": False}) as gateway:
        assert gateway.settings.server.graphiql is False
        page = stack.client.get(f"{gateway.url}/graphql", headers=PAGE_HEADERS)
        assert page.status_code == 404
        asset = stack.client.get(f"{gateway.url}/graphql/static/graphiql.min.js")
        assert asset.status_code == 404
