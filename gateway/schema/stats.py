"""Placeholder until the stats helper lands its module (it replaces this file whole)."""

from __future__ import annotations

import strawberry

from gateway.errors import Forbidden


@strawberry.type
class Stats:
    """Aggregates for health managers (being built)."""

    pending: bool | None = None


def open_stats(context: object) -> Stats | None:
    """Refuse until built."""
    raise Forbidden("stats are not available yet")
