"""The patient: "This month" first, the sections, trends, spending, the access log, privacy."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from demo.idp import overdue_screenings
from tests.browser.conftest import WebStack
from tests.browser.helpers import (
    assert_accessible,
    assert_fits_phone,
    save_screenshot,
    sign_in,
    text_of,
)
from tests.displays import term
from tests.e2e.conftest import random_subject

BREAK_GLASS_READ = (
    "query($iin: IIN!, $r: String) { passport(iin: $iin, breakGlassReason: $r) "
    "{ identity { fullName } } }"
)
BREAK_GLASS_REASON = "Brought in unconscious by relatives, no documents"
EMERGENCY_REASON = "103 call 4471: collapsed in the street"
LABS_QUERY = "query($iin: IIN!) { passport(iin: $iin) { labResults { value } } }"
RESTRICTABLE = 9  # ACCESS.md lists nine sections a patient may hide
ALWAYS_VISIBLE = 7  # and seven that cannot be hidden


def patient_of(web: WebStack) -> dict[str, Any]:
    """The ground truth of the demo IdP's patient."""
    return web.truth["people"][web.person("patient").claims["iin"]]


def test_patient_sees_this_month_first_then_the_passport(page: Any, web: WebStack) -> None:
    truth = patient_of(web)
    iin = truth["identity"]["iin"]
    sign_in(page, web, "patient")
    cards = page.locator("main > section.card")
    assert cards.first.get_attribute("id") == "this-month"
    this_month = page.locator("#this-month")
    overdue = overdue_screenings(web.truth, iin)
    assert overdue  # the IdP chose this patient for it
    for code in overdue:
        item = this_month.locator(f'li[data-code="{code}"]')
        assert "Overdue" in item.inner_text()
    identity = text_of(page, "#section-identity")
    assert truth["identity"]["fullName"] in identity and iin in identity
    # Medicines now taken, each with where the fact comes from.
    medicines = page.locator("#section-medications li")
    assert medicines.count() == len(truth["currentMedications"])
    for medicine in truth["currentMedications"]:
        item = medicines.filter(has_text=medicine["name"])
        assert item.count() == 1
        assert item.locator(".provenance").last.inner_text().startswith("From ")
    assert page.locator("#section-immunizations li").count() == len(truth["immunizations"])
    assert "FORBIDDEN" not in page.locator("main").inner_text()
    assert page.locator("#whose").count() == 0  # no children: no switcher
    assert_fits_phone(page)
    assert_accessible(page)
    save_screenshot(page, "patient")


def test_repeated_lab_tests_have_a_trend_with_the_reference_range(page: Any, web: WebStack) -> None:
    truth = patient_of(web)
    numeric: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in truth["labResults"]:
        if result["numericValue"] is not None:
            test = result["test"]
            numeric[test["loinc"] or test["testCode"]].append(result)  # LIS code when no LOINC
    repeated = {loinc: results for loinc, results in numeric.items() if len(results) >= 2}
    assert repeated
    sign_in(page, web, "patient")
    for loinc, results in repeated.items():
        block = page.locator(f'#section-lab-results li[data-test="{loinc}"]')
        chart = block.locator("figure.chart svg")
        assert chart.locator("circle").count() == len(results), loinc
        assert chart.locator("rect.band").count() == 1
        assert (
            results[0]["referenceRange"].split("-")[0] in block.locator("figcaption").inner_text()
        )
        latest = max(results, key=lambda r: r["resultedAt"])
        if latest["flag"] == "HIGH":
            assert "High" in block.locator(".badge").first.inner_text()


def test_free_medicines_have_a_yearly_total(page: Any, web: WebStack) -> None:
    truth = patient_of(web)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for dispensation in truth["dispensations"]:
        totals[dispensation["dispensedAt"][:4]] += Decimal(dispensation["amountKzt"])
    assert totals
    sign_in(page, web, "patient")
    rows = page.locator("#section-dispensations table.totals tbody tr")
    shown = {
        rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").inner_text()
        for i in range(rows.count())
    }
    assert shown == {year: f"{amount:,.2f} ₸" for year, amount in totals.items()}
    listed = page.locator("#section-dispensations table.dispensations tbody tr")
    assert listed.count() == len(truth["dispensations"])


def test_access_log_shows_who_read_and_makes_break_glass_and_emergency_stand_out(
    page: Any, web: WebStack
) -> None:
    iin = web.person("patient").claims["iin"]
    clinic = patient_of(web)["careTeam"]["attachedOrganization"]["bin"]
    outsider = next(
        p
        for p in web.truth["practitioners"]
        if p["orgBin"] != clinic and "врач" in p["qualification"].lower()
    )
    doctor = web.stack.token(
        "doctor",
        subject=random_subject(),
        practitioner_id=outsider["id"],
        org_bin=outsider["orgBin"],
    )
    read = web.graphql(
        BREAK_GLASS_READ,
        {"iin": iin, "r": BREAK_GLASS_REASON},
        doctor,
    )
    assert read["data"]["passport"]["identity"]["fullName"]
    paramedic = web.person("paramedic").claims
    crew = web.stack.token("emergency", subject=random_subject(), **paramedic)
    web.graphql(
        "query($iin: IIN!, $r: String!) { emergency(iin: $iin, reason: $r) { bloodGroup } }",
        {"iin": iin, "r": EMERGENCY_REASON},
        crew,
    )
    sign_in(page, web, "patient")
    log = page.locator("#access-log")
    broken = log.locator("tbody tr").filter(has_text=BREAK_GLASS_REASON)
    assert broken.count() == 1
    assert "alert" in broken.get_attribute("class")
    assert "Break glass" in broken.locator("td.basis").inner_text()  # in words, not colour alone
    assert outsider["name"] in broken.inner_text()
    emergency = log.locator("tbody tr").filter(has_text=EMERGENCY_REASON)
    assert "alert" in emergency.get_attribute("class")
    assert "Emergency" in emergency.locator("td.basis").inner_text()
    assert "break-glass or emergency" in log.locator(".notice").inner_text()
    assert_accessible(page)


def test_restriction_switches_hide_a_section_and_the_safety_sections_stay(
    page: Any, web: WebStack
) -> None:
    iin = web.person("patient").claims["iin"]
    doctor = web.stack.token("doctor", subject=random_subject(), **web.person("doctor").claims)
    sign_in(page, web, "patient")
    privacy = page.locator("#privacy")
    assert privacy.locator("input[role=switch]:not([disabled])").count() == RESTRICTABLE
    locked = privacy.locator("input[role=switch][disabled]")
    assert locked.count() == ALWAYS_VISIBLE
    assert (
        "cannot be hidden" in privacy.locator("li.locked").filter(has_text="Allergies").inner_text()
    )
    switch = page.get_by_role("switch", name="Hide Lab results")
    try:
        switch.check()
        page.locator("#status").filter(has_text="Lab results is now hidden").wait_for()
        hidden = web.graphql(LABS_QUERY, {"iin": iin}, doctor)
        assert hidden["errors"][0]["extensions"]["code"] == "RESTRICTED_BY_PATIENT"
    finally:
        switch.uncheck()
        page.locator("#status").filter(has_text="visible to your nurses and doctors").wait_for()
    shown = web.graphql(LABS_QUERY, {"iin": iin}, doctor)
    assert shown["data"]["passport"]["labResults"]


def test_languages_change_the_labels_and_what_the_gateway_is_asked(
    page: Any, web: WebStack
) -> None:
    languages: list[str] = []
    page.on(
        "request",
        lambda r: (
            languages.append(r.headers.get("accept-language", ""))
            if r.url.endswith("/graphql")
            else None
        ),
    )
    sign_in(page, web, "patient")
    assert languages and set(languages) == {"en"}
    # The gateway's own words follow: a problem's ICD-10 title from its data file, marked with
    # the language the gateway says it is in.
    problem = web.truth["people"][web.person("patient").claims["iin"]]["problems"][0]["code"]
    for code, title in (("kk", "Менің денсаулық паспортым"), ("ru", "Мой паспорт здоровья")):
        languages.clear()
        page.select_option("#language", code)
        page.locator("main h1").filter(has_text=title).wait_for()
        assert page.evaluate("document.documentElement.lang") == code
        assert languages and set(languages) == {code}
        display = term(problem["system"], problem["code"], code)
        assert (display and display != problem["display"]) or code == "ru"
        page.locator(f'#section-problems span[lang="{code}"]', has_text=display).first.wait_for()
    assert_accessible(page)


def test_a_guardian_switches_to_each_child_and_others_see_no_switcher(
    page: Any, web: WebStack
) -> None:
    key = "parent" if "parent" in web.people else "patient"
    adult = web.person(key).claims["iin"]
    children = sorted(web.truth["people"][adult]["dependants"])
    sign_in(page, web, key)
    switcher = page.locator("#whose")
    if not children:
        assert switcher.count() == 0
        return
    options = switcher.locator("option")
    assert (
        sorted(options.nth(i).get_attribute("value") for i in range(1, options.count())) == children
    )
    switcher.select_option(children[0])
    name = web.truth["people"][children[0]]["identity"]["fullName"]
    page.locator("main h1").filter(has_text=name).wait_for()
    assert_accessible(page)
