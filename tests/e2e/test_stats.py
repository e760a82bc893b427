"""Managers' aggregates over real HTTP, checked against figures computed from the ground truth.

Expected figures come from the generator's ground truth (dispensations, ambulance calls,
problems), never from the gateway. Suppression is checked as a property here: every row under
k is suppressed and every visible figure is exact. The attacker (linear programming over every
table of a period and its neighbours) is ``tests/e2e/test_stats_audit.py``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import pytest

from gateway.resolvers.suppression import Cell
from tests.e2e.conftest import Gateway, Stack

REGIONS = ("astana", "almaty", "shymkent")
ACTIVE = ("active", "recurrence", "relapse")

DISPENSATIONS = """
query($from: Date!, $to: Date!, $region: String, $groupBy: DispensationGrouping!) {
  stats { dispensations(from: $from, to: $to, region: $region, groupBy: $groupBy) {
    key label count patients amountKzt suppressed } } }
"""
CALLS = """
query($from: Date!, $to: Date!, $region: String, $groupBy: CallGrouping!) {
  stats { ambulanceCalls(from: $from, to: $to, region: $region, groupBy: $groupBy) {
    key label count patients amountKzt suppressed } } }
"""
PREVALENCE = """
query($icd10: String!, $region: String) {
  stats { prevalence(icd10: $icd10, region: $region) {
    key label count patients amountKzt suppressed } } }
"""
PERIODS = (
    (date(2025, 1, 1), date(2025, 12, 31)),
    (date(2026, 1, 1), date(2026, 11, 30)),
    (date(2023, 12, 1), date(2026, 11, 30)),  # the longest period allowed (ends last month)
    (date(2026, 3, 1), date(2026, 3, 31)),  # a month: mostly small groups
)


# --- the ground truth's figures ---------------------------------------------------------------


def truth_dispensations(gt: dict, start: date, end: date, region: str | None, group: str) -> dict:
    """key -> Cell(count, distinct patients, amount) for dispensations in the period."""
    count: dict = defaultdict(int)
    patients: dict = defaultdict(set)
    amount: dict = defaultdict(Decimal)
    for iin, person in gt["people"].items():
        for d in person["dispensations"]:
            day = date.fromisoformat(d["dispensedAt"][:10])
            pharmacy = d["pharmacy"]
            if not start <= day <= end or (region and pharmacy["region"] != region):
                continue
            key = {
                "ATC": d["drug"]["code"],
                "REGION": pharmacy["region"],
                "MONTH": d["dispensedAt"][:7],
                "PROGRAM": d["program"],
                "PHARMACY": pharmacy["bin"],
            }[group]
            count[key] += 1
            patients[key].add(iin)
            amount[key] += Decimal(d["amountKzt"])
    return {key: Cell(count[key], len(patients[key]), amount[key]) for key in count}


def truth_calls(gt: dict, start: date, end: date, region: str | None, group: str) -> dict:
    """key -> Cell(calls, distinct patients) for calls received in the period."""
    count: dict = defaultdict(int)
    patients: dict = defaultdict(set)
    for iin, person in gt["people"].items():
        for call in person["ambulanceCalls"]:
            day = date.fromisoformat(call["received"][:10])
            if not start <= day <= end or (region and call["region"] != region):
                continue
            diagnosis = call["diagnosisIcd10"]
            key = {
                "DIAGNOSIS": diagnosis[:3] if diagnosis else None,
                "OUTCOME": call["outcome"],
                "STATION": call["stationCode"],
                "MONTH": call["received"][:7],
            }[group]
            if key is None:  # the dispatch leaves calls without that attribute out
                continue
            count[key] += 1
            patients[key].add(iin)
    return {key: Cell(count[key], len(patients[key])) for key in count}


def truth_prevalence(gt: dict, category: str) -> dict:
    """region -> active Conditions in the category: problem-list entries, plus diagnoses of
    hospital stays still ongoing (the generator keeps those active for ten days)."""
    today = date.fromisoformat(gt["today"])
    counts = dict.fromkeys(REGIONS, 0)
    for person in gt["people"].values():
        for problem in person["problems"]:
            if problem["code"]["code"][:3] == category and problem["clinicalStatus"] in ACTIVE:
                counts[problem["region"]] += 1
        for enc in person["encounters"]:
            diagnosis = enc["diagnosis"]
            if enc["kind"] not in ("INPATIENT", "EMERGENCY") or not diagnosis:
                continue
            started = date.fromisoformat(enc["start"][:10])
            ongoing = enc["end"] is None or (today - started).days <= 10
            if ongoing and diagnosis["code"][:3] == category:
                counts[enc["region"]] += 1
    return counts


# --- asking the gateway -----------------------------------------------------------------------


def ask(stack: Stack | Gateway, query: str, variables: dict, token: str) -> dict:
    """The response body (HTTP 200 expected)."""
    response = stack.graphql(query, variables, token)
    assert response.status_code == 200, response.text
    return response.json()


def rows_of(body: dict, field: str) -> list[dict]:
    assert not body.get("errors"), body["errors"]
    return body["data"]["stats"][field]


def codes(body: dict) -> list[tuple[str, list]]:
    return [(e["extensions"]["code"], e.get("path")) for e in body.get("errors", [])]


@pytest.fixture(scope="module")
def manager(stack: Stack) -> str:
    return stack.token("manager")


@pytest.fixture(scope="module", params=[5, 2, 1], ids=lambda k: f"k={k}")
def gateway(request: pytest.FixtureRequest, stack: Stack) -> Iterator[Gateway]:
    """The session gateway (k = 5, the default), and gateways with smaller k: the demo
    population is small, so k = 1 shows every figure and k = 2 leaves more tables partly
    visible, with complementary suppression across regions."""
    if request.param == stack.gateway.settings.policy.suppression_k:
        yield stack.gateway
        return
    with stack.fresh_gateway(policy={"suppression_k": request.param}) as fresh:
        yield fresh


def check_view(
    rows: list[dict], truth: dict, k: int, with_amount: bool, withheld: set[str]
) -> None:
    """Same keys as the truth; small groups suppressed with null figures; visible ones exact,
    but for the patients of the ``withheld`` keys, which are null."""
    assert [row["key"] for row in rows] == sorted(truth)
    for row in rows:
        expected = truth[row["key"]]
        if expected.patients < k:
            assert row["suppressed"] is True, row
        if row["suppressed"]:
            assert row["count"] is None and row["patients"] is None
            assert row["amountKzt"] is None
            continue
        assert row["count"] == expected.count, row
        if row["key"] in withheld:
            assert row["patients"] is None, row
        else:
            assert row["patients"] == expected.patients, row
        if with_amount:
            assert Decimal(row["amountKzt"]) == expected.amount, row
        else:
            assert row["amountKzt"] is None


# --- figures and suppression ------------------------------------------------------------------


def check_every_view(
    gateway: Gateway,
    manager: str,
    query: str,
    field: str,
    period: tuple[date, date],
    group: str,
    truth_of: Callable[[str | None], dict],
    with_amount: bool,
) -> None:
    """The national view and each region's against the truth. A national row over several
    months withholds its patients exactly when some region hides its row of that key."""
    start, end = period
    k = gateway.settings.policy.suppression_k
    views = {}
    for region in (None, *REGIONS):
        variables = {"from": str(start), "to": str(end), "region": region, "groupBy": group}
        views[region] = rows_of(ask(gateway, query, variables, manager), field)
    several = (start.year, start.month) != (end.year, end.month)
    hidden = {row["key"] for region in REGIONS for row in views[region] if row["suppressed"]}
    for region, rows in views.items():
        national_table = region is None and several and group not in ("REGION", "MONTH")
        withheld = hidden if national_table else set()
        check_view(rows, truth_of(region), k, with_amount=with_amount, withheld=withheld)


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: f"{p[0]}..{p[1]}")
@pytest.mark.parametrize("group", ["ATC", "REGION", "MONTH", "PROGRAM", "PHARMACY"])
def test_dispensations_match_the_ground_truth(
    stack: Stack, gateway: Gateway, manager: str, period, group
) -> None:
    def truth(region: str | None) -> dict:
        return truth_dispensations(stack.ground_truth, *period, region, group)

    check_every_view(gateway, manager, DISPENSATIONS, "dispensations", period, group, truth, True)


@pytest.mark.parametrize("period", PERIODS, ids=lambda p: f"{p[0]}..{p[1]}")
@pytest.mark.parametrize("group", ["DIAGNOSIS", "OUTCOME", "STATION", "MONTH"])
def test_ambulance_calls_match_the_ground_truth(
    stack: Stack, gateway: Gateway, manager: str, period, group
) -> None:
    def truth(region: str | None) -> dict:
        return truth_calls(stack.ground_truth, *period, region, group)

    check_every_view(gateway, manager, CALLS, "ambulanceCalls", period, group, truth, False)


@pytest.mark.parametrize("category", ["I10", "E11", "E78", "J45", "I25", "K29", "Z34"])
def test_prevalence_matches_the_ground_truth(stack: Stack, manager: str, category: str) -> None:
    k = stack.gateway.settings.policy.suppression_k
    truth = truth_prevalence(stack.ground_truth, category)
    rows = rows_of(ask(stack, PREVALENCE, {"icd10": category}, manager), "prevalence")
    assert [row["key"] for row in rows] == list(REGIONS)
    suppressed = {row["key"] for row in rows if row["suppressed"]}
    assert {region for region, count in truth.items() if count < k} <= suppressed
    for row in rows:
        assert row["amountKzt"] is None
        if not row["suppressed"]:
            assert row["count"] == row["patients"] == truth[row["key"]]
    # National total minus the visible regions: never a single suppressed region left.
    assert len(suppressed) != 1
    if suppressed and len(suppressed) < len(REGIONS):
        assert sum(truth[region] for region in suppressed) > 0


def test_prevalence_suppresses_the_next_smallest_region(stack: Stack, manager: str) -> None:
    truth = truth_prevalence(stack.ground_truth, "K29")  # a rare category
    k = stack.gateway.settings.policy.suppression_k
    small = {region for region, count in truth.items() if count < k}
    rows = rows_of(ask(stack, PREVALENCE, {"icd10": "k29"}, manager), "prevalence")
    suppressed = {row["key"] for row in rows if row["suppressed"]}
    if len(small) == 1:
        nxt = min((c, r) for r, c in truth.items() if r not in small)[1]
        assert suppressed == small | {nxt}
    else:
        assert suppressed == small or suppressed == set(REGIONS)


# --- scoping ----------------------------------------------------------------------------------


def test_regional_manager_sees_own_region_as_a_national_manager_filtering_does(
    stack: Stack, manager: str
) -> None:
    variables = {"from": "2025-01-01", "to": "2025-12-31", "groupBy": "ATC"}
    for region in REGIONS:
        regional = stack.token("manager", region=region)
        own = rows_of(ask(stack, DISPENSATIONS, variables, regional), "dispensations")
        filtered = rows_of(
            ask(stack, DISPENSATIONS, {**variables, "region": region}, manager), "dispensations"
        )
        assert own == filtered
        prevalence = rows_of(ask(stack, PREVALENCE, {"icd10": "I10"}, regional), "prevalence")
        assert [row["key"] for row in prevalence] == [region]


def test_regional_manager_asking_another_region_is_forbidden(stack: Stack) -> None:
    token = stack.token("manager", region="astana")
    variables = {"from": "2025-01-01", "to": "2025-12-31", "region": "almaty", "groupBy": "ATC"}
    body = ask(stack, DISPENSATIONS, variables, token)
    assert codes(body) == [("FORBIDDEN", ["stats", "dispensations"])]
    body = ask(stack, PREVALENCE, {"icd10": "E11", "region": "almaty"}, token)
    assert codes(body) == [("FORBIDDEN", ["stats", "prevalence"])]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (DISPENSATIONS, {"from": "2026-02-01", "to": "2026-01-01", "groupBy": "ATC"}),
        (DISPENSATIONS, {"from": "2020-01-01", "to": "2026-01-01", "groupBy": "ATC"}),
        (
            DISPENSATIONS,
            {"from": "2025-01-01", "to": "2025-02-01", "groupBy": "ATC", "region": "karaganda"},
        ),
        (DISPENSATIONS, {"from": "2025-01-01", "to": "2025-02-01", "groupBy": "BRAND"}),
        (DISPENSATIONS, {"from": "2025-13-01", "to": "2025-02-01", "groupBy": "ATC"}),
        (CALLS, {"from": "2026-02-01", "to": "2026-01-01", "groupBy": "OUTCOME"}),
        # Managers' periods are whole calendar months, at most 36 (docs/suppression.md).
        (DISPENSATIONS, {"from": "2026-06-01", "to": "2026-11-19", "groupBy": "REGION"}),
        (DISPENSATIONS, {"from": "2026-06-02", "to": "2026-11-30", "groupBy": "ATC"}),
        (DISPENSATIONS, {"from": "2024-01-01", "to": "2027-01-31", "groupBy": "ATC"}),
        (CALLS, {"from": "2026-06-01", "to": "2026-06-15", "groupBy": "DIAGNOSIS"}),
        (PREVALENCE, {"icd10": "E11.9"}),
        (PREVALENCE, {"icd10": "E11' OR 1=1"}),
        (PREVALENCE, {"icd10": "E11", "region": "nowhere"}),
    ],
)
def test_bad_input_is_bad_user_input(stack: Stack, manager: str, query: str, variables) -> None:
    body = ask(stack, query, variables, manager)
    assert [code for code, _ in codes(body)] == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("role", ["patient", "emergency", "nurse", "doctor"])
def test_every_other_role_is_forbidden_stats(stack: Stack, role: str) -> None:
    person = next(iter(stack.ground_truth["people"]))
    token = stack.token(role, iin=person, org_bin="000000000000", practitioner_id="P-1")
    body = ask(stack, PREVALENCE, {"icd10": "E11"}, token)
    assert body["data"]["stats"] is None
    assert codes(body) == [("FORBIDDEN", ["stats"])]


def test_manager_is_forbidden_passport_and_emergency(stack: Stack, manager: str) -> None:
    iin = next(iter(stack.ground_truth["people"]))
    body = ask(stack, "query($i: IIN!) { passport(iin: $i) { iin } }", {"i": iin}, manager)
    assert body["data"]["passport"] is None
    assert codes(body) == [("FORBIDDEN", ["passport"])]
    emergency = 'query($i: IIN!) { emergency(iin: $i, reason: "unconscious") { bloodGroup } }'
    body = ask(stack, emergency, {"i": iin}, manager)
    assert body["data"]["emergency"] is None
    assert codes(body) == [("FORBIDDEN", ["emergency"])]


# --- pushed down, cached, resilient -----------------------------------------------------------


def _requests(stack: Stack, name: str) -> list[dict[str, Any]]:
    return stack.emulator_requests(name)["recent"]


def _view(query: str) -> tuple[str, str, str | None, str]:
    """A stats request's period, region and grouping."""
    params = dict(parse_qsl(query))
    return params["from"], params["to"], params.get("region"), params["groupBy"]


def _expected_dps_views(regional: tuple[str, ...]) -> set[tuple[str, str, str | None, str]]:
    """What a year of dispensations by ATC then PHARMACY asks (stats.py): the month totals of
    every view and the national view of each grouping asked, over the year; for each month the
    national view of every grouping (the dark-month test) and each region's view of the
    groupings in ``regional`` (those asked, and any the dark-month test needs)."""
    views: set[tuple[str, str, str | None, str]] = set()
    for region in (None, *REGIONS):
        views.add(("2025-01-01", "2025-12-31", region, "month"))
    views |= {("2025-01-01", "2025-12-31", None, group) for group in ("atc", "pharmacy")}
    for month in range(1, 13):
        first = date(2025, month, 1)
        last = date(2025 + month // 12, month % 12 + 1, 1) - timedelta(days=1)
        span = (first.isoformat(), last.isoformat())
        views |= {(*span, None, group) for group in ("atc", "program", "pharmacy")}
        views |= {(*span, region, group) for region in REGIONS for group in regional}
    return views


def test_only_aggregates_are_asked_of_the_sources(stack: Stack, manager: str) -> None:
    with stack.fresh_gateway() as gateway:  # a cold cache: every figure is fetched
        stack.reset_requests()
        for group in ("ATC", "PHARMACY"):
            variables = {"from": "2025-01-01", "to": "2025-12-31", "groupBy": group}
            assert not gateway.graphql(DISPENSATIONS, variables, manager).json().get("errors")
        variables = {"from": "2025-01-01", "to": "2025-12-31", "groupBy": "DIAGNOSIS"}
        assert not gateway.graphql(CALLS, variables, manager).json().get("errors")
        assert not gateway.graphql(PREVALENCE, {"icd10": "E11"}, manager).json().get("errors")
        dps = [r for r in _requests(stack, "dps") if r["path"] != "/oauth/token"]
        assert dps and {r["path"] for r in dps} == {"/v1/stats/dispensations"}
        asked = [_view(r["query"]) for r in dps]
        assert len(asked) == len(set(asked))  # every view once: the second grouping reuses
        assert _expected_dps_views(("atc", "pharmacy")) <= set(asked)
        assert set(asked) <= _expected_dps_views(("atc", "pharmacy", "program"))
        calls = _requests(stack, "ambulance")
        assert calls and {r["path"] for r in calls} == {"/api/stats/calls"}
        for region in REGIONS:
            ehr = _requests(stack, f"ehr-{region}")
            assert len(ehr) == 1
            assert ehr[0]["path"].endswith("/Condition")
            assert "_summary=count" in ehr[0]["query"]
            assert "code%3Abelow" in ehr[0]["query"] or "code:below" in ehr[0]["query"]
        # The register is only read for its directory (the app warms it on start), never people.
        register = {r["path"].rsplit("/", 1)[-1] for r in _requests(stack, "register")}
        assert register <= {"Organization", "Practitioner"}
        assert stack.request_counts()["lis"] == 0
        # Asked again: served from the cache, no source is asked.
        stack.reset_requests()
        assert not gateway.graphql(PREVALENCE, {"icd10": "E11"}, manager).json().get("errors")
        counts = stack.request_counts()
        assert sum(n for name, n in counts.items() if name != "register") == 0


def test_a_failed_region_is_reported_not_fatal(clean_faults: Stack, manager: str) -> None:
    stack = clean_faults
    truth = truth_prevalence(stack.ground_truth, "I10")
    with stack.fresh_gateway() as gateway:
        stack.fault("ehr-almaty", down=True)
        body = gateway.graphql(PREVALENCE, {"icd10": "I10"}, manager).json()
        rows = body["data"]["stats"]["prevalence"]
        assert [row["key"] for row in rows] == list(REGIONS)
        failed = rows[1]
        assert failed["count"] is None and failed["patients"] is None
        assert failed["suppressed"] is False
        assert sorted(codes(body)) == [
            ("SOURCE_UNAVAILABLE", ["stats", "prevalence", 1, "count"]),
            ("SOURCE_UNAVAILABLE", ["stats", "prevalence", 1, "patients"]),
        ]
        for row in (rows[0], rows[2]):
            if not row["suppressed"]:
                assert row["count"] == truth[row["key"]]
        # A regional manager of the failed region: nothing could be computed.
        regional = stack.token("manager", region="almaty")
        body = gateway.graphql(PREVALENCE, {"icd10": "I10"}, regional).json()
        assert codes(body) == [("SOURCE_UNAVAILABLE", ["stats", "prevalence"])]


def test_drug_system_down_is_source_unavailable(clean_faults: Stack, manager: str) -> None:
    stack = clean_faults
    with stack.fresh_gateway() as gateway:
        stack.fault("dps", down=True)
        variables = {"from": "2025-01-01", "to": "2025-12-31", "groupBy": "PROGRAM"}
        body = gateway.graphql(DISPENSATIONS, variables, manager).json()
        assert codes(body) == [("SOURCE_UNAVAILABLE", ["stats", "dispensations"])]
