"""Log lines never carry an IIN in clear."""

from __future__ import annotations

import io
import json
import logging

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.logs import REQUEST_ID, RedactIdentifiers, configure_logging
from gateway.telemetry import Tracing, span, traced

IIN = "900101300007"


def _record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("httpx", logging.INFO, __file__, 1, message, args, None)


def test_iin_in_a_url_is_replaced_by_a_stable_keyed_pseudonym() -> None:
    redactor = RedactIdentifiers(b"k" * 32)
    record = _record('HTTP Request: GET %s "%s"', f"http://lis/api/v2/patients/{IIN}/orders", 200)
    assert redactor.filter(record)
    message = record.getMessage()
    assert IIN not in message
    assert redactor.pseudonym(IIN) in message
    assert redactor.pseudonym(IIN) == RedactIdentifiers(b"k" * 32).pseudonym(IIN)
    assert redactor.pseudonym(IIN) != RedactIdentifiers(b"x" * 32).pseudonym(IIN)


def test_longer_numbers_and_other_text_are_left_alone() -> None:
    redactor = RedactIdentifiers(b"k" * 32)
    record = _record("order LIS-2026-000123 took 1234567890123 us")
    redactor.filter(record)
    assert record.getMessage() == "order LIS-2026-000123 took 1234567890123 us"


def test_iin_in_a_traceback_is_redacted() -> None:
    redactor = RedactIdentifiers(b"k" * 32)
    try:
        raise ValueError(f"no patient {IIN}")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "gateway", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    redactor.filter(record)
    assert IIN not in (record.exc_text or "")
    assert "ValueError" in record.exc_text


# --- lines with the request and trace ids (`[telemetry] log_format`) ----------------------


def _emit(log_format: str, message: str, *args: object, **extra: object) -> str:
    """What one log call writes through the handler ``configure_logging`` installs."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO", key=b"k" * 32, log_format=log_format)
        root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
        logging.getLogger("gateway.test").warning(message, *args, extra=extra)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    return stream.getvalue()


def test_json_lines_carry_the_request_and_trace_ids_and_no_iin() -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing("http://127.0.0.1:1", exporter=exporter)
    token = REQUEST_ID.set("req-42")
    try:
        with traced(tracing), span("load lis") as current:
            assert current is not None
            text = _emit("json", "no orders for %s", IIN, iin=IIN)
            context = current.get_span_context()
    finally:
        REQUEST_ID.reset(token)
        tracing.shutdown()
    (line,) = [json.loads(line) for line in text.splitlines()]
    assert line["request_id"] == "req-42"
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    assert line["level"] == "WARNING" and line["logger"] == "gateway.test"
    assert line["message"] == f"no orders for {RedactIdentifiers(b'k' * 32).pseudonym(IIN)}"
    assert IIN not in text  # nor in an `extra` attribute: only the fixed fields are written


def test_lines_outside_a_request_have_no_ids() -> None:
    line = json.loads(_emit("json", "register directory loaded"))
    assert "request_id" not in line and "trace_id" not in line
    assert line["message"] == "register directory loaded"


def test_text_lines_carry_the_request_id_too() -> None:
    token = REQUEST_ID.set("req-7")
    try:
        text = _emit("text", "served %s", IIN)
    finally:
        REQUEST_ID.reset(token)
    assert "[req-7 -]" in text and "WARNING gateway.test" in text
    assert IIN not in text
