"""The attacker against the running gateway: every table a manager can ask around a period.

For a period of whole months and its neighbours (the periods that start or end a month
earlier or later, and every single month among them), a national manager asks every grouping,
nationally and for each region, over real HTTP; ``tests/stats_audit.py`` then minimises and
maximises each suppressed figure under everything published. No figure may be pinned: a count
to an interval narrower than k, patients to fewer than k values, an amount to less than the
true amount of its suppressed parts (from the generator's ground truth). The two holes of issue
11 (6a, 6b) are reproduced as they were found.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.e2e.conftest import Gateway, Stack
from tests.e2e.test_stats import CALLS, DISPENSATIONS, REGIONS, ask, codes, rows_of
from tests.stats_audit import Audit, Table

DISPENSATION_TABLES = ("ATC", "PROGRAM", "PHARMACY")
CALL_TABLES = ("DIAGNOSIS", "OUTCOME", "STATION")


def shift(month: date, by: int) -> date:
    """The first day of the month ``by`` months after ``month``."""
    index = month.year * 12 + month.month - 1 + by
    return date(index // 12, index % 12 + 1, 1)


def last_day(month: date) -> date:
    return shift(month, 1) - timedelta(days=1)


def key(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def family(first: date, last: date, now: date) -> list[tuple[date, date]]:
    """A period (first and last month), the periods one month longer or shorter at either
    end, and every single month from the month before to the month after; none reaching the
    current month ``now`` (refused: it is not over)."""
    periods = {
        (shift(first, a), shift(last, b))
        for a in (-1, 0, 1)
        for b in (-1, 0, 1)
        if shift(first, a) <= shift(last, b)
    }
    month = shift(first, -1)
    while month <= shift(last, 1):
        periods.add((month, month))
        month = shift(month, 1)
    return sorted(period for period in periods if period[1] < now)


class Manager:
    """A national manager asking a gateway for whole-month tables, and what it has seen."""

    def __init__(self, gateway: Gateway | Stack, token: str, audit: Audit, query: str):
        self.gateway = gateway
        self.token = token
        self.audit = audit
        self.query = query
        self.seen: dict[tuple, dict[str, dict]] = {}

    def table(self, first: date, last: date, group: str, region: str | None) -> list[dict]:
        field = "dispensations" if self.query == DISPENSATIONS else "ambulanceCalls"
        variables = {
            "from": str(first),
            "to": str(last_day(last)),
            "region": region,
            "groupBy": group,
        }
        rows = rows_of(ask(self.gateway, self.query, variables, self.token), field)
        months = []
        month = first
        while month <= last:
            months.append(key(month))
            month = shift(month, 1)
        self.audit.add(Table(tuple(months), group, region, tuple(rows)))
        self.seen[(tuple(months), group, region)] = {row["key"]: row for row in rows}
        return rows

    def everything(self, first: date, last: date, now: date, groups: tuple[str, ...]) -> None:
        for start, end in family(first, last, now):
            for group in groups:
                for region in (None, *REGIONS):
                    self.table(start, end, group, region)


def dispensation_amounts(gt: dict) -> dict[tuple, Decimal]:
    """True amounts by (month, region, grouping, key); MONTH holds each region's total."""
    amounts: dict[tuple, Decimal] = defaultdict(Decimal)
    for person in gt["people"].values():
        for d in person["dispensations"]:
            month, region = d["dispensedAt"][:7], d["pharmacy"]["region"]
            amount = Decimal(d["amountKzt"])
            for group, value in (
                ("ATC", d["drug"]["code"]),
                ("PROGRAM", d["program"]),
                ("PHARMACY", d["pharmacy"]["bin"]),
                ("MONTH", month),
            ):
                amounts[(month, region, group, value)] += amount
    return amounts


def unpublished_amount(manager: Manager, truth: dict[tuple, Decimal]):
    """The true amount of a suppressed row that no published figure accounts for: month by
    month, a regional row's amount when that month's regional row is suppressed; a national
    row's, when that month's national row is, the amount of its suppressed regional rows."""

    def alone(month: str, group: str, view: str | None, part: str) -> bool:
        row = manager.seen[((month,), group, view)].get(part)
        return row is not None and row["suppressed"]

    def amount(table: Table, row_key: str) -> Decimal:
        if table.grouping in ("MONTH", "REGION"):
            group = "MONTH"
            months = (row_key,) if table.grouping == "MONTH" else table.months
            view = row_key if table.grouping == "REGION" else table.view
        else:
            group, months, view = table.grouping, table.months, table.view
        total = Decimal(0)
        for month in months:
            part = month if group == "MONTH" else row_key
            if not alone(month, group, view, part):
                continue  # that month's figure is published
            for region in REGIONS if view is None else (view,):
                if alone(month, group, region, part):
                    total += truth[(month, region, group, part)]
        return total

    return amount


@pytest.fixture(scope="module")
def manager_token(stack: Stack) -> str:
    return stack.token("manager")


@pytest.fixture(scope="module", params=[5, 2], ids=lambda k: f"k={k}")
def gateway(request: pytest.FixtureRequest, stack: Stack) -> Iterator[Gateway]:
    """The session gateway (k = 5) and one with k = 2 (more visible, more complements)."""
    if request.param == stack.gateway.settings.policy.suppression_k:
        yield stack.gateway
        return
    with stack.fresh_gateway(policy={"suppression_k": request.param}) as fresh:
        yield fresh


def this_month(stack: Stack) -> date:
    today = date.fromisoformat(stack.ground_truth["today"])
    return date(today.year, today.month, 1)


# Periods by their months before this month: dense months, the edge of the data, sparse months.
FAMILIES = {"dense": (-5, -4), "edge": (-1, -1), "sparse": (-11, -9)}


def asked_around(
    stack: Stack, gateway: Gateway, token: str, where: str, calls: bool
) -> tuple[Audit, Manager]:
    """Everything a national manager can ask around one family's period, in an audit."""
    tables = CALL_TABLES if calls else DISPENSATION_TABLES
    k = gateway.settings.policy.suppression_k
    audit = Audit(REGIONS, tables, complete=not calls, k=k)
    manager = Manager(gateway, token, audit, CALLS if calls else DISPENSATIONS)
    now = this_month(stack)
    first, last = (shift(now, by) for by in FAMILIES[where])
    extra = ("MONTH",) if calls else ("REGION", "MONTH")
    manager.everything(first, last, now, (*tables, *extra))
    return audit, manager


@pytest.mark.parametrize("where", list(FAMILIES))
def test_no_dispensation_figure_is_pinned(
    stack: Stack, gateway: Gateway, manager_token: str, where: str
) -> None:
    audit, manager = asked_around(stack, gateway, manager_token, where, calls=False)
    truth = dispensation_amounts(stack.ground_truth)
    assert audit.findings(unpublished_amount(manager, truth)) == []


@pytest.mark.parametrize("where", ["dense", "sparse"])
def test_no_ambulance_figure_is_pinned(
    stack: Stack, gateway: Gateway, manager_token: str, where: str
) -> None:
    audit, _ = asked_around(stack, gateway, manager_token, where, calls=True)
    assert audit.findings() == []


def test_hole_6a_a_region_total_against_its_months(stack: Stack, manager_token: str) -> None:
    """REGION gave almaty's total; MONTH for almaty showed the other months and listed two
    as suppressed, each then exactly 1. The two tables of one period must not pin a month."""
    audit = Audit(REGIONS, DISPENSATION_TABLES, complete=True, k=5)
    manager = Manager(stack, manager_token, audit, DISPENSATIONS)
    now = this_month(stack)
    first, last = shift(now, -11), shift(now, -1)
    manager.table(first, last, "REGION", None)
    for region in (None, *REGIONS):
        manager.table(first, last, "MONTH", region)
    assert audit.findings() == []


def test_hole_6b_periods_a_day_apart(stack: Stack, manager_token: str) -> None:
    """Two periods a day apart differed by that day's dispensations, in every grouping. Such
    periods are refused, with a message saying what a period must be; the aligned neighbours
    are audited above."""
    now = this_month(stack)
    start = shift(now, -6)
    end = shift(now, -1) + timedelta(days=18)
    seen: dict[str, list[dict[str, dict]]] = defaultdict(list)
    for last in (end, end + timedelta(days=1)):
        for group in ("REGION", "ATC", "PROGRAM", "PHARMACY"):
            variables = {"from": str(start), "to": str(last), "groupBy": group}
            body = ask(stack, DISPENSATIONS, variables, manager_token)
            if body.get("errors"):
                assert codes(body) == [("BAD_USER_INPUT", ["stats", "dispensations"])]
                assert "whole calendar months" in body["errors"][0]["message"]
                continue
            seen[group].append({row["key"]: row for row in rows_of(body, "dispensations")})
    for group, answers in seen.items():
        if len(answers) < 2:
            continue
        shorter, longer = answers
        for row_key, row in longer.items():
            before = shorter.get(row_key)
            if row["suppressed"] or before is None or before["suppressed"]:
                continue
            day = row["count"] - before["count"]
            assert not 0 < day < 5, f"{group} {row_key}: {day} dispensations on one day"
