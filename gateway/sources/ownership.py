"""Whether a source's records are about the person asked: anyone else's are dropped, counted
and logged without a word that identifies anyone (``wrong_patient`` in the passport's sources).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from gateway.records import Screened

WRONG_PATIENT = "wrong_patient"

log = logging.getLogger(__name__)


def screened(source: str, value: Any, dropped: int, what: str) -> Screened:
    """``value`` with the number of records dropped as another person's (``what`` they were)."""
    if dropped:
        # Counts only: no IIN, no record ids (the person asked is in the request's audit event).
        log.warning("%s answered %d %s about another person; dropped", source, dropped, what)
    return Screened(value, dropped)


def own_items(items: Sequence[dict[str, Any]], iin: str) -> tuple[list[dict[str, Any]], int]:
    """The items whose ``iin``, where the source gives one, is ``iin``; and how many were not."""
    own = [item for item in items if item.get("iin") is None or item.get("iin") == iin]
    return own, len(items) - len(own)
