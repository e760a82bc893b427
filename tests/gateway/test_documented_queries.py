"""The example queries of docs/queries are valid against the served schema, and show what
issue 12 asks of them (this month's screening calendar, the nurse's dose check, the
emergency summary's contacts and completeness)."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import parse, validate

from gateway.schema.schema import build_schema

QUERIES = Path(__file__).resolve().parents[2] / "docs" / "queries"


@pytest.mark.parametrize("path", sorted(QUERIES.glob("*.graphql")), ids=lambda p: p.name)
def test_each_documented_query_validates(path: Path) -> None:
    errors = validate(build_schema()._schema, parse(path.read_text(encoding="utf-8")))
    assert errors == []


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("patient.graphql", "screeningPlan(months: 1)"),
        ("nurse.graphql", "doseCheck {"),
        ("emergency.graphql", "contacts {"),
        ("emergency.graphql", "complete"),
        ("guardian.graphql", "dependants {"),
        (
            "guardian-restrict.graphql",
            "restrictSection(section: LAB_RESULTS, restricted: true, iin:",
        ),
    ],
)
def test_the_documented_queries_show_the_issue_12_fields(name: str, shown: str) -> None:
    assert shown in (QUERIES / name).read_text(encoding="utf-8")
