"""Section narratives: the XHTML ``text`` a person reads, made of tables and notes.

Every value is escaped: displays and reasons come from source systems and must not become
markup in a reader's browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

XHTML = "http://www.w3.org/1999/xhtml"


@dataclass
class Table:
    """One table of a narrative: an optional caption, headings and rows of plain text."""

    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str | None = None


Block = Table | str  # a table, or a paragraph of plain text


def narrative(blocks: list[Block], language: str) -> dict[str, str]:
    """A generated FHIR Narrative of ``blocks``."""
    body = "".join(
        _table(block) if isinstance(block, Table) else _paragraph(block) for block in blocks
    )
    lang = escape(language)
    return {
        "status": "generated",
        "div": f'<div xmlns="{XHTML}" lang="{lang}" xml:lang="{lang}">{body}</div>',
    }


def _paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def _table(table: Table) -> str:
    caption = f"<caption>{escape(table.caption)}</caption>" if table.caption else ""
    head = "".join(f"<th>{escape(header)}</th>" for header in table.headers)
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in table.rows
    )
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
