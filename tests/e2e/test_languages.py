"""Accept-Language over real HTTP: every display and message in Kazakh, Russian or English.

Expected words come from the data files (gateway/data/i18n, read by tests/displays.py), codes
and facts from the generator's ground truth: the same passport in three languages has the
same codes and dates, and each display is the data file's in the language asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.displays import ATC, messages, term
from tests.e2e import ips_rules as ips
from tests.e2e.conftest import Stack
from tests.e2e.test_dose_and_screening import _clinician_token

LANGUAGES = ("kk", "ru", "en")
LOINC = "http://loinc.org"
CODING = "{ system code display displayLanguage }"
PASSPORT = f"""
query($iin: IIN!) {{ passport(iin: $iin) {{
  allergies {{ substance {CODING} }}
  problems(includeResolved: true) {{ code {CODING} onset }}
  currentMedications {{ code {CODING} name }}
  immunizations {{ vaccine {CODING} date }}
  screenings {{ code {CODING} date }}
  diagnosticStudies {{ code {CODING} }}
  labResults {{ test {CODING} value resultedAt }}
  encounters {{ diagnosis {CODING} start }}
  dispensations {{ drug {CODING} name }}
  emergency {{ implants {CODING} }}
  screeningPlan(months: 24) {{ code {CODING} name dueMonth overdue reason }}
  sources {{ source fetchedAt }}
}} }}
"""


def ask(
    url: str,
    client: httpx.Client,
    query: str,
    variables: dict[str, Any],
    token: str | None,
    **h: str,
) -> httpx.Response:
    """POST a GraphQL request with a token and extra headers (Accept-Language)."""
    headers = {k.replace("_", "-"): v for k, v in h.items()}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.post(
        f"{url}/graphql", json={"query": query, "variables": variables}, headers=headers
    )


def codings(value: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Coding of an answer with where it is."""
    if isinstance(value, dict):
        if "system" in value and "code" in value:
            yield path, value
            return
        for key, item in value.items():
            yield from codings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from codings(item, f"{path}[{index}]")


def richest(truth: dict[str, Any]) -> str:
    """The person whose passport has the most codes of the most kinds."""

    def weight(person: dict[str, Any]) -> tuple[int, ...]:
        kinds = ("allergies", "problems", "currentMedications", "immunizations", "labResults")
        present = sum(bool(person[k]) for k in kinds) + bool(person["implants"])
        total = sum(len(person[k]) for k in (*kinds, "screenings", "encounters", "dispensations"))
        return present, total

    return max(truth["people"], key=lambda iin: (weight(truth["people"][iin]), iin))


@pytest.fixture(scope="module")
def passports(stack: Stack) -> dict[str, httpx.Response]:
    """One passport, read by its patient in each language."""
    iin = richest(stack.ground_truth)
    token = stack.token("patient", iin=iin)
    return {
        language: ask(
            stack.gateway.url, stack.client, PASSPORT, {"iin": iin}, token, Accept_Language=language
        )
        for language in LANGUAGES
    }


def test_the_same_passport_in_kazakh_russian_and_english(
    passports: dict[str, httpx.Response],
) -> None:
    shown: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for language, response in passports.items():
        assert response.status_code == 200 and "errors" not in response.json(), response.text
        assert response.headers["content-language"] == language
        shown[language] = list(codings(response.json()["data"]["passport"]))
    english = shown["en"]
    assert len(english) > 40, "a rich passport has many codes"
    for language, found in shown.items():
        # The same codes at the same places in every language.
        assert [(p, c["system"], c["code"]) for p, c in found] == [
            (p, c["system"], c["code"]) for p, c in english
        ]
        for path, coding in found:
            expected = term(coding["system"], coding["code"], language)
            assert expected is not None, f"{path}: {coding['system']}|{coding['code']} untranslated"
            assert (coding["display"], coding["displayLanguage"]) == (expected, language), path
    # The displays differ between the languages wherever the data files' words do.
    for (path, kk), (_, ru), (_, en) in zip(shown["kk"], shown["ru"], shown["en"], strict=True):
        words = {term(kk["system"], kk["code"], lang) for lang in LANGUAGES}
        assert len({kk["display"], ru["display"], en["display"]}) == len(words), path
    assert len({c["display"] for _, c in shown["kk"]} & {c["display"] for _, c in shown["en"]}) < 5


def test_medicine_names_are_said_in_the_language(passports: dict[str, httpx.Response]) -> None:
    for language, response in passports.items():
        passport = response.json()["data"]["passport"]
        items = passport["currentMedications"] + passport["dispensations"]
        assert items
        for item in items:
            coding = item.get("code") or item.get("drug")
            assert item["name"] == term(ATC, coding["code"], language)


def test_screening_plans_are_said_in_the_language(stack: Stack) -> None:
    # Someone whose check-up is long overdue: reasons with dates, programme names.
    iin = stack.ground_truth["edgeCases"]["overdueScreening"][0]
    token = stack.token("patient", iin=iin)
    plans = {}
    for language in LANGUAGES:
        answer = ask(
            stack.gateway.url, stack.client, PASSPORT, {"iin": iin}, token, Accept_Language=language
        )
        plans[language] = answer.json()["data"]["passport"]["screeningPlan"]
    names = {
        rule: translations
        for rule, translations in messages().items()
        if "screening" in rule.lower() and "{" not in rule
    }
    assert any(item["overdue"] for item in plans["en"]), iin
    for language, plan in plans.items():
        for item, english in zip(plan, plans["en"], strict=True):
            # Same check-ups, months and dates; words of the data files.
            assert (item["code"]["code"], item["dueMonth"], item["overdue"]) == (
                english["code"]["code"],
                english["dueMonth"],
                english["overdue"],
            )
            said = english["name"] if language == "en" else names[english["name"]][language]
            assert item["name"] == said
            assert _dates(item["reason"]) == _dates(english["reason"])
            if language != "en":
                assert item["reason"] != english["reason"]


def _dates(text: str) -> list[str]:
    return [word.strip("();,") for word in text.split() if word[:2] in ("19", "20")]


def test_a_second_language_reads_no_source_again(stack: Stack) -> None:
    """Records are cached in no language: another language is shaped from the same copy."""
    iin = richest(stack.ground_truth)
    token = stack.token("patient", iin=iin)
    url = stack.gateway.url
    first = ask(url, stack.client, PASSPORT, {"iin": iin}, token, Accept_Language="kk").json()
    stack.reset_requests()
    for language in ("ru", "en", "kk"):
        again = ask(url, stack.client, PASSPORT, {"iin": iin}, token, Accept_Language=language)
        assert again.json()["data"]["passport"]["sources"] == first["data"]["passport"]["sources"]
    assert set(stack.request_counts().values()) == {0}


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_error_is_said_in_each_language_with_the_same_code(stack: Stack, language: str) -> None:
    iin = richest(stack.ground_truth)
    token = stack.token("patient", iin=iin)
    query = "query($iin: IIN!) { passport(iin: $iin) { screeningPlan(months: 999) { name } } }"
    response = ask(
        stack.gateway.url, stack.client, query, {"iin": iin}, token, Accept_Language=language
    )
    (error,) = response.json()["errors"]
    template = "months must be between 0 and {max}"
    said = template if language == "en" else messages()[template][language]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"] == said.format(max=120)
    assert response.headers["content-language"] == language
    # Refused before any field runs (no token): the same code and a message of the data file.
    anonymous = ask(
        stack.gateway.url, stack.client, query, {"iin": iin}, None, Accept_Language=language
    )
    assert anonymous.status_code == 401
    (error,) = anonymous.json()["errors"]
    template = "bearer token required"
    assert error == {
        "message": template if language == "en" else messages()[template][language],
        "extensions": {"code": "UNAUTHENTICATED"},
    }


def test_the_ips_bundle_in_russian(stack: Stack) -> None:
    iin = richest(stack.ground_truth)
    token = stack.token("patient", iin=iin)
    response = stack.client.get(
        f"{stack.gateway.url}/fhir/Patient/{iin}/$summary",
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "ru-RU, en;q=0.5"},
    )
    assert response.status_code == 200
    assert response.headers["content-language"] == "ru"
    bundle = response.json()
    assert ips.problems_of(bundle) == []
    assert bundle["language"] == "ru"
    composition = bundle["entry"][0]["resource"]
    assert composition["language"] == "ru"
    assert composition["title"] == "Международная сводка о пациенте"
    assert composition["type"]["coding"][0]["display"] == term(LOINC, "60591-5", "ru")
    for section in composition["section"]:
        (code,) = section["code"]["coding"]
        assert code["display"] == term(LOINC, code["code"], "ru")
        assert 'lang="ru"' in section["text"]["div"]
    resources = [entry["resource"] for entry in bundle["entry"]]
    conditions = [r for r in resources if r["resourceType"] == "Condition"]
    assert conditions
    for condition in conditions:
        (coding,) = condition["code"]["coding"]
        assert coding["display"] == term(coding["system"], coding["code"], "ru")
        assert condition["code"]["text"] == coding["display"]
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    for observation in observations:
        for coding in observation["code"].get("coding", []):
            assert coding["display"] == term(coding["system"], coding["code"], "ru")


def test_an_ips_error_is_said_in_the_language(stack: Stack) -> None:
    own = stack.token("patient", iin=richest(stack.ground_truth))
    response = stack.client.get(
        f"{stack.gateway.url}/fhir/Patient/$summary",
        params={"identifier": "urn:kz:bin|123"},
        headers={"Authorization": f"Bearer {own}", "Accept-Language": "kk"},
    )
    assert response.status_code == 400 and response.headers["content-language"] == "kk"
    (issue,) = response.json()["issue"]
    assert issue["details"]["coding"][0]["code"] == "BAD_USER_INPUT"
    assert issue["details"]["text"] == messages()["identifier must be urn:kz:iin|<IIN>"]["kk"]


def test_the_configured_language_is_the_default(stack: Stack) -> None:
    iin = richest(stack.ground_truth)
    token = stack.token("patient", iin=iin)
    query = "query($iin: IIN!) { passport(iin: $iin) { problems { code " + CODING + " } } }"
    with stack.fresh_gateway(app={"default_language": "kk"}) as gateway:
        for header, chosen in ((None, "kk"), ("de-DE, fr", "kk"), ("ru;q=0.5, en", "en")):
            extra = {"Accept_Language": header} if header else {}
            response = ask(gateway.url, stack.client, query, {"iin": iin}, token, **extra)
            assert response.headers["content-language"] == chosen, header
            for _, coding in codings(response.json()["data"]):
                assert coding["displayLanguage"] == chosen
                assert coding["display"] == term(coding["system"], coding["code"], chosen)


def test_dose_check_notes_in_each_language(stack: Stack) -> None:
    truth = stack.ground_truth
    child = truth["edgeCases"]["weightUnrecorded"][0]
    token = _clinician_token(stack, child)
    query = (
        "query($iin: IIN!) { passport(iin: $iin) { "
        "doseCheck { medication { code } verdict note } } }"
    )
    notes = {}
    for language in LANGUAGES:
        response = ask(
            stack.gateway.url, stack.client, query, {"iin": child}, token, Accept_Language=language
        )
        notes[language] = response.json()["data"]["passport"]["doseCheck"]
    template = "no body weight recorded"
    for language, checks in notes.items():
        unweighed = [c for c in checks if c["verdict"] == "NO_WEIGHT"]
        assert unweighed, child
        said = template if language == "en" else messages()[template][language]
        for check in unweighed:
            assert check["note"].startswith(said), (language, check)
    # The same verdicts for the same medicines in every language.
    assert {tuple((c["medication"]["code"], c["verdict"]) for c in v) for v in notes.values()} == {
        tuple((c["medication"]["code"], c["verdict"]) for c in notes["en"])
    }


@pytest.mark.parametrize(
    ("field", "group", "table"),
    [
        ("dispensations", "PROGRAM", "label:program"),
        ("dispensations", "REGION", "label:region"),
        ("dispensations", "ATC", ATC),
        ("ambulanceCalls", "OUTCOME", "label:call-outcome"),
        ("ambulanceCalls", "DIAGNOSIS", "http://hl7.org/fhir/sid/icd-10"),
    ],
)
def test_stats_rows_are_labelled_in_each_language(
    stack: Stack, field: str, group: str, table: str
) -> None:
    today = date.fromisoformat(stack.ground_truth["today"])
    kind = "DispensationGrouping" if field == "dispensations" else "CallGrouping"
    query = (
        f"query($from: Date!, $to: Date!, $g: {kind}!) {{ stats {{ "
        f"{field}(from: $from, to: $to, groupBy: $g) {{ key label suppressed }} }} }}"
    )
    # Managers ask for whole past months (docs/suppression.md): the 36 before this one.
    last = today.replace(day=1) - timedelta(days=1)
    first = date(last.year - 3 + (last.month == 12), last.month % 12 + 1, 1)
    variables = {"from": str(first), "to": str(last), "g": group}
    token = stack.token("manager")
    rows = {}
    for language in LANGUAGES:
        response = ask(
            stack.gateway.url, stack.client, query, variables, token, Accept_Language=language
        )
        rows[language] = response.json()["data"]["stats"][field]
    assert rows["en"], (field, group)
    for language, found in rows.items():
        assert [r["key"] for r in found] == [r["key"] for r in rows["en"]]
        for row in found:
            assert row["label"] == term(table, row["key"], language), (language, row)
