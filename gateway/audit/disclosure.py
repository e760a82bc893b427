"""What a request's attempts to read people's records showed, and the audit events that record
them: one per person and basis per request, for every attempt ACCESS.md has audited."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from gateway.audit.events import NewAuditEvent, Outcome
from gateway.auth.policy import Basis
from gateway.auth.principal import Principal

# When one request makes several attempts on one person on one basis, the event says the
# most telling outcome: something was shown, else the IIN was unknown, else refused.
_OUTCOME_RANK = (Outcome.DISCLOSED, Outcome.NOT_FOUND, Outcome.REFUSED)


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One attempt on one person's record: how it ended, on what basis, and what it showed
    (sections, possibly none; whether the patient's restrictions were shown)."""

    iin: str
    sections: frozenset[str]
    reason: str | None = None
    break_glass: bool = False
    outcome: Outcome = Outcome.DISCLOSED
    basis: Basis = Basis.OWN
    restrictions_shown: bool = False


class Discloses(Protocol):
    """Anything that tried to read a person's record during a request."""

    def disclosure(self) -> Disclosure | None:
        """What it disclosed; None when it is not audited (the patient's own empty read)."""
        ...


@dataclass(frozen=True, slots=True)
class Refusal:
    """An attempt refused before anything was read: nothing shown, and still audited."""

    iin: str
    basis: Basis
    reason: str | None = None

    def disclosure(self) -> Disclosure:
        """A refused attempt (break-glass ones keep their flag)."""
        return Disclosure(
            iin=self.iin,
            sections=frozenset(),
            reason=self.reason,
            break_glass=self.basis is Basis.BREAK_GLASS,
            outcome=Outcome.REFUSED,
            basis=self.basis,
        )


def disclosure_events(
    principal: Principal, request_id: str, disclosures: Iterable[Disclosure]
) -> list[NewAuditEvent]:
    """One event per person and basis, however many fields (aliases) of the request tried."""
    groups: dict[tuple[str, Basis], list[Disclosure]] = {}
    for disclosure in disclosures:
        groups.setdefault((disclosure.iin, disclosure.basis), []).append(disclosure)
    return [
        NewAuditEvent(
            subject=principal.subject,
            role=principal.role.value,
            patient_iin=iin,
            sections=tuple(sorted({s for d in attempts for s in d.sections})),
            request_id=request_id,
            practitioner_id=principal.practitioner_id,
            org_bin=principal.org_bin,
            reason="; ".join(sorted({d.reason for d in attempts if d.reason})) or None,
            break_glass=any(d.break_glass for d in attempts),
            outcome=min((d.outcome for d in attempts), key=_OUTCOME_RANK.index),
            basis=basis,
            restrictions_shown=any(d.restrictions_shown for d in attempts),
        )
        for (iin, basis), attempts in groups.items()
    ]
