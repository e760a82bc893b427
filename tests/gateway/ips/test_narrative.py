"""Narratives are XHTML whatever a source sends, and OperationOutcomes carry ACCESS.md's codes."""

from __future__ import annotations

import pytest
from defusedxml.ElementTree import fromstring
from fhir.resources.R4B.narrative import Narrative
from fhir.resources.R4B.operationoutcome import OperationOutcome

from gateway.auth.policy import Section
from gateway.errors import ERROR_CODES
from gateway.ips.narrative import XHTML, Table, narrative
from gateway.ips.outcome import STATUS, Missing, error_outcome, http_status, left_out
from gateway.ips.sections import BY_KEY
from gateway.language import words_for
from gateway.language.catalogue import load_catalogue

HOSTILE = '<script>alert("x")</script> & <b onclick="steal()">'


def test_source_text_never_becomes_markup() -> None:
    table = Table(headers=["Substance", HOSTILE], rows=[[HOSTILE, "ok"]], caption=HOSTILE)
    made = narrative([table, HOSTILE], "en")
    Narrative.model_validate(made)
    root = fromstring(made["div"])
    assert root.tag == f"{{{XHTML}}}div"
    tags = {element.tag.split("}")[1] for element in root.iter()}
    assert tags == {"div", "table", "caption", "thead", "tbody", "tr", "th", "td", "p"}
    assert "<script>" not in made["div"] and "&lt;script&gt;" in made["div"]
    assert "".join(root.itertext()).count(HOSTILE) == 4  # the reader still sees the text


def test_the_language_is_on_the_div() -> None:
    root = fromstring(narrative(["x"], "kk")["div"])
    assert root.get("lang") == "kk"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "kk"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("UNAUTHENTICATED", 401),
        ("FORBIDDEN", 403),
        ("RESTRICTED_BY_PATIENT", 403),
        ("BAD_USER_INPUT", 400),
        ("NOT_FOUND", 404),
        ("SOURCE_UNAVAILABLE", 503),
        ("RATE_LIMITED", 429),
        ("INTERNAL", 500),
        ("SOMETHING_NEW", 500),
    ],
)
def test_error_outcomes(code: str, status: int) -> None:
    outcome = error_outcome(code, "a message")
    OperationOutcome.model_validate(outcome)
    assert http_status(code) == status
    assert outcome["issue"][0]["details"]["coding"][0]["code"] == code


def test_every_access_code_has_a_status() -> None:
    assert ERROR_CODES - set(STATUS) == set()


def test_a_part_left_out_names_the_ips_and_passport_sections() -> None:
    results = BY_KEY["results"]
    outcome = left_out(
        [
            Missing(Section.LAB_RESULTS, "FORBIDDEN", "Laboratory results: not included", results),
            Missing(Section.IDENTITY, "SOURCE_UNAVAILABLE", "Identity: could not be read"),
        ],
        words_for("ru"),
    )
    OperationOutcome.model_validate(outcome)
    first, second = outcome["issue"]
    assert [c["code"] for c in first["details"]["coding"]] == [
        "30954-2",
        "LAB_RESULTS",
        "FORBIDDEN",
    ]
    # The section code's display in the language asked for, from the LOINC data file.
    loinc = load_catalogue().tables["http://loinc.org"].terms["30954-2"]
    assert first["details"]["coding"][0]["display"] == loinc["ru"]
    assert (first["severity"], first["code"]) == ("warning", "suppressed")
    assert [c["code"] for c in second["details"]["coding"]] == ["IDENTITY", "SOURCE_UNAVAILABLE"]
    assert second["code"] == "incomplete"
