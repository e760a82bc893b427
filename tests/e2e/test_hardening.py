"""Hostile requests over real HTTP: query limits, body size, introspection, masking, logs.

Limits answer QUERY_TOO_COMPLEX before any resolver runs (so no source is asked); bodies over
``server.max_body_bytes`` get 413; introspection and GraphiQL are off unless configured;
errors carry a code and a safe message, never a traceback or an upstream URL; and no log
line carries an IIN in clear.
"""

from __future__ import annotations

import io
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.logs import configure_logging
from tests.e2e.conftest import Stack, random_subject
from tests.e2e.test_access_matrix import observe

CODES = {
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "RESTRICTED_BY_PATIENT",
    "BAD_USER_INPUT",
    "NOT_FOUND",
    "SOURCE_UNAVAILABLE",
    "QUERY_TOO_COMPLEX",
    "INTERNAL",
}
PASSPORT = "query($iin: IIN!) { passport(iin: $iin) { %s } }"


def _iin(stack: Stack) -> str:
    """A patient with records in the EHRs and the laboratory."""
    people = stack.ground_truth["people"]
    return next(i for i, p in sorted(people.items()) if p["ehrRegions"] and p["labResults"])


def _patient_token(stack: Stack, iin: str) -> str:
    return stack.token("patient", iin=iin, subject=random_subject())


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or ()]


# --- depth, aliases, tokens ---------------------------------------------------------------


def test_depth_limit_refuses_before_any_source_is_asked(stack: Stack) -> None:
    # strawberry counts depth below the root field: passport > allergies > provenance >
    # organization > name is 4. The contract's deepest path is 5, under the default of 12,
    # so the limit is shown with a configured one.
    iin = _iin(stack)
    limited = {"server": {"max_depth": 3}}
    deep = PASSPORT % "allergies { provenance { organization { name } } }"
    refused = observe(stack, deep, {"iin": iin}, _patient_token(stack, iin), **limited)
    assert refused.body["data"] is None
    assert _codes(refused.body) == ["QUERY_TOO_COMPLEX"]
    assert refused.total() == 0
    shallow = PASSPORT % "allergies { provenance { source } }"
    allowed = observe(stack, shallow, {"iin": iin}, _patient_token(stack, iin), **limited)
    assert "errors" not in allowed.body


def test_alias_limit(stack: Stack) -> None:
    token = stack.token("doctor")
    within = "{ " + " ".join(f"a{n}: me {{ role }}" for n in range(30)) + " }"
    beyond = "{ " + " ".join(f"a{n}: me {{ role }}" for n in range(31)) + " }"
    assert "errors" not in stack.graphql(within, {}, token).json()
    body = stack.graphql(beyond, {}, token).json()
    assert body.get("data") is None
    assert _codes(body) == ["QUERY_TOO_COMPLEX"]


def test_alias_limit_refuses_a_fan_out_of_passports_with_nothing_asked(stack: Stack) -> None:
    iin = _iin(stack)
    fan_out = (
        "query($iin: IIN!) { "
        + " ".join(f"p{n}: passport(iin: $iin) {{ identity {{ iin }} }}" for n in range(31))
        + " }"
    )
    refused = observe(stack, fan_out, {"iin": iin}, _patient_token(stack, iin))
    assert _codes(refused.body) == ["QUERY_TOO_COMPLEX"]
    assert refused.total() == 0


def test_token_limit(stack: Stack) -> None:
    token = stack.token("doctor")
    body = stack.graphql("{ me { " + "role " * 2100 + "} }", {}, token).json()
    assert body.get("data") is None
    assert _codes(body) == ["QUERY_TOO_COMPLEX"]
    # Within the token limit, and within server.max_repeated_fields (50) too.
    assert "errors" not in stack.graphql("{ me { " + "role " * 50 + "} }", {}, token).json()


# --- body size ----------------------------------------------------------------------------


def test_body_over_the_limit_is_413(stack: Stack) -> None:
    limit = stack.gateway.settings.server.max_body_bytes
    token = stack.token("doctor")
    padding = " " * (limit + 1)
    response = stack.client.post(
        f"{stack.gateway.url}/graphql",
        content=f'{{"query": "{{ me {{ role }} }}{padding}"}}'.encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_chunked_body_over_the_limit_is_413(stack: Stack) -> None:
    limit = stack.gateway.settings.server.max_body_bytes
    token = stack.token("doctor")

    def chunks() -> Iterator[bytes]:
        yield b'{"query": "{ me { role } }'
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024
        yield b'"}'

    with httpx.Client(timeout=30) as client:  # its own connection: the server may close it
        response = client.post(
            f"{stack.gateway.url}/graphql",
            content=chunks(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    assert response.status_code == 413


def test_body_just_under_the_limit_is_served(stack: Stack) -> None:
    limit = stack.gateway.settings.server.max_body_bytes
    token = stack.token("doctor")
    query = "{ me { role } }"
    padding = " " * (limit - len(f'{{"query": "{query}"}}') - 10)
    response = stack.client.post(
        f"{stack.gateway.url}/graphql",
        content=f'{{"query": "{query}{padding}"}}'.encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200


# --- introspection and GraphiQL -----------------------------------------------------------

SCHEMA_QUERY = "{ __schema { queryType { name } } }"
TYPE_QUERY = '{ __type(name: "Passport") { fields { name } } }'


def test_introspection_and_graphiql_are_off_unless_configured(stack: Stack) -> None:
    token = stack.token("doctor")
    with stack.fresh_gateway(server={"introspection": False}) as gateway:
        for query in (SCHEMA_QUERY, TYPE_QUERY):
            body = gateway.graphql(query, {}, token).json()
            assert body.get("data") is None, query
            assert set(_codes(body)) == {"BAD_USER_INPUT"}, body
        assert gateway.graphql("{ __typename }", {}, token).json() == {
            "data": {"__typename": "Query"}
        }
        page = stack.client.get(f"{gateway.url}/graphql", headers={"Accept": "text/html"})
        assert page.status_code != 200 or "graphiql" not in page.text.lower()


def test_introspection_and_graphiql_are_on_when_configured(stack: Stack) -> None:
    assert stack.gateway.settings.server.introspection is True  # the e2e stack is a demo
    body = stack.graphql(SCHEMA_QUERY, {}, stack.token("doctor")).json()
    assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    page = stack.client.get(f"{stack.gateway.url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


# --- errors carry codes, never internals --------------------------------------------------

BAD_DATE = (
    "query($iin: IIN!, $from: Date) { passport(iin: $iin) { labResults(from: $from) { value } } }"
)


def _assert_safe(response: httpx.Response) -> None:
    """Every error has one of our codes and nothing from inside the gateway."""
    body = response.json()
    for error in body.get("errors") or ():
        assert error["extensions"] == {"code": error["extensions"]["code"]}
        assert error["extensions"]["code"] in CODES
    for leak in ("Traceback", 'File "', "Error:", "strawberry", "http://127.0.0.1"):
        assert leak not in response.text, leak


def test_a_bad_date_variable_is_bad_user_input(stack: Stack) -> None:
    # The Date scalar raises ValueError while coercing the variable, before any resolver.
    iin = _iin(stack)
    response = stack.graphql(
        BAD_DATE, {"iin": iin, "from": "2026-02-30"}, _patient_token(stack, iin)
    )
    assert response.json()["data"] is None
    assert _codes(response.json()) == ["BAD_USER_INPUT"]
    _assert_safe(response)


def test_a_broken_store_is_internal_without_details_and_nothing_is_read(
    stack: Stack, tmp_path: Path
) -> None:
    # The patients' restrictions cannot be read (their table is gone): the read is refused,
    # the client learns nothing about why, and no clinical source is asked.
    database = tmp_path / "audit.db"
    iin = _iin(stack)
    person = stack.ground_truth["people"][iin]
    org = person["careTeam"]["attachedOrganization"]["bin"]
    token = stack.token("doctor", org_bin=org, subject=random_subject())
    with stack.fresh_gateway(audit={"database_url": f"sqlite:///{database}"}) as gateway:
        with sqlite3.connect(database) as conn:
            conn.execute("DROP TABLE patient_restrictions")
        conn.close()
        stack.reset_requests()
        response = gateway.graphql(
            PASSPORT % "identity { fullName } labResults { value }", {"iin": iin}, token
        )
        asked = {name: stack.emulator_requests(name)["recent"] for name in stack.urls}
    body = response.json()
    assert body["data"] == {"passport": None}
    assert _codes(body) == ["INTERNAL"]
    _assert_safe(response)
    assert "patient_restrictions" not in response.text and "sqlite" not in response.text.lower()
    assert person["identity"]["fullName"] not in response.text
    clinical = [r for name in ("lis", "dps", "ambulance") for r in asked[name]]
    patient_searches = [
        r
        for name in asked
        if name.startswith("ehr-")
        for r in asked[name]
        if r["path"].endswith("/Patient")
    ]
    assert clinical == [] and patient_searches == []


@pytest.mark.parametrize(
    "content",
    [
        b'{"query": ""}',
        b"not json",
        b'{"variables": {}}',
        b'{"query": "{ me { role } }"',  # cut short
        b'{"query": "\xff"}',  # not UTF-8
        b"1",  # JSON, but not an object
        b'"{ me { role } }"',
        b"null",
    ],
)
def test_a_request_without_a_query_is_400(stack: Stack, content: bytes) -> None:
    with httpx.Client(timeout=30) as client:  # its own connection: a 500 may reset it
        response = client.post(
            f"{stack.gateway.url}/graphql",
            content=content,
            headers={
                "Authorization": f"Bearer {stack.token('doctor')}",
                "Content-Type": "application/json",
            },
        )
    assert response.status_code == 400
    assert _codes(response.json()) == ["BAD_USER_INPUT"]


@pytest.fixture
def lab_down(clean_faults: Stack) -> Stack:
    """The laboratory answers every call with HTTP 500."""
    clean_faults.fault("lis", error_rate=1.0, status=500)
    return clean_faults


def test_expected_errors_are_safe_and_log_no_traceback(
    lab_down: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    stack = lab_down
    iin = _iin(stack)
    other = next(i for i in sorted(stack.ground_truth["people"]) if i != iin)
    token = _patient_token(stack, iin)
    with caplog.at_level(logging.DEBUG), stack.fresh_gateway() as gateway:
        answers = [
            gateway.graphql(
                PASSPORT % "labResults { value } identity { iin }", {"iin": iin}, token
            ),
            gateway.graphql(PASSPORT % "identity { iin }", {"iin": other}, token),
            gateway.graphql(
                PASSPORT % 'encounters(from: "2026-02-01", to: "2026-01-01") { start }',
                {"iin": iin},
                token,
            ),
            gateway.graphql(PASSPORT % "identity { iin }", {"iin": "123"}, token),
        ]
    codes = [_codes(answer.json()) for answer in answers]
    assert codes == [
        ["SOURCE_UNAVAILABLE"],
        ["FORBIDDEN"],
        ["BAD_USER_INPUT"],
        ["BAD_USER_INPUT"],
    ]
    for answer in answers:
        _assert_safe(answer)
    noisy = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert noisy == [], [r.getMessage() for r in noisy]


# --- logs ---------------------------------------------------------------------------------


@pytest.fixture
def gateway_logs() -> Iterator[tuple[io.StringIO, Any]]:
    """The gateway's own logging set up as ``python -m gateway serve`` does, at DEBUG, with
    httpx's request lines on (they name every upstream URL); restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    chatty = ("httpx", "httpcore", "gateway", "uvicorn", "uvicorn.error", "strawberry")
    saved_levels = {name: logging.getLogger(name).level for name in chatty}
    try:
        redactor = configure_logging("DEBUG", key=b"e2e-log-key-" + b"0" * 20)
        stream = io.StringIO()
        root.handlers[0].setStream(stream)
        for name in chatty:
            logging.getLogger(name).setLevel(logging.DEBUG)
        yield stream, redactor
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


def test_no_iin_in_clear_in_any_log_line(lab_down: Stack, gateway_logs) -> None:
    stack = lab_down
    stream, redactor = gateway_logs
    iin = _iin(stack)
    token = _patient_token(stack, iin)
    query = PASSPORT % "identity { iin } labResults { value } dispensations { name }"
    with stack.fresh_gateway() as gateway:
        answer = gateway.graphql(query, {"iin": iin}, token).json()
        crew = stack.token("emergency", subject=random_subject())
        gateway.graphql(
            'query($iin: IIN!) { emergency(iin: $iin, reason: "fall") { weightKg } }',
            {"iin": iin},
            crew,
        )
        gateway.graphql(BAD_DATE, {"iin": iin, "from": "2026-02-30"}, token)
    assert _codes(answer) == ["SOURCE_UNAVAILABLE"]
    text = stream.getvalue()
    # The upstream calls were logged (as pseudonyms), so the check below saw real lines.
    assert redactor.pseudonym(iin) in text
    assert iin not in text
