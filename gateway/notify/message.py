"""What a notification says: who read which sections of the patient's record, when and why.

The body (JSON, UTF-8) carries no clinical data and nothing the patient does not need:

```json
{"type": "ehp.access.notification",
 "timestamp": "2026-12-03T10:15:02.123456+05:00",
 "data": {"id": "<audit event id>",
          "patient": {"iin": "<the patient's IIN: the notifier's address>"},
          "at": "2026-12-03T10:15:02.123456+05:00",
          "basis": "EMERGENCY | BREAK_GLASS",
          "outcome": "DISCLOSED | REFUSED",
          "reader": {"role": "EMERGENCY | NURSE | DOCTOR",
                     "organization": "<the register's name, or null>",
                     "practitioner": "<the register's name, or null>"},
          "sections": ["IDENTITY", "ALLERGIES", ...],
          "reason": "<the reason the reader gave>"}}
```
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.audit import AuditEvent
from gateway.clock import local_time

TYPE = "ehp.access.notification"


def notification(
    event: AuditEvent, iin: str, organization: str | None, practitioner: str | None
) -> dict[str, Any]:
    """The notification of one audit event, for the patient with ``iin``."""
    at = local_time(event.at).isoformat(timespec="microseconds")
    return {
        "type": TYPE,
        "timestamp": at,
        "data": {
            "id": event.event_id,
            "patient": {"iin": iin},
            "at": at,
            "basis": event.basis,
            "outcome": event.outcome,
            "reader": {
                "role": event.role,
                "organization": organization,
                "practitioner": practitioner,
            },
            "sections": list(event.sections),
            "reason": event.reason,
        },
    }


def encode(body: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed)."""
    return orjson.dumps(body)
