"""FHIR search parameters of the emulated servers, turned into SQL over ``emulators.storage``.

``parse_search(type, params, served)`` reads the query string of ``GET [base]/{type}?...``
(SOURCES.md section 1) and answers a ``Search``: a WHERE clause with its arguments, the
order, the page and what to include. Handling is *strict*: an unknown parameter, modifier
or prefix is a ``FhirError`` (400) rather than silently ignored, because ignoring a filter
would widen a search to other people's records.

Semantics chosen here:
- Repeated parameters are ANDed, comma-separated values ORed (at most 100 per parameter).
- Empty values are refused (400), for the same reason as unknown parameters.
- Tokens: ``system|code``, ``code`` (any system), ``|code`` (no system), ``system|`` (any code);
  ``code:below`` matches the code and every code it prefixes (ICD-10 ``E11`` -> ``E11``, ``E11.9``).
- Dates compare the stored ``date`` column as text, which is exact because stored instants are
  written at the single national offset (+05:00, ``emulators.clock.search_date``) whatever
  offset the resource shows (Almaty was +06:00 before 2024-03-01). A query date-time is
  converted to +05:00 first (without an offset it is Asia/Almaty local time); a year, month
  or day denotes the range of Almaty calendar days it covers (local midnights converted).
  ``Patient.birthdate`` holds plain dates and compares as dates. ``eq``/``ne``/``gt``/``ge``/
  ``lt``/``le``, default ``eq``.
- ``_sort``: ``date`` / ``-date`` on every type with dates (``birthdate`` on Patient), ``_id``.
  Ties, and the default order, follow the resource id, so paging is stable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from emulators.clock import at_national_offset, local_midnight

MAX_COUNT = 500
DEFAULT_COUNT = 50
MAX_OR_VALUES = 100
OFFSET_PARAM = "_offset"

CLINICAL_TYPES: tuple[str, ...] = (
    "Condition",
    "AllergyIntolerance",
    "Observation",
    "MedicationStatement",
    "Immunization",
    "Procedure",
    "DiagnosticReport",
    "Encounter",
    "Device",
)
# Types a Patient search may reverse-include through their ``patient`` reference.
PATIENT_LINKED_TYPES: tuple[str, ...] = (*CLINICAL_TYPES, "RelatedPerson")
SERVED_TYPES: dict[str, frozenset[str]] = {
    "fhir-register": frozenset({"Patient", "Organization", "Practitioner", "RelatedPerson"}),
    "fhir-ehr": frozenset({"Patient", *CLINICAL_TYPES}),
}

# Sorts after every character an ISO 8601 suffix can hold, so "<= value~" keeps the instant.
_AFTER = "~"
_DATE_PREFIXES = ("eq", "ne", "gt", "ge", "lt", "le")
# prefix -> (operator, compare with the range's high end rather than its low end)
_OPEN_RANGES = {"ge": (">=", False), "gt": (">=", True), "le": ("<", True), "lt": ("<", False)}
# Parameters that only shape the answer; the FHIR-wide formatting ones are accepted and ignored.
_RESULT_PARAMS = frozenset({"_count", OFFSET_PARAM, "_sort", "_summary", "_revinclude"})
_IGNORED_PARAMS = frozenset({"_format", "_pretty"})


class FhirError(Exception):
    """A request the server refuses; rendered as an OperationOutcome with ``status``."""

    def __init__(self, status: int, code: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics


def invalid(diagnostics: str) -> FhirError:
    """Return the 400 error for a malformed or unsupported search."""
    return FhirError(400, "invalid", diagnostics)


@dataclass(frozen=True)
class Param:
    """How one search parameter is answered: its kind and, for tokens, the stored name."""

    kind: str  # id, token, reference, date, patient, chain
    stored: str = ""
    target: str = ""  # the referenced type of reference parameters


_ID = Param("id")
_DATE = Param("date")
_PATIENT = Param("patient", target="Patient")
_CHAIN = Param("chain")


def _token(name: str) -> Param:
    return Param("token", name)


_CLINICAL_COMMON = {"_id": _ID, "patient": _PATIENT, "patient.identifier": _CHAIN}

PARAMS: dict[str, dict[str, Param]] = {
    "Patient": {
        "_id": _ID,
        "identifier": _token("identifier"),
        "organization": Param("reference", "organization", "Organization"),
        "general-practitioner": Param("reference", "general-practitioner", "Practitioner"),
        "birthdate": _DATE,
        "gender": _token("gender"),
        "address-state": _token("address-state"),
    },
    "Organization": {"_id": _ID, "identifier": _token("identifier"), "type": _token("type")},
    "Practitioner": {"_id": _ID, "identifier": _token("identifier")},
    # The adult's IIN is the identifier; patient is the child (SOURCES.md, added 2026-12-03).
    "RelatedPerson": {
        "_id": _ID,
        "identifier": _token("identifier"),
        "patient": _PATIENT,
        "patient.identifier": _CHAIN,
        "active": _token("active"),
        "relationship": _token("relationship"),
    },
    # Beyond the contract's list (a server may support more): the tokens the generator
    # stores anyway, e.g. Procedure code, Immunization vaccine-code, Encounter reason-code.
    "Condition": {
        **_CLINICAL_COMMON,
        "clinical-status": _token("clinical-status"),
        "category": _token("category"),
        "code": _token("code"),
        "onset-date": _DATE,
    },
    "AllergyIntolerance": {
        **_CLINICAL_COMMON,
        "clinical-status": _token("clinical-status"),
        "category": _token("category"),
        "code": _token("code"),
    },
    "Observation": {
        **_CLINICAL_COMMON,
        "category": _token("category"),
        "code": _token("code"),
        "date": _DATE,
        "status": _token("status"),
    },
    "MedicationStatement": {**_CLINICAL_COMMON, "status": _token("status"), "code": _token("code")},
    "Immunization": {
        **_CLINICAL_COMMON,
        "date": _DATE,
        "status": _token("status"),
        "vaccine-code": _token("vaccine-code"),
    },
    "Procedure": {
        **_CLINICAL_COMMON,
        "date": _DATE,
        "category": _token("category"),
        "code": _token("code"),
        "status": _token("status"),
    },
    "DiagnosticReport": {
        **_CLINICAL_COMMON,
        "date": _DATE,
        "category": _token("category"),
        "code": _token("code"),
        "status": _token("status"),
    },
    "Encounter": {
        **_CLINICAL_COMMON,
        "date": _DATE,
        "class": _token("class"),
        "status": _token("status"),
        "reason-code": _token("reason-code"),
    },
    "Device": {**_CLINICAL_COMMON, "type": _token("type"), "status": _token("status")},
}

_UNDATED = frozenset({"Organization", "Practitioner", "RelatedPerson"})
# Sort keys per type: the stored date column serves ``date`` (``birthdate`` on Patient).
_SORTS: dict[str, dict[str, str]] = {
    resource_type: {"_id": "id"}
    | ({} if resource_type in _UNDATED else {"date": "date"})
    | ({"birthdate": "date"} if resource_type == "Patient" else {})
    for resource_type in PARAMS
}


@dataclass
class Search:
    """A parsed search: SQL filter, order, page, and what else to put in the Bundle."""

    resource_type: str
    where: str
    args: list[object]
    order_by: str = "id"
    index: str = ""  # an INDEXED BY clause when the plan must be forced
    count: int = DEFAULT_COUNT
    offset: int = 0
    summary_count: bool = False
    revincludes: list[str] = field(default_factory=list)
    # The request's parameters minus paging, to rebuild self/next links.
    link_params: list[tuple[str, str]] = field(default_factory=list)

    def page_sql(self) -> str:
        """Return the SELECT of one page of (id, json) rows; args + [count, offset] bind it."""
        return (
            f"SELECT id, json FROM resource {self.index} WHERE {self.where} "
            f"ORDER BY {self.order_by} LIMIT ? OFFSET ?"
        )

    def count_sql(self) -> str:
        """Return the SELECT counting every match."""
        return f"SELECT count(*) FROM resource {self.index} WHERE {self.where}"


def parse_search(
    resource_type: str, items: list[tuple[str, str]], served: frozenset[str]
) -> Search:
    """Turn a search's query parameters into a ``Search``, or raise ``FhirError`` (400)."""
    known = PARAMS[resource_type]
    search = Search(resource_type, "", [])
    filters: list[tuple[str, str, Param, list[str]]] = []
    for name, value in items:
        if name in _IGNORED_PARAMS:
            continue
        if name in _RESULT_PARAMS:
            _apply_result_param(search, name, value, served)
            if name not in ("_count", OFFSET_PARAM):
                search.link_params.append((name, value))
            continue
        base, _, modifier = name.partition(":")
        param = known.get(base)
        if param is None:
            raise invalid(f"unknown search parameter {name!r} for {resource_type}")
        values = _split_or(name, value)
        filters.append((base, modifier, param, values))
        search.link_params.append((name, value))
    if search.revincludes and resource_type != "Patient":
        raise invalid("_revinclude is supported on Patient searches only")
    _build_where(search, filters)
    return search


def _apply_result_param(search: Search, name: str, value: str, served: frozenset[str]) -> None:
    if name == "_count":
        search.count = min(_non_negative_int(name, value), MAX_COUNT)
    elif name == OFFSET_PARAM:
        search.offset = _non_negative_int(name, value)
    elif name == "_summary":
        if value not in ("count", "false"):
            raise invalid(f"_summary={value!r} is not supported (use count or false)")
        search.summary_count = value == "count"
    elif name == "_sort":
        search.order_by = _order_by(search.resource_type, value)
    else:
        included, _, via = value.partition(":")
        if included not in PATIENT_LINKED_TYPES or via != "patient":
            raise invalid(f"_revinclude={value!r} is not supported (use {{type}}:patient)")
        if included not in served:
            raise invalid(f"_revinclude={value!r}: this server holds no {included}")
        if included not in search.revincludes:
            search.revincludes.append(included)


def _non_negative_int(name: str, value: str) -> int:
    if not value.isdigit():
        raise invalid(f"{name} must be a non-negative integer, not {value!r}")
    return int(value)


def _order_by(resource_type: str, value: str) -> str:
    descending = value.startswith("-")
    column = _SORTS[resource_type].get(value.removeprefix("-"))
    if column is None:
        raise invalid(f"_sort={value!r} is not supported for {resource_type}")
    if column == "id":
        return "id DESC" if descending else "id"
    return f"{column} DESC, id" if descending else f"{column}, id"


def _split_or(name: str, value: str) -> list[str]:
    values = value.split(",")
    if len(values) > MAX_OR_VALUES:
        raise invalid(f"{name}: at most {MAX_OR_VALUES} comma-separated values")
    if any(not v for v in values):
        raise invalid(f"{name}: empty value")
    return values


def _build_where(search: Search, filters: list[tuple[str, str, Param, list[str]]]) -> None:
    """Write the WHERE clause, choosing which filter drives the search.

    SQLite plans without statistics, and would rather walk every resource of a type in id
    order than sort one patient's few rows, so the plan is chosen here: ids drive through the
    primary key; else patients through ``resource_patient`` (forced); else one token (the
    identifier when given) through ``token_lookup``. Every other token is then checked per
    row through ``token_owner``, never materialised for the whole type.
    """
    clauses = ["type = ?"]
    args: list[object] = [search.resource_type]
    kinds = {param.kind for _, _, param, _ in filters}
    driver: int | None = None
    if "id" not in kinds and kinds & {"patient", "chain"}:
        search.index = "INDEXED BY resource_patient"
    elif "id" not in kinds:
        tokens = [i for i, f in enumerate(filters) if f[2].kind in ("token", "reference")]
        identifiers = [i for i in tokens if filters[i][0] == "identifier"]
        driver = (identifiers or tokens or [None])[0]
    for position, (name, modifier, param, values) in enumerate(filters):
        clause, clause_args = _filter(
            search.resource_type, name, modifier, param, values, drives=position == driver
        )
        clauses.append(clause)
        args.extend(clause_args)
    search.where = " AND ".join(clauses)
    search.args = args


def _filter(
    resource_type: str, name: str, modifier: str, param: Param, values: list[str], drives: bool
) -> tuple[str, list[object]]:
    kind = param.kind
    if kind == "date":
        _no_modifier(name, modifier)
        return _date_filter(name, values, plain=resource_type == "Patient")
    if kind == "id":
        _no_modifier(name, modifier)
        return f"id IN ({_marks(values)})", list(values)
    if kind == "patient":
        if modifier not in ("", "Patient"):
            raise invalid(f"{name}:{modifier} is not supported")
        ids = [_reference_id(name, v, "Patient") for v in values]
        return f"patient_id IN ({_marks(ids)})", list(ids)
    if kind == "chain":
        _no_modifier(name, modifier)
        match, match_args = _token_match(values, below=False)
        sql = (
            "patient_id IN (SELECT id FROM token "
            f"WHERE type = 'Patient' AND param = 'identifier' AND ({match}))"
        )
        return sql, match_args
    if kind == "reference":
        _no_modifier(name, modifier)
        refs = [f"{param.target}/{_reference_id(name, v, param.target)}" for v in values]
        match, match_args = f"system = '' AND code IN ({_marks(refs)})", list(refs)
    else:
        if modifier not in ("", "below") or (modifier == "below" and name != "code"):
            raise invalid(f"{name}:{modifier} is not supported")
        match, match_args = _token_match(values, below=modifier == "below")
    if drives:
        sql = f"id IN (SELECT id FROM token WHERE type = ? AND param = ? AND ({match}))"
        return sql, [resource_type, param.stored, *match_args]
    sql = (
        "EXISTS (SELECT 1 FROM token AS t INDEXED BY token_owner WHERE t.type = resource.type "
        f"AND t.id = resource.id AND t.param = ? AND ({match}))"
    )
    prefix: list[object] = [param.stored]
    return sql, prefix + match_args


def _no_modifier(name: str, modifier: str) -> None:
    if modifier:
        raise invalid(f"{name}:{modifier} is not supported")


def _marks(values: list[str]) -> str:
    return ",".join("?" * len(values))


def _reference_id(name: str, value: str, target: str) -> str:
    """Accept ``{id}``, ``{Type}/{id}`` or an absolute URL ending in ``{Type}/{id}``."""
    parts = value.rstrip("/").split("/")
    if len(parts) == 1:
        return parts[0]
    if parts[-2] != target or not parts[-1]:
        raise invalid(f"{name}={value!r}: expected a {target} reference")
    return parts[-1]


def _token_match(values: list[str], below: bool) -> tuple[str, list[object]]:
    """Return the ORed conditions on (system, code) for token values."""
    ors: list[str] = []
    args: list[object] = []
    codes: list[str] = []
    for value in values:
        system, bar, code = value.partition("|")
        if not bar:
            system, code = None, value
        codes.append(code)
        conditions: list[str] = []
        if system is not None:
            conditions.append("system = ?")
            args.append(system)
        if code and below:
            # Prefix range: stays on the index; codes are ASCII so U+FFFF sorts after them.
            conditions.append("code >= ? AND code < ?")
            args.extend((code, code + "\uffff"))
        elif code:
            conditions.append("code = ?")
            args.append(code)
        if not conditions:
            raise invalid(f"empty token value {value!r}")
        ors.append("(" + " AND ".join(conditions) + ")")
    if len(values) == 1 or below or not all(codes):
        return " OR ".join(ors), args
    # Several exact codes: "code IN" lets the index find them; the pairs then check systems.
    return f"code IN ({_marks(codes)}) AND ({' OR '.join(ors)})", [*codes, *args]


def _date_filter(name: str, values: list[str], plain: bool) -> tuple[str, list[object]]:
    ors: list[str] = []
    args: list[object] = []
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2] in _DATE_PREFIXES else ("eq", value)
        low, high = _date_range(name, text, plain)
        if prefix == "eq":
            ors.append("(date >= ? AND date < ?)")
            args.extend((low, high))
        elif prefix == "ne":
            ors.append("(date < ? OR date >= ?)")
            args.extend((low, high))
        else:
            # gt starts after the whole denoted range; le ends with it; lt ends before it.
            op, use_high = _OPEN_RANGES[prefix]
            ors.append(f"date {op} ?")
            args.append(high if use_high else low)
    return "(" + " OR ".join(ors) + ")", args


_YEAR = re.compile(r"\d{4}")
_MONTH = re.compile(r"\d{4}-\d{2}")


def _date_range(name: str, text: str, plain: bool) -> tuple[str, str]:
    """Return [low, high) as strings comparable with the stored dates (``plain``: date-only)."""
    # An unencoded "+05:00" arrives as " 05:00" (form decoding); restore it, as servers do.
    text = text.replace(" ", "+")
    try:
        if _YEAR.fullmatch(text):
            first, after = date(int(text), 1, 1), date(int(text) + 1, 1, 1)
        elif _MONTH.fullmatch(text):
            year, month = int(text[:4]), int(text[5:])
            if not 1 <= month <= 12:
                raise ValueError(text)
            first = date(year, month, 1)
            after = date(year + month // 12, month % 12 + 1, 1)
        elif len(text) == 10:
            first = date.fromisoformat(text)
            after = first + timedelta(days=1)
        else:
            moment = datetime.fromisoformat(text)
            local = at_national_offset(moment)
            if plain:
                return local[:10], (date.fromisoformat(local[:10]) + timedelta(days=1)).isoformat()
            return local, local + _AFTER
    except ValueError:
        raise invalid(f"{name}: {text!r} is not a FHIR date or dateTime") from None
    if plain:
        return first.isoformat(), after.isoformat()
    return local_midnight(first), local_midnight(after)
