"""Health managers: tables against the truth, suppressed cells said so, a chart each, pickers."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from tests.browser.conftest import WebStack
from tests.browser.helpers import assert_accessible, assert_fits_phone, save_screenshot, sign_in

K = 5  # [policy] suppression_k of the test gateway (the default)


def dispensations_by_atc(web: WebStack, start: str, end: str) -> dict[str, dict[str, Any]]:
    """Count, patients and cost per ATC code of the truth's dispensations in [start, end]."""
    rows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"count": 0, "patients": set(), "amount": Decimal(0)}
    )
    for iin, person in web.truth["people"].items():
        for dispensation in person["dispensations"]:
            if start <= dispensation["dispensedAt"][:10] <= end:
                row = rows[dispensation["drug"]["code"]]
                row["count"] += 1
                row["patients"].add(iin)
                row["amount"] += Decimal(dispensation["amountKzt"])
    return rows


def test_suppressed_cells_are_said_never_zero_and_the_rest_match_the_truth(
    page: Any, web: WebStack
) -> None:
    sign_in(page, web, "manager")
    page.locator("#stats-dispensations table").wait_for()
    # Whole months (YYYY-MM): from the first day of the first to the last day of the last.
    first, last = page.get_by_label("From").input_value(), page.get_by_label("To").input_value()
    year, month = map(int, last.split("-"))
    end = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).isoformat()
    truth = dispensations_by_atc(web, f"{first}-01", end)
    rows = page.locator("#stats-dispensations tbody tr")
    assert rows.count() == len(truth)
    suppressed = 0
    for i in range(rows.count()):
        row = rows.nth(i)
        expected = truth[row.get_attribute("data-key")]
        cells = row.locator("td").all_inner_texts()
        if len(expected["patients"]) < K:
            assert cells == ["suppressed"] * 3  # never a 0, never the figure
        if cells[0] == "suppressed":
            suppressed += 1
            assert "0" not in cells
            continue
        assert cells[0] == f"{expected['count']:,}"
        # Patients over several months may be withheld (docs/suppression.md), never wrong.
        assert cells[1] in ("withheld", f"{len(expected['patients']):,}")
        assert cells[2] == f"{expected['amount']:,.2f} ₸"
    assert suppressed  # the demo population has small groups
    chart = page.locator("#stats-dispensations figure.chart svg")
    assert chart.locator("rect.bar").count() == min(20, rows.count())
    assert chart.locator("rect.hidden-value").count() == min(
        suppressed,
        sum(1 for i in range(min(20, rows.count())) if "suppressed" in rows.nth(i).inner_text()),
    )
    for table in ("stats-prevalence", "stats-calls"):
        assert page.locator(f"#{table} figure.chart svg rect.bar").count() >= 1
    assert_accessible(page)
    assert_fits_phone(page)
    save_screenshot(page, "manager", "#stats-dispensations figure")
    page.get_by_label("Medicines grouped by").select_option("PROGRAM")
    page.get_by_role("button", name="Show").click()
    page.locator("#stats-dispensations h2").filter(has_text="programme").wait_for()
    page.locator("#tables[aria-busy=false]").wait_for()
    programmes = page.locator("#stats-dispensations tbody tr").all_inner_texts()
    assert any("OSMS" in row for row in programmes)


def test_regional_manager_sees_their_region_only(page: Any, web: WebStack) -> None:
    manager = web.person(next(key for key in web.people if key.startswith("manager-")))
    region = manager.claims["region"]
    expected = sum(
        1
        for person in web.truth["people"].values()
        for problem in person["problems"]
        if problem["region"] == region
        and problem["status"] == "ACTIVE"
        and problem["code"]["code"].startswith("E11")
    )
    sign_in(page, web, manager.key)
    picker = page.get_by_label("Region", exact=True)
    assert picker.is_disabled()
    assert picker.locator("option").all_inner_texts() == [region]
    rows = page.locator("#stats-prevalence tbody tr")
    rows.first.wait_for()
    assert rows.count() == 1
    assert rows.first.get_attribute("data-key") == region
    count = rows.first.locator("td").first.inner_text()
    assert count == ("suppressed" if expected < K else str(expected))
    assert_accessible(page)


def test_pickers_refuse_a_period_the_gateway_would_refuse(page: Any, web: WebStack) -> None:
    sign_in(page, web, "manager")
    page.locator("#tables[aria-busy=false]").wait_for()
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.endswith("/graphql") else None)
    page.get_by_label("From").fill("2026-06")
    page.get_by_label("To").fill("2026-05")
    page.get_by_role("button", name="Show").click()
    assert "after the last month" in page.locator("#period-problem").inner_text()
    page.get_by_label("From").fill("2020-01")
    page.get_by_label("To").fill("2026-05")
    page.get_by_role("button", name="Show").click()
    assert "at most 36 months" in page.locator("#period-problem").inner_text()
    this_month = page.evaluate("new Date().toISOString().slice(0, 7)")
    page.get_by_label("From").fill("2026-01")
    page.get_by_label("To").fill(this_month)
    page.get_by_role("button", name="Show").click()
    assert "must be over" in page.locator("#period-problem").inner_text()
    page.get_by_label("To").fill("2026-05")
    page.get_by_label("Diagnosis category (ICD-10)").fill("11E")
    page.get_by_role("button", name="Show").click()
    assert "a letter and two digits" in page.locator("#period-problem").inner_text()
    assert sent == []
