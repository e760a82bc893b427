"""ACCESS.md "Notifications" over real HTTP: every break-glass read and every emergency call
reaches the patient's notifier, signed, at least once, even when the notifier is down for a
while or the gateway is killed between the audit commit and the delivery.

The receiver here checks the Standard Webhooks signature with its own HMAC (not the gateway's
code); expected readers' names come from the ground truth, expected events from the audit file.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.e2e.conftest import Gateway, Stack, random_subject
from tests.e2e.test_audit_trail import ROOT, sqlite_url, write_config
from tests.servers import free_port, serve_app

SECRET = "test-notification-secret-" + "n" * 16
EMERGENCY = """
query($iin: IIN!, $reason: String!) {
  emergency(iin: $iin, reason: $reason) { bloodGroup allergies { substance { code } } }
}
"""
BREAK_GLASS = """
query($iin: IIN!, $reason: String) {
  passport(iin: $iin, breakGlassReason: $reason) { identity { fullName } labResults { value } }
}
"""
CARE = "query($iin: IIN!) { passport(iin: $iin) { identity { fullName } } }"
# Quick retries for the tests (the defaults are 2 s doubling to an hour).
FAST = {
    "backoff_base_s": 0.2,
    "backoff_cap_s": 1.0,
    "poll_interval_s": 0.2,
    "timeout_ms": 1000,
    "lease_s": 3.0,
}
DATA_KEYS = {"id", "patient", "at", "basis", "outcome", "reader", "sections", "reason"}


@dataclass
class Receiver:
    """A notifier that checks each signature itself and records what it accepted."""

    down: bool = False  # answer 503
    hang: bool = False  # never answer (the gateway times out or dies meanwhile)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    arrived: int = 0
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def receive(request: Request) -> JSONResponse:
            body = await request.body()
            with self.lock:
                self.arrived += 1
            if self.hang:
                await asyncio.sleep(60)
            if self.down:
                return JSONResponse({}, status_code=503)
            if not signed(body, request.headers):
                with self.lock:
                    self.bad_signatures += 1
                return JSONResponse({}, status_code=401)
            with self.lock:
                self.accepted.append(orjson.loads(body))
                self.raw.append(body)
            return JSONResponse({})

        return Starlette(routes=[Route("/notify", receive, methods=["POST"])])

    def ids(self) -> list[str]:
        """The ids of the notifications accepted, in arrival order (duplicates kept)."""
        with self.lock:
            return [n["data"]["id"] for n in self.accepted]


def signed(body: bytes, headers: Any) -> bool:
    """Standard Webhooks: v1,base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}"))."""
    message_id, stamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    if not message_id or not stamp or abs(time.time() - int(stamp)) > 300:
        return False
    expected = hmac.new(
        SECRET.encode(), f"{message_id}.{stamp}.".encode() + body, hashlib.sha256
    ).digest()
    given = [part.split(",", 1) for part in headers.get("webhook-signature", "").split()]
    return (
        any(
            version == "v1" and hmac.compare_digest(base64.b64decode(sig), expected)
            for version, sig in given
        )
        and orjson.loads(body)["data"]["id"] == message_id
    )


def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll ``condition`` until true; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def notified_events(database: Path) -> dict[str, dict[str, Any]]:
    """The audit file's events the patient must be told about, by event id."""
    with sqlite3.connect(database) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT * FROM audit_events WHERE basis IN ('EMERGENCY', 'BREAK_GLASS') "
            "AND outcome IN ('DISCLOSED', 'REFUSED') ORDER BY seq"
        ).fetchall()
    return {row["event_id"]: dict(row) for row in rows}


def metric(gateway_url: str, name: str) -> float:
    """One unlabelled sample of /metrics."""
    text = httpx.get(f"{gateway_url}/metrics", timeout=10).text
    found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    assert found, name
    return float(found.group(1))


@dataclass(frozen=True)
class Reads:
    """Readers and patients of the population: a paramedic, an unrelated doctor."""

    paramedic: dict[str, Any]
    doctor: dict[str, Any]
    patients: list[str]


def reads(truth: dict[str, Any]) -> Reads:
    staff = sorted(truth["practitioners"], key=lambda p: p["id"])
    paramedic = next(p for p in staff if "фельдшер" in p["qualification"].lower())
    doctor = next(p for p in staff if "врач" in p["qualification"].lower())
    patients = sorted(
        iin
        for iin, p in truth["people"].items()
        if p["careTeam"]["attachedOrganization"]["bin"] != doctor["orgBin"]
        and p["allergies"]
        and p["labResults"]
    )[:4]
    return Reads(paramedic, doctor, patients)


def staff_token(stack: Stack, role: str, person: dict[str, Any]) -> str:
    return stack.token(
        role, org_bin=person["orgBin"], practitioner_id=person["id"], subject=random_subject()
    )


def make_reads(stack: Stack, gateway: Gateway, cast: Reads) -> int:
    """Emergency calls and break-glass reads of each patient, one refused call, and a care
    read that is not notified; returns how many notifications they owe."""
    crew = staff_token(stack, "emergency", cast.paramedic)
    doctor = staff_token(stack, "doctor", cast.doctor)
    owed = 0
    for iin in cast.patients:
        body = gateway.graphql(EMERGENCY, {"iin": iin, "reason": "road accident"}, crew).json()
        assert "errors" not in body, body
        body = gateway.graphql(
            BREAK_GLASS, {"iin": iin, "reason": "unconscious in the emergency room"}, doctor
        ).json()
        assert "errors" not in body, body
        owed += 2
    refused = gateway.graphql(EMERGENCY, {"iin": cast.patients[0], "reason": "x"}, crew).json()
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    return owed + 1


@pytest.fixture
def receiver_port() -> int:
    return free_port()


def settings_for(stack: Stack, database: Path, port: int) -> dict[str, dict[str, Any]]:
    return {
        "audit": {"database_url": sqlite_url(database)},
        "notifications": {
            "webhook_url": f"http://127.0.0.1:{port}/notify",
            "secret": SECRET,
            **FAST,
        },
    }


def test_a_notifier_down_for_a_while_gets_every_notification_once(
    stack: Stack, tmp_path: Path, receiver_port: int
) -> None:
    database = tmp_path / "audit.db"
    cast = reads(stack.ground_truth)
    receiver = Receiver()
    with stack.fresh_gateway(**settings_for(stack, database, receiver_port)) as gateway:
        # Nothing listens on the notifier's port: every attempt is refused for a while.
        owed = make_reads(stack, gateway, cast)
        events = notified_events(database)
        assert len(events) == owed
        wait_until(lambda: metric(gateway.url, "ehp_notifications_undelivered") == owed)
        time.sleep(1.0)  # a few retries fail meanwhile
        assert metric(gateway.url, "ehp_notifications_undelivered") == owed
        # Then it answers 503 for a while, and then it is well.
        receiver.down = True
        with serve_app(receiver.app(), receiver_port):
            wait_until(lambda: receiver.arrived > 0)
            receiver.down = False
            wait_until(lambda: len(receiver.ids()) >= owed)
            time.sleep(1.0)  # nothing more comes
            assert sorted(receiver.ids()) == sorted(events)  # each one, none twice
            assert receiver.bad_signatures == 0
            wait_until(lambda: metric(gateway.url, "ehp_notifications_undelivered") == 0)
            assert metric(gateway.url, "ehp_notifications_given_up") == 0
    check_bodies(stack, receiver, events, cast)


def check_bodies(
    stack: Stack, receiver: Receiver, events: dict[str, dict[str, Any]], cast: Reads
) -> None:
    """Each body says who, when, which sections and why, to whom, and nothing more."""
    truth = stack.ground_truth
    organizations = {o["bin"]: o["name"] for o in truth["organizations"]}
    practitioners = {p["id"]: p["name"] for p in truth["practitioners"]}
    for body, raw in zip(receiver.accepted, receiver.raw, strict=True):
        assert set(body) == {"type", "timestamp", "data"}
        data = body["data"]
        assert set(data) == DATA_KEYS
        event = events[data["id"]]
        iin = data["patient"]["iin"]
        assert iin in cast.patients and data["patient"] == {"iin": iin}
        assert (data["basis"], data["outcome"]) == (event["basis"], event["outcome"])
        assert data["reason"] == event["reason"]
        assert data["sections"] == orjson.loads(event["sections"])
        assert data["reader"] == {
            "role": event["role"],
            "organization": organizations[event["org_bin"]],
            "practitioner": practitioners[event["practitioner_id"]],
        }
        # No other person's IIN, and none of the record itself (values the reads showed).
        assert set(re.findall(rb"(?<![\w-])\d{12}(?!\w)", raw)) == {iin.encode()}
        person = truth["people"][iin]
        shown = [a["substance"]["code"] for a in person["allergies"]]
        shown += [r["value"] for r in person["labResults"] if len(r["value"]) > 3]
        shown += [person["identity"]["fullName"]]
        for value in shown:
            assert value.encode() not in raw, value
    assert {b["data"]["outcome"] for b in receiver.accepted} == {"DISCLOSED", "REFUSED"}


def test_a_care_relationship_read_is_not_notified(stack: Stack, tmp_path: Path) -> None:
    database = tmp_path / "audit.db"
    truth = stack.ground_truth
    iin = reads(truth).patients[0]
    clinic = truth["people"][iin]["careTeam"]["attachedOrganization"]["bin"]
    doctor = next(p for p in truth["practitioners"] if p["orgBin"] == clinic)
    receiver = Receiver()
    port = free_port()
    with (
        serve_app(receiver.app(), port),
        stack.fresh_gateway(**settings_for(stack, database, port)) as gateway,
    ):
        body = gateway.graphql(CARE, {"iin": iin}, staff_token(stack, "doctor", doctor)).json()
        assert "errors" not in body
        time.sleep(1.0)
        assert receiver.arrived == 0
        assert metric(gateway.url, "ehp_notifications_undelivered") == 0


# --- a real gateway process, killed with SIGKILL between the audit commit and the delivery ---


@contextlib.contextmanager
def gateway_process(config: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m gateway serve`` until it answers /healthz; killed (SIGKILL) at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            assert process.poll() is None, "the gateway exited"
            assert time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)


def test_a_gateway_killed_before_delivery_delivers_after_restart(
    stack: Stack, tmp_path: Path
) -> None:
    database = tmp_path / "audit.db"
    receiver = Receiver(hang=True)  # takes the POST and never answers
    receiver_port, gateway_port = free_port(), free_port()
    sections = settings_for(stack, database, receiver_port)
    config = write_config(
        stack, tmp_path / "gateway.toml", server={"port": gateway_port}, **sections
    )
    url = f"http://127.0.0.1:{gateway_port}"
    iin = reads(stack.ground_truth).patients[1]
    crew = staff_token(stack, "emergency", reads(stack.ground_truth).paramedic)
    with serve_app(receiver.app(), receiver_port):
        with gateway_process(config, gateway_port) as first:
            answer = httpx.post(
                f"{url}/graphql",
                json={"query": EMERGENCY, "variables": {"iin": iin, "reason": "road accident"}},
                headers={"Authorization": f"Bearer {crew}"},
                timeout=10,
            ).json()
            assert "errors" not in answer, answer
            # The event and its row are committed; the POST is in flight, its lease held.
            wait_until(lambda: receiver.arrived == 1)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        [event_id] = notified_events(database)
        assert receiver.ids() == []
        receiver.hang = False
        with gateway_process(config, gateway_port):
            # Its lease (lease_s) runs out, and the restarted gateway delivers it.
            wait_until(lambda: receiver.ids() == [event_id])
            wait_until(lambda: metric(url, "ehp_notifications_undelivered") == 0)
        assert receiver.accepted[0]["data"]["patient"] == {"iin": iin}
        assert receiver.bad_signatures == 0


def test_a_notifier_that_never_answers_well_is_given_up_and_counted(
    stack: Stack, tmp_path: Path
) -> None:
    database = tmp_path / "audit.db"
    receiver = Receiver(down=True)
    port = free_port()
    sections = settings_for(stack, database, port)
    sections["notifications"]["max_attempts"] = 3
    cast = reads(stack.ground_truth)
    crew = staff_token(stack, "emergency", cast.paramedic)
    with serve_app(receiver.app(), port), stack.fresh_gateway(**sections) as gateway:
        body = gateway.graphql(EMERGENCY, {"iin": cast.patients[2], "reason": "fall"}, crew)
        assert "errors" not in body.json()
        wait_until(lambda: metric(gateway.url, "ehp_notifications_given_up") == 1)
        assert receiver.arrived == 3  # max_attempts, then no more
        assert metric(gateway.url, "ehp_notifications_undelivered") == 0
        time.sleep(1.0)
        assert receiver.arrived == 3
