"""The served schema keeps every promise of docs/contracts/passport.graphql."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema as build_sdl_schema
from graphql import find_breaking_changes

from gateway.schema.schema import SDL_PATH, build_schema, served_sdl

# The repository's copy of the contract (tests/test_contracts.py keeps it current).
CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contracts" / "passport.graphql"


def test_served_schema_has_no_breaking_change_against_the_contract() -> None:
    contract = build_sdl_schema(CONTRACT.read_text(encoding="utf-8"))
    served = build_schema()._schema
    changes = find_breaking_changes(contract, served)
    assert changes == [], "\n".join(f"{c.type.name}: {c.description}" for c in changes)


def test_schema_graphql_is_current() -> None:
    # Regenerate with: .venv/bin/python -m gateway.schema.schema
    assert SDL_PATH.read_text(encoding="utf-8") == served_sdl()


def test_sections_document_who_may_read_them() -> None:
    sdl = served_sdl()
    assert "directive @access(roles: [Role!]!" in sdl
    # Read from the policy table: lab results are for the patient and doctors only.
    assert '@access(roles: [PATIENT, DOCTOR], section: "LAB_RESULTS")' in sdl
    assert "stats: Stats @access(roles: [MANAGER]" in sdl
