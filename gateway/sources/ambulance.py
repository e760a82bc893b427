"""Adapter of the ambulance dispatch (103): XML over HTTP, parsed as untrusted input."""

from __future__ import annotations

from datetime import date, datetime
from xml.etree.ElementTree import Element, ParseError

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from gateway.clock import SOURCE_LOCAL
from gateway.config import SourceSettings
from gateway.records import (
    AMBULANCE,
    AmbulanceCall,
    Coding,
    Encounter,
    OrgRef,
    PractitionerRef,
    Provenance,
    Screened,
    StatRow,
    Vitals,
)
from gateway.sources.errors import BAD_RESPONSE, SourceError, source_errors
from gateway.sources.http import ClientOptions, fetch, raise_for_reply, require_iin
from gateway.sources.ownership import screened

ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
MAX_BYTES = 2 * 1024 * 1024  # a person's calls are a few KiB; anything this big is hostile
CALL_GROUPINGS = frozenset({"diagnosis", "outcome", "station", "month"})


def parse_xml(source: str, body: bytes, root_tag: str) -> Element:
    """Parse untrusted XML: no DTD, no entities, no external references; check the root."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise SourceError(source, BAD_RESPONSE, f"forbidden XML: {type(exc).__name__}") from None
    except ParseError:
        raise SourceError(source, BAD_RESPONSE, "malformed XML") from None
    if root.tag != root_tag:
        raise SourceError(source, BAD_RESPONSE, f"expected <{root_tag}>")
    return root


def _text(element: Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    text = element.text.strip()
    return text or None


def _attr(element: Element | None, name: str) -> str | None:
    if element is None:
        return None
    value = (element.get(name) or "").strip()
    return value or None


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=SOURCE_LOCAL)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def map_call(element: Element, source: str) -> AmbulanceCall | None:
    """One ``<call>``; None when it lacks a readable ``received`` (the one required element)."""
    received = _time(_text(element.find("received")))
    if received is None:
        return None
    station_el = element.find("station")
    station = (
        OrgRef(_attr(station_el, "bin"), _text(station_el))
        if station_el is not None and (_attr(station_el, "bin") or _text(station_el))
        else None
    )
    paramedic_el = element.find("crew/paramedic")
    paramedic = (
        PractitionerRef(_attr(paramedic_el, "id"), _text(paramedic_el))
        if paramedic_el is not None and (_attr(paramedic_el, "id") or _text(paramedic_el))
        else None
    )
    diagnosis_el = element.find("diagnosis")
    icd10 = _attr(diagnosis_el, "icd10")
    vitals_el = element.find("vitals")
    vitals = (
        Vitals(
            bp=_attr(vitals_el, "bp"),
            hr=_int(_attr(vitals_el, "hr")),
            spo2=_int(_attr(vitals_el, "spo2")),
            glucose=_float(_attr(vitals_el, "glucose")),
        )
        if vitals_el is not None
        else None
    )
    outcome_el = element.find("outcome")
    hospital_el = element.find("outcome/hospital")
    hospital = (
        OrgRef(_attr(hospital_el, "bin"), _text(hospital_el))
        if hospital_el is not None and (_attr(hospital_el, "bin") or _text(hospital_el))
        else None
    )
    return AmbulanceCall(
        id=_attr(element, "id"),
        received=received,
        arrived=_time(_text(element.find("arrived"))),
        station_code=_attr(station_el, "code"),
        station=station,
        paramedic=paramedic,
        complaint=_text(element.find("complaint")),
        diagnosis=Coding(ICD10_SYSTEM, icd10, _text(diagnosis_el)) if icd10 else None,
        vitals=vitals,
        outcome=_attr(outcome_el, "code"),
        hospital=hospital,
        provenance=Provenance(source, None, station, paramedic, received),
    )


def call_to_encounter(call: AmbulanceCall) -> Encounter:
    """An ambulance call seen as an encounter of kind AMBULANCE (start = call received)."""
    return Encounter(
        kind=AMBULANCE,
        start=call.received,
        end=None,
        organization=call.station,
        practitioner=call.paramedic,
        diagnosis=call.diagnosis,
        reason=call.complaint,
        status=call.outcome,
        provenance=call.provenance,
    )


class AmbulanceAdapter:
    """The ambulance dispatch: a person's calls and call aggregates."""

    @staticmethod
    def client_options(settings: SourceSettings) -> ClientOptions:
        """XML, with HTTP Basic credentials (SOURCES.md section 4)."""
        auth = None
        if settings.username is not None:
            auth = httpx.BasicAuth(settings.username, settings.password or "")
        return ClientOptions(headers={"Accept": "application/xml"}, auth=auth)

    def __init__(self, settings: SourceSettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.source = settings.name
        self.client = client

    async def _xml(self, path: str, params: list[tuple[str, str]], root_tag: str) -> Element:
        reply = await fetch(
            self.client, self.source, "GET", path, params=params, max_bytes=MAX_BYTES
        )
        raise_for_reply(self.source, reply)
        return parse_xml(self.source, reply.body, root_tag)

    async def calls(self, iin: str, from_date: date | None = None) -> Screened:
        """A person's calls (since ``from_date`` when given) as a ``Screened`` list; empty for
        an unknown person. An answer whose root names another IIN (or none) is nobody's here:
        all its calls are dropped."""
        require_iin(iin)
        params = [("iin", iin)]
        if from_date is not None:
            params.append(("from", from_date.isoformat()))
        with source_errors(self.source):
            root = await self._xml("/api/calls", params, "calls")
            elements = list(root.iterfind("call"))
            if _attr(root, "iin") != iin:
                return screened(self.source, [], len(elements), "ambulance calls")
            calls = (map_call(element, self.source) for element in elements)
            return Screened([call for call in calls if call is not None])

    async def encounters(self, iin: str) -> Screened:
        """A person's calls as encounters of kind AMBULANCE (the passport's ``encounters``)."""
        calls = await self.calls(iin)
        return Screened([call_to_encounter(call) for call in calls.value], calls.dropped)

    async def call_stats(
        self, from_date: date, to_date: date, region: str | None, group_by: str
    ) -> list[StatRow]:
        """Calls aggregated by the dispatch (``group_by`` diagnosis, outcome, station, month)."""
        group = group_by.lower()
        if group not in CALL_GROUPINGS:
            raise ValueError(f"cannot group calls by {group_by!r}")
        params = [("from", from_date.isoformat()), ("to", to_date.isoformat())]
        if region:
            params.append(("region", region))
        params.append(("groupBy", group))
        with source_errors(self.source):
            root = await self._xml("/api/stats/calls", params, "stats")
            rows = []
            for row in root.iterfind("row"):
                key = _attr(row, "key")
                if key is None:
                    raise SourceError(self.source, BAD_RESPONSE, "stats row without key")
                rows.append(
                    StatRow(
                        key=key,
                        label=_attr(row, "label"),
                        count=_int(_attr(row, "calls")),
                        patients=_int(_attr(row, "patients")),
                    )
                )
            return rows
