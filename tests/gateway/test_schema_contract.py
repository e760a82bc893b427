"""The served schema keeps every promise of docs/contracts/passport.graphql, and of the
additions of passport-2026-12.graphql whose work has landed."""

from __future__ import annotations

from pathlib import Path

from graphql import DocumentNode, build_ast_schema, find_breaking_changes, parse

from gateway.schema.schema import SDL_PATH, build_schema, served_sdl

# The repository's copy of the contracts (tests/test_contracts.py keeps it current).
CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "contracts"
# Definitions of the 2026-12 additions that are part of the contract now: emergency contacts
# and completeness (clinical truth), the access event's basis (every attempt audited), and
# `dependants` (guardians): all of them.
LANDED = {"EmergencyData", "EmergencyContact", "AccessEvent", "AccessBasis", "Query"}


def _landed_additions() -> list:
    document = parse((CONTRACTS / "passport-2026-12.graphql").read_text(encoding="utf-8"))
    return [d for d in document.definitions if d.name.value in LANDED]


def test_served_schema_has_no_breaking_change_against_the_contract() -> None:
    base = parse((CONTRACTS / "passport.graphql").read_text(encoding="utf-8"))
    contract = build_ast_schema(DocumentNode(definitions=(*base.definitions, *_landed_additions())))
    served = build_schema()._schema
    changes = find_breaking_changes(contract, served)
    assert changes == [], "\n".join(f"{c.type.name}: {c.description}" for c in changes)


def test_the_landed_additions_are_served() -> None:
    served = build_schema()._schema
    emergency = served.type_map["EmergencyData"]
    assert {"contacts", "complete"} <= set(emergency.fields)  # type: ignore[attr-defined]
    assert "EmergencyContact" in served.type_map
    basis = served.type_map["AccessEvent"].fields["basis"]  # type: ignore[attr-defined]
    assert basis.type.of_type.name == "AccessBasis"
    dependants = served.query_type.fields["dependants"]
    assert str(dependants.type) == "[Identity!]!"
    # Not expressible as an extension: restrictSection's optional iin (a guardian's change).
    restrict = served.mutation_type.fields["restrictSection"]  # type: ignore[union-attr]
    assert str(restrict.args["iin"].type) == "IIN"
    assert len(_landed_additions()) == len(LANDED)


def test_schema_graphql_is_current() -> None:
    # Regenerate with: .venv/bin/python -m gateway.schema.schema
    assert SDL_PATH.read_text(encoding="utf-8") == served_sdl()


def test_sections_document_who_may_read_them() -> None:
    sdl = served_sdl()
    assert "directive @access(roles: [Role!]!" in sdl
    # Read from the policy table: lab results are for the patient and doctors only.
    assert '@access(roles: [PATIENT, DOCTOR], section: "LAB_RESULTS")' in sdl
    assert "stats: Stats @access(roles: [MANAGER]" in sdl
