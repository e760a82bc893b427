"""The ambulance dispatch (103) emulator: XML over HTTP with HTTP Basic (SOURCES.md, section 4).

Answers from ``ambulance.sqlite``. XML is written by hand for speed, with every
text and attribute escaped; an element whose column is NULL is left out.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import sqlite3
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from emulators.instrumentation import Instrumented

DEFAULT_PASSWORD = "emulator-ambulance"  # noqa: S105 - the emulator's published demo password
XML_MEDIA_TYPE = "application/xml; charset=utf-8"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
_IIN = re.compile(r"\d{12}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# XML 1.0 forbids most control characters even as references; drop them.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTR_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "\n": "&#10;",
        "\r": "&#13;",
        "\t": "&#9;",
    }
)

_CALL_COLUMNS = (
    "id, received, arrived, station_code, station_bin, station_name, paramedic_id,"
    " paramedic_name, complaint, diagnosis_icd10, diagnosis_text, bp, hr, spo2, glucose,"
    " outcome, hospital_bin, hospital_name"
)

# groupBy -> (key expression, label expression); whitelisted, so safe to splice into SQL.
# For diagnosis, SQLite takes the bare diagnosis_text from the row holding
# MIN(diagnosis_icd10): the category's own text when coded at 3 characters.
_STATS_GROUPS: dict[str, tuple[str, str]] = {
    "diagnosis": ("substr(diagnosis_icd10, 1, 3)", "diagnosis_text, MIN(diagnosis_icd10)"),
    "outcome": ("outcome", "outcome"),
    "station": ("station_code", "MIN(station_name)"),
    "month": ("substr(received_date, 1, 7)", "substr(received_date, 1, 7)"),
}
OUTCOME_LABELS = {
    "TREATED_ON_SITE": "Treated on site",
    "HOSPITALIZED": "Hospitalized",
    "REFUSED": "Refused",
    "DIED": "Died",
    "FALSE_CALL": "False call",
}


def text(value: Any) -> str:
    """Escape a value for XML character data."""
    return _FORBIDDEN.sub("", str(value)).translate(_TEXT_ESCAPES)


def attr(value: Any) -> str:
    """Escape a value for a double-quoted XML attribute."""
    return _FORBIDDEN.sub("", str(value)).translate(_ATTR_ESCAPES)


def _number(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _attrs(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f' {name}="{attr(value)}"' for name, value in pairs if value is not None)


def call_xml(row: tuple) -> str:
    """Render one call row as the contract's ``<call>`` element (indented two levels)."""
    (
        call_id,
        received,
        arrived,
        station_code,
        station_bin,
        station_name,
        paramedic_id,
        paramedic_name,
        complaint,
        icd10,
        diagnosis_text,
        bp,
        hr,
        spo2,
        glucose,
        outcome,
        hospital_bin,
        hospital_name,
    ) = row
    parts = [f'  <call id="{attr(call_id)}">', f"    <received>{text(received)}</received>"]
    if arrived is not None:
        parts.append(f"    <arrived>{text(arrived)}</arrived>")
    if station_code is not None or station_bin is not None or station_name is not None:
        attrs = _attrs([("code", station_code), ("bin", station_bin)])
        parts.append(f"    <station{attrs}>{text(station_name or '')}</station>")
    if paramedic_id is not None or paramedic_name is not None:
        attrs = _attrs([("id", paramedic_id)])
        paramedic = f"<paramedic{attrs}>{text(paramedic_name or '')}</paramedic>"
        parts.append(f"    <crew>{paramedic}</crew>")
    if complaint is not None:
        parts.append(f"    <complaint>{text(complaint)}</complaint>")
    if icd10 is not None or diagnosis_text is not None:
        attrs = _attrs([("icd10", icd10)])
        parts.append(f"    <diagnosis{attrs}>{text(diagnosis_text or '')}</diagnosis>")
    vitals = [
        (name, _number(value) if name == "glucose" else value)
        for name, value in (("bp", bp), ("hr", hr), ("spo2", spo2), ("glucose", glucose))
        if value is not None
    ]
    if vitals:
        parts.append(f"    <vitals{_attrs(vitals)}/>")
    if outcome is not None:
        hospital = ""
        if outcome == "HOSPITALIZED" and (hospital_bin is not None or hospital_name is not None):
            attrs = _attrs([("bin", hospital_bin)])
            hospital = f"<hospital{attrs}>{text(hospital_name or '')}</hospital>"
        if hospital:
            parts.append(f'    <outcome code="{attr(outcome)}">{hospital}</outcome>')
        else:
            parts.append(f'    <outcome code="{attr(outcome)}"/>')
    parts.append("  </call>")
    return "\n".join(parts)


def calls_document(iin: str, rows: list[tuple]) -> str:
    """The whole ``<calls>`` answer for one person."""
    if not rows:
        return f'{XML_DECLARATION}<calls iin="{attr(iin)}" count="0"/>\n'
    body = "\n".join(call_xml(row) for row in rows)
    return f'{XML_DECLARATION}<calls iin="{attr(iin)}" count="{len(rows)}">\n{body}\n</calls>\n'


def _xml(status: int, document: str, headers: dict[str, str] | None = None) -> Response:
    return Response(document.encode(), status, headers, media_type=XML_MEDIA_TYPE)


def _xml_error(status: int, code: str, message: str, headers: dict[str, str] | None = None):
    document = f'{XML_DECLARATION}<error code="{attr(code)}">{text(message)}</error>\n'
    return _xml(status, document, headers)


class AmbulanceStore:
    """Read-only SQL access to ``ambulance.sqlite``."""

    def __init__(self, db_path: Path) -> None:
        uri = f"{db_path.resolve().as_uri()}?mode=ro"
        self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)

    def calls(self, iin: str, start: str) -> list[tuple]:
        """A person's calls received on or after ``start``, newest first."""
        sql = (
            f"SELECT {_CALL_COLUMNS} FROM call WHERE iin = ? AND received_date >= ?"
            " ORDER BY received DESC, id"
        )
        return self.db.execute(sql, (iin, start)).fetchall()

    def stats(
        self, group_by: str, start: str, end: str, region: str | None
    ) -> list[tuple[str, str, int, int]]:
        """Aggregate calls: key, label, calls, distinct patients (rows without a key left out)."""
        key, label = _STATS_GROUPS[group_by]
        where = f"received_date >= ? AND received_date <= ? AND {key} IS NOT NULL"
        args: list[str] = [start, end]
        if region:
            where += " AND region = ?"
            args.append(region)
        sql = (
            f"SELECT {key} AS k, {label}, COUNT(*), COUNT(DISTINCT iin)"
            f" FROM call WHERE {where} GROUP BY k ORDER BY k"
        )
        if group_by == "diagnosis":
            return [(r[0], r[1], r[3], r[4]) for r in self.db.execute(sql, args)]
        return self.db.execute(sql, args).fetchall()


def _check_date(value: str | None, name: str, default: str) -> str:
    if value is None or value == "":
        return default
    if not _ISO_DATE.fullmatch(value):
        raise ValueError(f"{name} must be YYYY-MM-DD")
    return value


def create_ambulance_app(
    db_path: Path, username: str = "ehp", password: str = DEFAULT_PASSWORD
) -> ASGIApp:
    """Build the ambulance dispatch emulator over ``db_path`` with one Basic-auth user."""
    store = AmbulanceStore(db_path)
    expected = f"{username}:{password}".encode()

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if header[:6].lower() != "basic ":
            return False
        try:
            given = base64.b64decode(header[6:].strip(), validate=True)
        except binascii.Error:
            return False
        return hmac.compare_digest(given, expected)

    def refuse() -> Response:
        headers = {"WWW-Authenticate": 'Basic realm="ambulance-103", charset="UTF-8"'}
        return _xml_error(401, "UNAUTHORIZED", "HTTP Basic credentials required", headers)

    async def calls(request: Request) -> Response:
        if not authorized(request):
            return refuse()
        params = request.query_params
        iin = params.get("iin", "")
        if not _IIN.fullmatch(iin):
            return _xml_error(400, "INVALID_IIN", "iin must be 12 digits")
        try:
            start = _check_date(params.get("from"), "from", "0000-00-00")
        except ValueError as exc:
            return _xml_error(400, "INVALID_DATE", str(exc))
        return _xml(200, calls_document(iin, store.calls(iin, start)))

    async def stats(request: Request) -> Response:
        if not authorized(request):
            return refuse()
        params = request.query_params
        group_by = params.get("groupBy", "")
        if group_by not in _STATS_GROUPS:
            return _xml_error(400, "INVALID_GROUP_BY", "groupBy must be " + "|".join(_STATS_GROUPS))
        try:
            start = _check_date(params.get("from"), "from", "0000-00-00")
            end = _check_date(params.get("to"), "to", "9999-99-99")
        except ValueError as exc:
            return _xml_error(400, "INVALID_DATE", str(exc))
        rows = []
        for key, label, calls_count, patients in store.stats(
            group_by, start, end, params.get("region")
        ):
            if group_by == "outcome":
                label = OUTCOME_LABELS.get(key, key)
            attrs = _attrs(
                [
                    ("key", key),
                    ("label", label or ""),
                    ("calls", calls_count),
                    ("patients", patients),
                ]
            )
            rows.append(f"  <row{attrs}/>")
        if not rows:
            return _xml(200, f"{XML_DECLARATION}<stats/>\n")
        return _xml(200, XML_DECLARATION + "<stats>\n" + "\n".join(rows) + "\n</stats>\n")

    app = Starlette(
        routes=[
            Route("/api/calls", calls, methods=["GET"]),
            Route("/api/stats/calls", stats, methods=["GET"]),
        ]
    )
    return Instrumented(app, base_path="")
