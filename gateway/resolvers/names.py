"""Organisations, practitioners and codes as the contract shows them, in the reader's words.

Sources refer to organisations and practitioners by BIN, register id or FHIR id, with a
``display`` that may be missing or differ between systems; the register is where names live
(SOURCES.md). A read collects every reference of its records once (``references``), asks the
sources' face for the register's names in one go, and shapes each reference through ``Names``,
so the same organisation carries the same name wherever it appears in an answer. Codes are
displayed in the request's language (``gateway.language``), chosen once per request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from gateway import records as rec
from gateway.contract import types as t
from gateway.language import Words, words_for

_NO_DIRECTORY = rec.Directory()


ATC = "http://www.whocc.no/atc"


class Names:
    """Shapes references with the register's names (falling back to the source's display),
    and codes with their display in the reader's language."""

    def __init__(
        self, directory: rec.Directory = _NO_DIRECTORY, words: Words | None = None
    ) -> None:
        self.directory = directory
        # English, the code systems' own, unless the request chose (every face does).
        self.words = words or words_for("en")
        # One contract object per reference: an answer repeats the same few many times.
        self._organizations: dict[rec.OrgRef, t.Organization | None] = {}
        self._practitioners: dict[rec.PractitionerRef, t.Practitioner | None] = {}

    def organization(self, ref: rec.OrgRef | None) -> t.Organization | None:
        """An organisation reference with the register's BIN, name and region when known."""
        if ref is None:
            return None
        shaped = self._organizations.get(ref, _MISSING)
        if shaped is _MISSING:
            known = self.directory.organization(ref)
            bin_ = ref.bin or (known.bin if known else None)
            if not bin_:
                shaped = None
            else:
                shaped = t.Organization(
                    bin=bin_,
                    name=(known.name if known else None) or ref.name,
                    region=(known.region if known else None) or ref.region,
                )
            self._organizations[ref] = shaped
        return shaped  # type: ignore[return-value]

    def practitioner(self, ref: rec.PractitionerRef | None) -> t.Practitioner | None:
        """A practitioner reference with the register's id and name when known."""
        if ref is None:
            return None
        shaped = self._practitioners.get(ref, _MISSING)
        if shaped is _MISSING:
            known = self.directory.practitioner(ref)
            pid = ref.id or (known.id if known else None)
            if not pid:
                shaped = None
            else:
                name = (known.name if known else None) or ref.name
                shaped = t.Practitioner(id=pid, name=name)
            self._practitioners[ref] = shaped
        return shaped  # type: ignore[return-value]

    def coding(self, code: rec.Coding) -> t.Coding:
        """A code with its display in the reader's language (the source's when none is known)."""
        display, language = self.words.display(code.system, code.code, code.display)
        return t.Coding(
            system=code.system, code=code.code, display=display, display_language=language
        )

    def medicine(self, atc: str, source_name: str) -> str:
        """A medicine's name: its substance (ATC) in the reader's language, else the source's."""
        return self.words.known(ATC, atc) or source_name

    def provenance(self, prov: rec.Provenance) -> t.Provenance:
        """Where a fact came from, with the register's names."""
        return t.Provenance(
            source=prov.source,
            region=prov.region,
            organization=self.organization(prov.organization),
            practitioner=self.practitioner(prov.practitioner),
            recorded_at=prov.recorded_at,
        )


_MISSING: Any = object()


def references(values: Iterable[Any]) -> tuple[set[rec.OrgRef], set[rec.PractitionerRef]]:
    """Every distinct organisation and practitioner reference of these loaded records."""
    organizations: set[rec.OrgRef] = set()
    practitioners: set[rec.PractitionerRef] = set()
    for value in values:
        found = _REFERENCES.get(id(value))
        if found is None or found[0] is not value:
            found = (value, *_references_of(value))
            _REFERENCES[id(value)] = found
            while len(_REFERENCES) > _REFERENCES_KEPT:
                _REFERENCES.popitem(last=False)
        organizations |= found[1]
        practitioners |= found[2]
    return organizations, practitioners


# Warm reads hand out the very record objects the cache decoded before: their references are
# collected once (keyed by identity; the entry keeps its record alive, so no id is reused).
_REFERENCES: OrderedDict[int, tuple[Any, frozenset[rec.OrgRef], frozenset[rec.PractitionerRef]]]
_REFERENCES = OrderedDict()
_REFERENCES_KEPT = 4096


def _references_of(value: Any) -> tuple[frozenset[rec.OrgRef], frozenset[rec.PractitionerRef]]:
    """The references of one loaded value (a record, or a tuple of records)."""
    organizations: set[rec.OrgRef] = set()
    practitioners: set[rec.PractitionerRef] = set()

    def take(org: rec.OrgRef | None, practitioner: rec.PractitionerRef | None) -> None:
        if org is not None:
            organizations.add(org)
        if practitioner is not None:
            practitioners.add(practitioner)

    def visit(value: Any) -> None:
        if isinstance(value, list | tuple):
            for item in value:
                visit(item)
        elif isinstance(value, rec.EhrRecord):
            visit(value.patient)
            for name in _EHR_ITEMS:
                for item in getattr(value, name):
                    prov = item.provenance
                    take(prov.organization, prov.practitioner)
        elif isinstance(value, rec.LabHistory):
            for order in value.orders:
                take(order.lab, order.doctor)
            visit(value.results)
        elif isinstance(value, rec.PatientRecord):
            take(value.managing_org, value.gp)
            take(value.provenance.organization, value.provenance.practitioner)
        elif value is not None:
            prov = value.provenance
            take(prov.organization, prov.practitioner)
            if isinstance(value, rec.Encounter):
                take(value.organization, value.practitioner)

    visit(value)
    return frozenset(organizations), frozenset(practitioners)


# The item tuples of an EHR record; each item's provenance holds its references (an
# encounter's service provider and participant are its provenance too).
_EHR_ITEMS = (
    "allergies",
    "observations",
    "problems",
    "medications",
    "immunizations",
    "procedures",
    "diagnostic_reports",
    "encounters",
    "devices",
)
