"""The web passport in a real Chromium: emulators, the gateway serving /app/, the demo IdP.

The stack is the end-to-end one (``tests/e2e/conftest.py``: emulators in their own
processes, real HTTP) plus a gateway whose ``[app]`` points at the demo identity provider,
which runs on its own loopback origin as in the demo. Chromium is Debian's package, driven
by Playwright (its own browser download cannot reach the network).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from demo.idp import DemoPerson, create_idp, demo_people
from demo.run import pick_cast
from gateway.app import create_app
from gateway.config import parse_settings
from tests.e2e.conftest import Stack, clean_faults, config_data, stack  # noqa: F401 - fixtures
from tests.servers import free_port, serve_app

CLIENT_ID = "ehp-web"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def chromium_path() -> str | None:
    """Debian's chromium, or the one named by EHP_CHROMIUM."""
    named = os.environ.get("EHP_CHROMIUM")
    if named:
        return named if Path(named).exists() else None
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium")


@dataclass
class WebStack:
    """The running app: its URL, the IdP's, the people it lists, and the e2e stack below."""

    app_url: str
    gateway_url: str
    idp_url: str
    people: dict[str, DemoPerson]
    stack: Stack

    @property
    def truth(self) -> dict[str, Any]:
        """The population's ground truth."""
        return self.stack.ground_truth

    def person(self, key: str) -> DemoPerson:
        """A demo person by key: patient, nurse, doctor, paramedic, manager, manager-REGION."""
        return self.people[key]

    def graphql(self, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
        """POST to the app's gateway (the one whose audit the app shows), in English: the
        tests' expected words, as the pages they read are."""
        response = self.stack.client.post(
            f"{self.gateway_url}/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
        )
        return response.json()


@contextlib.contextmanager
def web_stack(base: Stack, directory: Path) -> Iterator[WebStack]:
    """A gateway serving /app/ signed in through the demo IdP, on the e2e stack's emulators."""
    idp_port = free_port()
    idp_url = f"http://127.0.0.1:{idp_port}"
    data = config_data(
        directory,
        base.urls,
        base.issuer,
        {
            # Its own audit file: the access log the patient sees holds this gateway's reads.
            "audit": {"database_url": f"sqlite:///{directory / 'browser-audit.db'}"},
            # As in the demo: Kazakh unless the browser asks for another language.
            "app": {"oidc_issuer": idp_url, "oidc_client_id": CLIENT_ID, "default_language": "kk"},
        },
    )
    for source in data["sources"]:
        source["ttl_s"] = 0  # every read asks the sources; a failed one is served stale, flagged
    settings = parse_settings(data, {})
    truth = base.ground_truth
    people = demo_people(truth, pick_cast(truth))
    gateway_port = free_port()
    app_url = f"http://127.0.0.1:{gateway_port}/app/"
    idp = create_idp(base.issuer, idp_url, {CLIENT_ID: [app_url]}, people)
    with serve_app(idp, idp_port), serve_app(create_app(settings), gateway_port) as gateway_url:
        yield WebStack(
            app_url=app_url,
            gateway_url=gateway_url,
            idp_url=idp_url,
            people={person.key: person for person in people},
            stack=base,
        )


@pytest.fixture(scope="session")
def web(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:  # noqa: F811
    """The app and its IdP, once per session."""
    with web_stack(stack, tmp_path_factory.mktemp("web")) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium; missing it is a failure under EHP_REQUIRE_SERVICES=1, else a skip.

    Per module, not per session: Playwright's sync API holds an event loop open in this
    thread while it runs, and pytest-asyncio cannot run the async tests of other modules then.
    """
    path = chromium_path()
    if path is None:
        message = (
            "chromium not found (looked for /usr/bin/chromium; set EHP_CHROMIUM to its path): "
            "install it with `apt-get install -y chromium`"
        )
        if os.environ.get("EHP_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies, no storage) at a phone's width, in English."""
    context = browser.new_context(
        viewport={"width": 360, "height": 780}, locale="en-GB", device_scale_factor=2
    )
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()
