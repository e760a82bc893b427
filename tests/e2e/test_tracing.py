"""Traces over real OTLP/HTTP, and JSON log lines, from a gateway reading a real person.

A gateway with ``[telemetry] otlp_endpoint`` exports to an in-process receiver; its LIS is
reached through a recording relay (the emulators record paths, not headers), so the test
sees the ``traceparent`` the source got. Every span of a break-glass passport read must be in
one trace, with a span per source load and per audit write, and the exported bytes must hold
no IIN of the population, no name, no reason and no token.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.app import create_app
from gateway.config import parse_settings
from tests.e2e.conftest import Stack, config_data, random_subject
from tests.e2e.test_audit_trail import _stranger, to_toml
from tests.e2e.test_passport import FULL_PASSPORT
from tests.e2e.test_resilience import SOURCE_OF, people
from tests.e2e.test_shared_cache import REPO, GatewayProcess
from tests.otlp import OtlpReceiver, ReceivedSpan
from tests.servers import free_port, serve_app

SERVER, CLIENT = 2, 3  # OTLP's span kinds
# Callers' W3C trace contexts: one sampled (continued), one not (its request makes no span).
CALLER_TRACE, CALLER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
UNSAMPLED_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_CONTEXTS = {
    "trace-caller-3": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01",
    "trace-unsampled-4": f"00-{UNSAMPLED_TRACE}-b7ad6b7169203331-00",
}
ERROR = 2  # OTLP's status code of a failed span
BREAK_GLASS = FULL_PASSPORT.replace(
    "query($iin: IIN!) { passport(iin: $iin) {",
    "query($iin: IIN!, $reason: String) { passport(iin: $iin, breakGlassReason: $reason) {",
)


@dataclass(frozen=True)
class Relayed:
    """One request the relay passed on: its path and the ``traceparent`` it carried."""

    path: str
    traceparent: str | None


class RecordingRelay:
    """Passes every request on to a real emulator and remembers its path and traceparent."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.seen: list[Relayed] = []
        self._lock = threading.Lock()
        methods = ["GET", "POST"]
        self.app = Starlette(routes=[Route("/{path:path}", self._relay, methods=methods)])

    async def _relay(self, request: Request) -> Response:
        with self._lock:
            self.seen.append(Relayed(request.url.path, request.headers.get("traceparent")))
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with httpx.AsyncClient() as client:
            answer = await client.request(
                request.method,
                f"{self.target}{request.url.path}",
                params=request.url.query or None,
                content=await request.body(),
                headers=headers,
            )
        kept = {
            k: v
            for k, v in answer.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "content-encoding")
        }
        return Response(answer.content, answer.status_code, kept)


def _rich_person(stack: Stack) -> str:
    """Someone every kind of source knows: labs, dispensations and an ambulance call."""
    return people(
        stack,
        lambda p: p["labResults"] and p["dispensations"] and p["ambulanceCalls"],
    )[0]


@contextlib.contextmanager
def traced_gateway(
    stack: Stack, receiver: OtlpReceiver, relay: RecordingRelay, tmp: Path
) -> Iterator[str]:
    """A gateway exporting to ``receiver``, its LIS behind ``relay``; the URL while it runs.

    Leaving the block stops it, which sends the spans still queued."""
    with serve_app(relay.app) as relay_url:
        data = config_data(
            stack.directory,
            stack.urls,
            stack.issuer,
            {
                "telemetry": {"otlp_endpoint": receiver.url},
                "audit": {"database_url": f"sqlite:///{tmp / 'audit.db'}"},
            },
        )
        for source in data["sources"]:
            if source["name"] == SOURCE_OF["lis"]:
                source["base_url"] = relay_url
        with serve_app(create_app(parse_settings(data, {}))) as url:
            yield url


def _descends(span: ReceivedSpan, ancestor: ReceivedSpan, spans: list[ReceivedSpan]) -> bool:
    by_id = {s.span_id: s for s in spans}
    current: ReceivedSpan | None = span
    while current is not None:
        if current.parent_span_id == ancestor.span_id:
            return True
        current = by_id.get(current.parent_span_id)
    return False


@pytest.fixture(scope="module")
def traced_read(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A cold then a warm break-glass read of one person, traced; what the receiver got."""
    truth = stack.ground_truth
    iin = _rich_person(stack)
    doctor = _stranger(truth, iin)
    reason = "unconscious in the emergency room, no relatives"
    token = stack.token(
        "doctor", org_bin=doctor["orgBin"], practitioner_id=doctor["id"], subject=random_subject()
    )
    receiver = OtlpReceiver()
    relay = RecordingRelay(stack.urls["lis"])
    request_ids = ("trace-cold-1", "trace-warm-2", *CALLER_CONTEXTS)
    answers = []
    try:
        with traced_gateway(stack, receiver, relay, tmp_path_factory.mktemp("traced")) as url:
            for request_id in request_ids:
                answer = httpx.post(
                    f"{url}/graphql",
                    json={"query": BREAK_GLASS, "variables": {"iin": iin, "reason": reason}},
                    headers={
                        "Authorization": f"Bearer {token}",
                        "X-Request-Id": request_id,
                        **(
                            {"traceparent": CALLER_CONTEXTS[request_id]}
                            if request_id in CALLER_CONTEXTS
                            else {}
                        ),
                    },
                    timeout=30,
                )
                answers.append(answer)
    finally:
        receiver.close()
    return {
        "iin": iin,
        "doctor": doctor,
        "reason": reason,
        "token": token,
        "answers": answers,
        "request_ids": request_ids,
        "spans": receiver.spans,
        "payload": receiver.payload(),
        "paths": receiver.paths,
        "relayed": relay.seen,
    }


def _request_span(read: dict[str, Any], request_id: str) -> ReceivedSpan:
    servers = [
        s
        for s in read["spans"]
        if s.kind == SERVER and s.attributes.get("ehp.request_id") == request_id
    ]
    assert len(servers) == 1, [s.name for s in read["spans"] if s.kind == SERVER]
    return servers[0]


def _within(read: dict[str, Any], request: ReceivedSpan) -> list[ReceivedSpan]:
    return [s for s in read["spans"] if _descends(s, request, read["spans"])]


def test_the_read_is_one_trace_with_a_span_per_source_load(traced_read: dict[str, Any]) -> None:
    for answer in traced_read["answers"]:
        assert answer.status_code == 200
        body = answer.json()
        assert "errors" not in body, body.get("errors")
        statuses = body["data"]["passport"]["sources"]
        assert statuses and all(status["ok"] for status in statuses)
    assert set(traced_read["paths"]) == {"/v1/traces"}
    request = _request_span(traced_read, "trace-cold-1")
    assert request.name == "POST /graphql"
    assert request.attributes["http.route"] == "/graphql"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["ehp.role"] == "DOCTOR"
    assert request.attributes["ehp.outcome"] == "ok"
    inside = _within(traced_read, request)
    assert {s.trace_id for s in inside} == {request.trace_id}
    loads = [s for s in inside if s.name.startswith("load ")]
    # Every configured source was asked, each load a span naming its source, cold: a miss.
    assert {s.attributes["ehp.source"] for s in loads} == set(SOURCE_OF.values())
    for load in loads:
        assert load.name == f"load {load.attributes['ehp.source']}"
        assert load.attributes["ehp.cache"] == "miss"
        assert load.attributes["ehp.source.outcome"] == "ok"
        assert load.status_code != ERROR
    calls = [s for s in inside if s.kind == CLIENT]
    assert {s.attributes["ehp.source"] for s in calls} == set(SOURCE_OF.values())
    assert all(s.attributes["http.response.status_code"] == 200 for s in calls)
    lis_calls = [s for s in calls if s.attributes["ehp.source"] == SOURCE_OF["lis"]]
    # The LIS path carries the IIN: the span keeps its route template only.
    assert {s.attributes["url.template"] for s in lis_calls} == {"/api/v2/patients/{iin}/orders"}
    assert {s.name for s in lis_calls} == {"GET /api/v2/patients/{iin}/orders"}
    audits = [s for s in inside if s.name == "audit append"]
    assert len(audits) == 1
    assert audits[0].attributes["ehp.audit.action"] == "disclose"
    assert audits[0].attributes["ehp.audit.break_glass"] is True


def test_a_warm_read_traces_its_loads_as_cache_hits(traced_read: dict[str, Any]) -> None:
    request = _request_span(traced_read, "trace-warm-2")
    inside = _within(traced_read, request)
    loads = [s for s in inside if s.name.startswith("load ")]
    assert {s.attributes["ehp.source"] for s in loads} == set(SOURCE_OF.values())
    assert {s.attributes["ehp.cache"] for s in loads} == {"hit"}
    assert not [s for s in inside if s.kind == CLIENT]  # nothing went upstream


def test_a_callers_trace_is_continued_and_an_unsampled_one_is_not_traced(
    traced_read: dict[str, Any],
) -> None:
    continued = _request_span(traced_read, "trace-caller-3")
    assert (continued.trace_id, continued.parent_span_id) == (CALLER_TRACE, CALLER_SPAN)
    assert _within(traced_read, continued)  # its loads are in the caller's trace
    assert not [s for s in traced_read["spans"] if s.trace_id == UNSAMPLED_TRACE]
    assert not [
        s for s in traced_read["spans"] if s.attributes.get("ehp.request_id") == "trace-unsampled-4"
    ]


def test_the_source_gets_the_traceparent_of_its_call_span(traced_read: dict[str, Any]) -> None:
    request = _request_span(traced_read, "trace-cold-1")
    calls = {
        s.span_id: s
        for s in _within(traced_read, request)
        if s.kind == CLIENT and s.attributes["ehp.source"] == SOURCE_OF["lis"]
    }
    relayed = [seen for seen in traced_read["relayed"] if "/orders" in seen.path]
    assert relayed and len(relayed) == len(calls)
    for seen in relayed:
        assert seen.traceparent is not None
        version, trace_id, parent_id, flags = seen.traceparent.split("-")
        assert version == "00" and int(flags, 16) & 1  # W3C trace context, sampled
        assert trace_id == request.trace_id
        assert parent_id in calls  # the source's parent is the span of that very call


def test_no_identifier_name_reason_or_token_is_exported(
    stack: Stack, traced_read: dict[str, Any]
) -> None:
    payload = traced_read["payload"]
    assert payload  # the receiver did get the trace
    identity = stack.ground_truth["people"][traced_read["iin"]]["identity"]
    assert traced_read["iin"].encode() not in payload
    assert identity["fullName"].encode() not in payload
    assert traced_read["reason"].encode() not in payload
    assert traced_read["token"].encode() not in payload
    assert traced_read["token"].split(".")[1].encode() not in payload  # not even its claims
    assert traced_read["doctor"]["name"].encode() not in payload
    for span in traced_read["spans"]:
        assert span.events == 0  # no exception or message was recorded


def test_nobody_of_the_population_appears_in_the_export(
    stack: Stack, traced_read: dict[str, Any]
) -> None:
    payload = traced_read["payload"]
    for iin, person in stack.ground_truth["people"].items():
        assert iin.encode() not in payload
        assert person["identity"]["fullName"].encode() not in payload
        assert person["identity"]["familyName"].encode() not in payload


# --- JSON log lines -----------------------------------------------------------------------


def test_json_log_lines_carry_request_and_trace_ids_and_no_iin(
    stack: Stack, tmp_path: Path
) -> None:
    """`python -m gateway serve` with the default log format: every line is a JSON object; the
    lines logged while serving a request carry its id and the id of the trace it exported."""
    iin = _rich_person(stack)
    receiver = OtlpReceiver()
    port = free_port()
    data = config_data(
        stack.directory,
        stack.urls,
        stack.issuer,
        {
            "server": {"port": port},
            "telemetry": {"otlp_endpoint": receiver.url},
            "audit": {"database_url": f"sqlite:///{tmp_path / 'audit.db'}"},
        },
    )
    config = tmp_path / "gateway.toml"
    config.write_text(to_toml(data), encoding="utf-8")
    log_path = tmp_path / "gateway.log"
    # DEBUG: the HTTP client logs each upstream call, inside the request's context.
    env = {**os.environ, "PYTHONPATH": str(REPO), "EHP_LOG_LEVEL": "DEBUG"}
    with log_path.open("wb") as log_file:
        process = GatewayProcess(config, port, env=env, stderr=log_file)
        try:
            process.wait_ready()
            token = stack.token("patient", iin=iin, subject=random_subject())
            answer = httpx.post(
                f"{process.url}/graphql",
                json={"query": FULL_PASSPORT, "variables": {"iin": iin}},
                headers={"Authorization": f"Bearer {token}", "X-Request-Id": "logs-1"},
                timeout=30,
            )
            assert answer.status_code == 200 and "errors" not in answer.json()
        finally:
            process.stop()  # a traced gateway sends its last spans on the way out
            receiver.close()
    text = log_path.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    served = [line for line in lines if line.get("request_id") == "logs-1"]
    assert served, "no line was logged while serving the request"
    request = _request_span({"spans": receiver.spans}, "logs-1")
    assert {line.get("trace_id") for line in served} == {request.trace_id}
    assert iin not in text
