"""The resources of one document Bundle: each added once, referred to by its ``urn:uuid``.

Organisations and practitioners are kept once per BIN and register id, however many facts
name them. Identifiers use the national systems of SOURCES.md.
"""

from __future__ import annotations

import uuid
from typing import Any

from gateway.contract import types as t

BIN_SYSTEM = "urn:kz:bin"
PRACTITIONER_SYSTEM = "urn:kz:practitioner"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

Resource = dict[str, Any]
Reference = dict[str, str]


def absent(reason: str = "unknown") -> dict[str, Any]:
    """The ``_element`` of a required primitive whose value is not known (IPS convention)."""
    return {"extension": [{"url": DATA_ABSENT, "valueCode": reason}]}


class Entries:
    """The Bundle's entries in the order they were added, with their references."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._organizations: dict[str, Reference] = {}
        self._practitioners: dict[str, Reference] = {}

    def add(self, resource: Resource) -> Reference:
        """Add ``resource`` under a new ``urn:uuid`` and return a reference to it."""
        identifier = str(uuid.uuid4())
        # In place (callers may still add to it), with the id right after resourceType.
        kind = resource.pop("resourceType")
        rest = dict(resource)
        resource.clear()
        resource.update(resourceType=kind, id=identifier, **rest)
        url = f"urn:uuid:{identifier}"
        self.entries.append({"fullUrl": url, "resource": resource})
        return {"reference": url}

    def organization(self, organization: t.Organization | None) -> Reference | None:
        """The Organization with this BIN (added on first use), or None."""
        if organization is None:
            return None
        known = self._organizations.get(organization.bin)
        if known is None:
            resource: Resource = {
                "resourceType": "Organization",
                "identifier": [{"system": BIN_SYSTEM, "value": organization.bin}],
            }
            _name(resource, "name", organization.name)
            if organization.region:
                resource["address"] = [{"state": organization.region, "country": "KZ"}]
            known = self._organizations[organization.bin] = self.add(resource)
        return known

    def practitioner(self, practitioner: t.Practitioner | None) -> Reference | None:
        """The Practitioner with this register id (added on first use), or None."""
        if practitioner is None:
            return None
        known = self._practitioners.get(practitioner.id)
        if known is None:
            resource: Resource = {
                "resourceType": "Practitioner",
                "identifier": [{"system": PRACTITIONER_SYSTEM, "value": practitioner.id}],
                "name": [{"text": practitioner.name} if practitioner.name else absent_name()],
            }
            known = self._practitioners[practitioner.id] = self.add(resource)
        return known

    def actors(self, provenance: t.Provenance | None) -> list[Reference]:
        """Who recorded a fact (practitioner, then organisation), as references."""
        if provenance is None:
            return []
        found = [
            self.practitioner(provenance.practitioner),
            self.organization(provenance.organization),
        ]
        return [reference for reference in found if reference is not None]

    def recorder(self, provenance: t.Provenance | None) -> Reference | None:
        """The practitioner who recorded a fact (elements that take no organisation)."""
        return self.practitioner(provenance.practitioner) if provenance else None


def absent_name() -> dict[str, Any]:
    """A HumanName whose text is not known (the register did not answer or has none)."""
    return {"_text": absent()}


def _name(resource: Resource, element: str, value: str | None) -> None:
    if value:
        resource[element] = value
    else:
        resource[f"_{element}"] = absent()
