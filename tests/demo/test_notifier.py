"""The demo notifier: checks the signature, drops duplicates by id, and tells the patient in
their language what happened (texts of demo/notification_messages.json, for every case)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import time

import httpx
import orjson
import pytest

from demo.notifier import LANGUAGES, MESSAGES, PATH, create_receiver, render
from tests.servers import serve_app

SECRET = "demo-notifier-test-secret-0123456789"
DATA = {
    "id": "7f1c2a9e-0000-4000-8000-000000000001",
    "patient": {"iin": "900101300007"},
    "at": "2026-12-03T10:15:02.123456+05:00",
    "basis": "EMERGENCY",
    "outcome": "DISCLOSED",
    "reader": {
        "role": "EMERGENCY",
        "organization": "Станция скорой помощи №1",
        "practitioner": "Иванов Иван",
    },
    "sections": ["IDENTITY", "ALLERGIES"],
    "reason": "ДТП",
}


def signed_post(url: str, data: dict, secret: str = SECRET, body: bytes | None = None):
    """POST a notification signed as Standard Webhooks says (HMAC computed here)."""
    raw = orjson.dumps({"type": "ehp.access.notification", "timestamp": data["at"], "data": data})
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"{data['id']}.{stamp}.".encode() + raw, hashlib.sha256)
    headers = {
        "webhook-id": data["id"],
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(digest.digest()).decode(),
    }
    return httpx.post(url, content=body if body is not None else raw, headers=headers)


def test_the_patient_is_told_in_russian_as_the_issue_says() -> None:
    text = render(DATA, "ru")
    assert text.startswith("Бригада скорой помощи (Станция скорой помощи №1, Иванов Иван)")
    assert "прочитала ваши экстренные медицинские данные 03.12.2026 10:15" in text
    assert "личные данные, аллергии" in text and "«ДТП»" in text and DATA["id"] in text


def test_kazakh_is_the_default() -> None:
    assert render(DATA) == render(DATA, "kk")
    assert "Жедел медициналық жәрдем бригадасы" in render(DATA)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    "case",
    ["EMERGENCY.DISCLOSED", "EMERGENCY.REFUSED", "BREAK_GLASS.DISCLOSED", "BREAK_GLASS.REFUSED"],
)
@pytest.mark.parametrize("role", ["EMERGENCY", "NURSE", "DOCTOR"])
def test_every_case_has_its_text_in_every_language(language: str, case: str, role: str) -> None:
    basis, outcome = case.split(".")
    data = {**DATA, "basis": basis, "outcome": outcome, "reason": None, "sections": []}
    data["reader"] = {"role": role, "organization": None, "practitioner": None}
    text = render(data, language)
    assert "{" not in text and MESSAGES[language]["roles"][role]["who"] in text
    assert MESSAGES[language]["no_reason"] in text


def test_every_section_is_named_in_every_language() -> None:
    from gateway.auth.policy import Section

    for language in LANGUAGES:
        assert set(MESSAGES[language]["sections"]) == {s.value for s in Section}


def test_the_receiver_checks_signatures_and_drops_duplicates() -> None:
    out = io.StringIO()
    with serve_app(create_receiver(SECRET, "ru", out)) as base:
        url = base + PATH
        assert signed_post(url, DATA).json() == {"id": DATA["id"], "duplicate": False}
        assert signed_post(url, DATA).json() == {"id": DATA["id"], "duplicate": True}
        assert signed_post(url, DATA, secret="another-secret-of-enough-bytes").status_code == 401
        tampered = orjson.dumps({"data": {**DATA, "reason": "changed"}})
        assert signed_post(url, DATA, body=tampered).status_code == 401
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("[notify ru] to patient …0007: Бригада скорой помощи")
    assert "900101300007" not in lines[0]
