"""Nurse and doctor: IIN checked as typed, care relationship, break glass, dose check, lab trend."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.browser.conftest import WebStack
from tests.browser.helpers import assert_accessible, assert_fits_phone, save_screenshot, sign_in
from tests.e2e.conftest import random_subject

VERDICT_WORDS = {
    "WITHIN_RANGE": ("Within range", "ok"),
    "ABOVE_RANGE": ("Above range", "bad"),
    "BELOW_RANGE": ("Below range", "warn"),
    "NO_REFERENCE": ("No reference", "info"),
    "NO_WEIGHT": ("No weight recorded", "warn"),
}
NOT_FOR_NURSES = (
    "lab-results",
    "diagnostic-studies",
    "risk-behaviours",
    "encounters",
    "dispensations",
)
DOSE_QUERY = "query($iin: IIN!) { passport(iin: $iin) { doseCheck { name verdict } } }"
LOG_QUERY = "query($iin: IIN!) { passport(iin: $iin) { accessLog { reason breakGlass sections } } }"
TREND_TESTS = (
    "4548-4",
    "2345-7",
    "14749-6",
    "2093-3",
    "14647-2",
    "718-7",
)  # HbA1c, glucose, chol., Hb


def search(page: Any, iin: str) -> None:
    """Type an IIN in the search form and open the passport."""
    page.fill("input[name=iin]", iin)
    page.locator("form.search button[type=submit]").click()
    page.locator("#results[aria-busy=false]").wait_for()


def child_on_medicines(web: WebStack, org_bin: str) -> dict[str, Any]:
    """A child of the nurse's polyclinic with a recorded weight and medicines dosed in mg."""
    for person in web.truth["people"].values():
        if (
            person["identity"]["age"] < 12
            and person["careTeam"]["attachedOrganization"]["bin"] == org_bin
            and person["anthropometrics"]
            and person["anthropometrics"]["weightKg"]
            and any(m["dose"] and m["dose"]["unit"] == "mg" for m in person["currentMedications"])
        ):
            return person
    raise LookupError("no child on medicines at this polyclinic")


def without_care_relationship(web: WebStack, org_bin: str) -> dict[str, Any]:
    """An adult neither attached to ``org_bin`` nor seen there in the last 365 days."""
    today = dt.date.fromisoformat(web.truth["today"])
    for person in web.truth["people"].values():
        seen = any(
            (e.get("organization") or {}).get("bin") == org_bin
            and (today - dt.date.fromisoformat(e["start"][:10])).days <= 365
            for e in person["encounters"]
        )
        if (
            not seen
            and person["identity"]["age"] >= 18
            and person["careTeam"]["attachedOrganization"]["bin"] != org_bin
        ):
            return person
    raise LookupError("everyone has a care relationship with this organisation")


def test_iin_is_checked_as_it_is_typed_and_a_bad_one_is_never_sent(
    page: Any, web: WebStack
) -> None:
    sign_in(page, web, "nurse")
    sent: list[str] = []
    page.on(
        "request", lambda r: sent.append(r.post_data or "") if r.url.endswith("/graphql") else None
    )
    field = page.get_by_label("Patient's IIN")
    hint = page.locator("form.search .hint")
    field.fill("90010130000")
    assert hint.inner_text() == "11 of 12 digits."
    field.fill("900101300008")  # SOURCES.md's invalid example
    assert "check digit is wrong" in hint.inner_text()
    assert field.get_attribute("aria-invalid") == "true"
    page.locator("form.search button[type=submit]").click()
    assert sent == []  # nothing asked of the gateway
    field.fill("9001013000a7")
    assert hint.inner_text() == "Digits only."
    field.fill("900101300811")  # valid on the second pass of weights
    assert hint.inner_text() == "Valid IIN."
    assert field.get_attribute("aria-invalid") == "false"


def test_nurse_sees_the_dose_check_in_colour_and_words(page: Any, web: WebStack) -> None:
    nurse = web.person("nurse")
    child = child_on_medicines(web, nurse.claims["org_bin"])
    iin = child["identity"]["iin"]
    weight = child["anthropometrics"]["weightKg"]
    token = web.stack.token("nurse", subject=random_subject(), **nurse.claims)
    verdicts = {
        c["name"]: c["verdict"]
        for c in web.graphql(DOSE_QUERY, {"iin": iin}, token)["data"]["passport"]["doseCheck"]
    }
    sign_in(page, web, "nurse")
    search(page, iin)
    assert "Care relationship: yes" in page.locator("#relationship").inner_text()
    assert child["identity"]["fullName"] in page.locator(".patient-name").inner_text()
    rows = page.locator("#dose-check tbody tr")
    assert rows.count() == len(child["currentMedications"])
    for medicine in child["currentMedications"]:
        row = rows.filter(has=page.locator("th", has_text=medicine["name"]))
        word, colour = VERDICT_WORDS[verdicts[medicine["name"]]]
        badge = row.locator("td.verdict .badge")
        assert word in badge.inner_text()  # in words...
        assert colour in badge.get_attribute("class")  # ...and in colour
        if medicine["dose"]["unit"] == "mg":
            per_kg = medicine["dose"]["value"] * medicine["timesPerDay"] / weight
            shown = row.locator("td[data-label='mg/kg a day']").inner_text()
            assert float(shown.replace(",", "")) == round(per_kg, 2)
    for section in NOT_FOR_NURSES:
        assert page.locator(f"#section-{section}").count() == 0
    assert page.locator("#access-log").count() == 0
    assert_fits_phone(page)
    assert_accessible(page)
    save_screenshot(page, "nurse", "#dose-check")


def test_break_glass_reads_nothing_until_a_reason_is_given(page: Any, web: WebStack) -> None:
    nurse = web.person("nurse")
    stranger = without_care_relationship(web, nurse.claims["org_bin"])
    iin = stranger["identity"]["iin"]
    reason = f"Patient collapsed in our waiting room {random_subject()}"
    sign_in(page, web, "nurse")
    search(page, iin)
    assert "Care relationship: no" in page.locator("#relationship").inner_text()
    assert page.locator("section.card").count() == 0  # nothing was read
    assert stranger["identity"]["fullName"] not in page.locator("main").inner_text()
    page.locator("#break-glass").click()
    dialog = page.get_by_role("dialog")
    confirm = dialog.get_by_role("button", name="Read the passport")
    assert confirm.is_disabled()
    dialog.get_by_label("Reason").fill("too short")
    assert confirm.is_disabled()
    assert_accessible(page)
    page.keyboard.press("Escape")  # cancelled: still nothing read
    assert page.get_by_role("dialog").count() == 0
    assert page.locator("section.card").count() == 0
    page.locator("#break-glass").click()
    page.get_by_role("dialog").get_by_label("Reason").fill(reason)
    page.get_by_role("dialog").get_by_role("button", name="Read the passport").click()
    page.locator(".patient-name").filter(has_text=stranger["identity"]["fullName"]).wait_for()
    assert "Break-glass read" in page.locator("#relationship").inner_text()
    patient = web.stack.token("patient", subject=random_subject(), iin=iin)
    log = web.graphql(LOG_QUERY, {"iin": iin}, patient)["data"]["passport"]["accessLog"]
    assert any(event["reason"] == reason and event["breakGlass"] for event in log)


def test_doctor_sees_a_lab_trend_and_no_costs(page: Any, web: WebStack) -> None:
    patient = web.truth["people"][web.person("patient").claims["iin"]]
    counts: dict[str, int] = {}
    for result in patient["labResults"]:
        if result["test"]["loinc"] in TREND_TESTS and result["numericValue"] is not None:
            counts[result["test"]["loinc"]] = counts.get(result["test"]["loinc"], 0) + 1
    loinc = max(counts, key=lambda code: (counts[code], code))
    assert counts[loinc] >= 2
    sign_in(page, web, "doctor")
    search(page, patient["identity"]["iin"])
    assert "Care relationship: yes" in page.locator("#relationship").inner_text()
    block = page.locator(f'#section-lab-results li[data-test="{loinc}"]')
    assert block.locator("svg circle").count() == counts[loinc]
    assert block.locator("svg rect.band").count() == 1
    dispensations = page.locator("#section-dispensations")
    assert dispensations.locator("tbody tr").count() == len(patient["dispensations"])
    assert "Cost" not in dispensations.inner_text()  # doctors see no amounts
    assert page.locator("#access-log").count() == 0
    assert_fits_phone(page)
    assert_accessible(page)
    save_screenshot(page, "doctor", f'#section-lab-results li[data-test="{loinc}"]')


def test_someone_not_in_the_register_is_said_so(page: Any, web: WebStack) -> None:
    unknown = "900101300007"  # a valid IIN (SOURCES.md) of no one in the population
    assert unknown not in web.truth["people"]
    sign_in(page, web, "doctor")
    search(page, unknown)
    page.locator("#break-glass").click()
    page.get_by_role("dialog").get_by_label("Reason").fill(
        "Checking a referral letter from another city"
    )
    page.get_by_role("dialog").get_by_role("button", name="Read the passport").click()
    page.locator("#results .notice").filter(has_text="No such person").wait_for()
    assert page.locator("section.card").count() == 0
