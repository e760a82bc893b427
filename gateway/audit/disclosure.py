"""What a request disclosed, and the audit events that record it (one per person per request)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from gateway.audit.events import NewAuditEvent
from gateway.auth.principal import Principal


@dataclass(frozen=True, slots=True)
class Disclosure:
    """What one read of one person's record showed: sections, the reason given, break-glass."""

    iin: str
    sections: frozenset[str]
    reason: str | None = None
    break_glass: bool = False


class Discloses(Protocol):
    """Anything that read a person's record during a request (a passport or emergency read)."""

    def disclosure(self) -> Disclosure | None:
        """What it disclosed; None when it showed nothing of the person."""
        ...


def disclosure_events(
    principal: Principal, request_id: str, disclosures: Iterable[Disclosure]
) -> list[NewAuditEvent]:
    """One event per person disclosed, however many fields (aliases) of the request read them."""
    by_person: dict[str, list[Disclosure]] = {}
    for disclosure in disclosures:
        by_person.setdefault(disclosure.iin, []).append(disclosure)
    return [
        NewAuditEvent(
            subject=principal.subject,
            role=principal.role.value,
            patient_iin=iin,
            sections=tuple(sorted({s for d in reads for s in d.sections})),
            request_id=request_id,
            practitioner_id=principal.practitioner_id,
            org_bin=principal.org_bin,
            reason="; ".join(sorted({d.reason for d in reads if d.reason})) or None,
            break_glass=any(d.break_glass for d in reads),
        )
        for iin, reads in by_person.items()
    ]
