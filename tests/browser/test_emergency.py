"""The ambulance crew's screen: large type, and a source that does not answer said plainly."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import WebStack
from tests.browser.helpers import assert_accessible, assert_fits_phone, save_screenshot, sign_in
from tests.e2e.conftest import random_subject

REASON = "103 call: unconscious at home"
WARM_READ = """query($iin: IIN!, $r: String!) { emergency(iin: $iin, reason: $r) {
  bloodGroup allergies { criticality } activeProblems { onset } currentMedications { name }
  implants { code } pregnancy { status } weightKg } }"""


def open_emergency(page: Any, iin: str) -> None:
    """Fill the crew's form and wait for the answer."""
    page.get_by_label("Patient's IIN").fill(iin)
    page.get_by_label("Reason (call number or situation)").fill(REASON)
    page.get_by_role("button", name="Show emergency data").click()
    page.locator("#results[aria-busy=false]").wait_for()


def test_crew_sees_the_emergency_data_of_the_truth(page: Any, web: WebStack) -> None:
    person = web.truth["people"][web.person("patient").claims["iin"]]
    sign_in(page, web, "paramedic")
    open_emergency(page, person["identity"]["iin"])
    results = page.locator("#results")
    assert page.locator("#incomplete").count() == 0  # every source answered
    assert person["identity"]["fullName"] in results.locator("#em-person").inner_text()
    blood = results.locator("#em-blood .value").inner_text()
    assert blood == (person["bloodGroup"] or "No record")
    active = [p for p in person["problems"] if p["status"] == "ACTIVE"]
    problems = results.locator("#em-problems li")
    assert problems.count() == len(active)
    for problem in active:
        assert problems.filter(has_text=f"({problem['code']['code']})").count() == 1
    medicines = results.locator("#em-medicines li")
    assert medicines.count() == len(person["currentMedications"])
    allergies = results.locator("#em-allergies li")
    assert allergies.count() == len(person["allergies"])
    shown = [allergies.nth(i).locator(".badge").inner_text() for i in range(allergies.count())]
    ranks = ["High risk", "Risk unknown", "Low risk"]
    assert shown == sorted(shown, key=ranks.index)  # criticality first
    if person["allergies"] == []:
        assert "None known" in results.locator("#em-allergies").inner_text()
    font = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.big')).fontSize)")
    assert font >= 20  # large type, readable on a phone in daylight
    assert_fits_phone(page)
    assert_accessible(page)


def test_a_source_down_is_named_in_a_banner(page: Any, web: WebStack, clean_faults: Any) -> None:
    person = web.truth["people"][web.person("patient").claims["iin"]]
    iin = person["identity"]["iin"]
    down = f"ehr-{person['ehrRegions'][0]}"
    crew = web.stack.token("emergency", subject=random_subject(), **web.person("paramedic").claims)
    assert web.graphql(WARM_READ, {"iin": iin, "r": REASON}, crew)["data"]["emergency"]
    web.stack.fault(down, down=True)
    sign_in(page, web, "paramedic")
    open_emergency(page, iin)
    banner = page.locator("#incomplete")
    assert banner.get_attribute("role") == "alert"
    assert down in banner.locator(".source").all_inner_texts()
    assert "not empty" in banner.inner_text()
    answered = {s for s in web.stack.urls if s != down}
    assert not answered & set(banner.locator(".source").all_inner_texts())
    assert_accessible(page)
    banner.evaluate("element => element.scrollIntoView()")
    save_screenshot(page, "emergency")  # the screen from the banner down, as the crew sees it


def test_a_list_from_a_silent_source_is_unknown_not_none(
    page: Any, web: WebStack, clean_faults: Any
) -> None:
    # Someone this gateway never read (no stale copy), with allergies in one regional record.
    cold = [
        p
        for p in web.truth["people"].values()
        if p["allergies"] and len(p["ehrRegions"]) == 1 and p["identity"]["age"] >= 18
    ][-1]
    web.stack.fault(f"ehr-{cold['ehrRegions'][0]}", down=True)
    sign_in(page, web, "paramedic")
    open_emergency(page, cold["identity"]["iin"])
    allergies = page.locator("#em-allergies")
    assert "UNKNOWN" in allergies.inner_text()
    assert "None known" not in allergies.inner_text()
    assert page.locator("#incomplete").is_visible()
