"""The query cost of the README: each read costs the kinds of source system it needs.

Expected costs are worked out by hand from the README's rule and SOURCES.md: the register is
asked for every passport and emergency read; the EHRs hold identity-free clinical sections
(allergies, problems, medicines, observations, studies, immunisations, screenings,
encounters); the laboratory the lab results; the drug provision system prescriptions (current
medicines, emergency data) and dispensations; the ambulance dispatch calls (encounters). A
stats view costs its one system.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from gateway.config import LimitsSettings, ServerSettings
from gateway.errors import QUERY_TOO_COMPLEX
from gateway.schema.cost import query_cost
from gateway.schema.limits import DocumentLimits
from tests.e2e.test_passport import FULL_PASSPORT

QUERIES = Path(__file__).resolve().parents[2] / "docs" / "queries"
READ = "query($i: IIN!) { %s }"


def cost(text: str) -> int:
    """The cost of the document's only operation."""
    document = parse(text)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    (operation,) = (d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return query_cost(operation, fragments)


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ("iin", 1),  # the register is always asked
        ("identity { fullName } careTeam { generalPractitioner { name } }", 1),
        ("restrictedSections accessLog { at }", 1),  # our own stores are no source system
        ("allergies { category }", 2),  # + EHRs
        ("labResults { value }", 2),  # + laboratory
        ("dispensations { name }", 2),  # + drug provision
        ("currentMedications { name }", 3),  # + EHRs (statements) + drug provision (scripts)
        ("encounters { start }", 3),  # + EHRs + ambulance dispatch
        ("emergency { bloodGroup }", 3),  # + EHRs + drug provision
    ],
)
def test_a_passport_costs_the_register_and_the_systems_of_its_sections(
    selection: str, expected: int
) -> None:
    assert cost(READ % f"passport(iin: $i) {{ {selection} }}") == expected


def test_a_full_passport_costs_every_kind_of_system_once() -> None:
    assert cost(FULL_PASSPORT) == 5


def test_an_emergency_read_costs_register_ehrs_and_drug_provision() -> None:
    assert cost((QUERIES / "emergency.graphql").read_text(encoding="utf-8")) == 3
    assert cost(READ % 'emergency(iin: $i, reason: "fall") { identity { iin } }') == 1


def test_a_full_passport_and_an_emergency_read_fit_the_default() -> None:
    both = FULL_PASSPORT.replace(
        "sources { source ok stale error }\n} }",
        'sources { source ok stale error }\n} emergency(iin: $iin, reason: "fall") { '
        "bloodGroup allergies { category } currentMedications { name } } }",
    )
    assert cost(both) == 8 <= LimitsSettings().max_query_cost


def test_aliased_reads_each_cost_and_same_keys_merge_into_one() -> None:
    aliased = READ % " ".join(
        f"p{n}: passport(iin: $i) {{ labResults {{ value }} }}" for n in range(3)
    )
    assert cost(aliased) == 6
    # graphql-core runs fields of one response key once, with their selections merged.
    merged = READ % "passport(iin: $i) { iin } passport(iin: $i) { labResults { value } }"
    assert cost(merged) == 2
    via_fragments = """
      fragment Lab on Query { passport(iin: $i) { labResults { value } } }
      fragment Calls on Query { passport(iin: $i) { encounters { start } } }
      query($i: IIN!) { ...Lab ...Calls ...Lab }
    """
    assert cost(via_fragments) == 4  # one read: register, laboratory, EHRs, ambulance


def test_thirty_aliased_passports_are_over_the_default() -> None:
    thirty = READ % " ".join(f"p{n}: passport(iin: $i) {{ iin }}" for n in range(30))
    assert cost(thirty) == 30 > LimitsSettings().max_query_cost


def test_stats_views_cost_one_each() -> None:
    assert cost((QUERIES / "manager.graphql").read_text(encoding="utf-8")) == 3
    views = " ".join(f'v{n}: prevalence(icd10: "E11") {{ count }}' for n in range(4))
    assert cost(f"{{ stats {{ {views} }} }}") == 4
    assert cost("{ stats { __typename } }") == 0


def test_what_reads_no_source_costs_nothing() -> None:
    assert cost("{ me { role readableSections } __typename }") == 0
    assert cost("mutation { restrictSection(section: LAB_RESULTS, restricted: true) }") == 0


def test_dependants_cost_the_register_once_per_alias() -> None:
    # The caller's RelatedPersons and their children: one kind of system (the register).
    assert cost("{ dependants { iin } }") == 1
    assert cost("{ a: dependants { iin } b: dependants { fullName } }") == 2


def test_every_documented_query_is_within_the_default_limits() -> None:
    limits = DocumentLimits.of(ServerSettings(), LimitsSettings())
    for path in sorted(QUERIES.glob("*.graphql")):
        assert limits.check(parse(path.read_text(encoding="utf-8"))) == [], path.name


def test_only_the_first_limit_exceeded_is_reported_with_its_code() -> None:
    limits = DocumentLimits(
        max_depth=12, max_aliases=30, max_fields=500, max_repeated=50, max_cost=10
    )
    thirty_one = READ % " ".join(f"p{n}: passport(iin: $i) {{ iin }}" for n in range(31))
    (error,) = limits.check(parse(thirty_one))  # aliases first, though its cost is over too
    assert "31 aliases" in error.message
    assert error.extensions == {"code": QUERY_TOO_COMPLEX}
    (error,) = limits.check(
        parse(READ % " ".join(f"p{n}: passport(iin: $i) {{ iin }}" for n in range(11)))
    )
    assert "costs 11" in error.message and "limit of 10" in error.message
    assert error.extensions == {"code": QUERY_TOO_COMPLEX}
