"""What every browser test does: sign in at the IdP page, check accessibility, keep a picture."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import AXE, SCREENSHOTS, WebStack

# axe-core's impact levels that fail a test (moderate and minor ones are reported only).
BLOCKING_IMPACTS = ("serious", "critical")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def sign_in(page: Any, web: WebStack, key: str) -> None:
    """Open the app, go to the demo IdP, pick ``key``'s person, and wait for their screen."""
    person = web.person(key)
    page.goto(web.app_url)
    page.locator("#sign-in").click()
    page.wait_for_url(f"{web.idp_url}/authorize?*")
    choice = page.locator(f'button[name=person][value="{person.key}"]')
    assert person.name in choice.inner_text()  # the page lists them by name
    choice.click()
    page.wait_for_url(web.app_url)  # the code and state have left the address bar
    page.locator("#who").filter(has_text=person.name).wait_for()
    page.locator("main[aria-busy=false]").wait_for()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core in the page; the serious and critical violations it finds."""
    # Through the DevTools protocol, not a <script>: the page's CSP forbids inline scripts.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "targets": [node["target"] for node in v["nodes"][:5]],
        }
        for v in result["violations"]
        if v["impact"] in BLOCKING_IMPACTS
    ]


def assert_accessible(page: Any) -> None:
    """No serious or critical axe-core violation in the page as it is now."""
    violations = axe_violations(page)
    assert violations == [], violations


def assert_fits_phone(page: Any) -> None:
    """Nothing wider than the 360 px viewport (no sideways scrolling of the page)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"page is {width} px wide at a 360 px viewport"


def save_screenshot(page: Any, name: str, selector: str | None = None) -> None:
    """docs/screenshots/NAME.png: the element ``selector``, or the top of the page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if selector is None:
        page.screenshot(path=str(path))
    else:
        box = page.locator(selector).first.bounding_box()  # relative to the viewport
        scroll_x, scroll_y = page.evaluate("[window.scrollX, window.scrollY]")
        pad = 12  # a margin around the element, so its edges show
        clip = {
            "x": max(0, box["x"] + scroll_x - pad),
            "y": max(0, box["y"] + scroll_y - pad),
            "width": min(box["width"] + 2 * pad, page.viewport_size["width"]),
            "height": box["height"] + 2 * pad,
        }
        page.screenshot(path=str(path), clip=clip, full_page=True)


def text_of(page: Any, selector: str) -> str:
    """The visible text of the first element matching ``selector``."""
    return page.locator(selector).first.inner_text()
