"""References shaped with the register's names (gateway/resolvers/names.py)."""

from __future__ import annotations

from gateway import records as rec
from gateway.resolvers.names import Names, references

POLYCLINIC = rec.OrgRef("160140094944", "Городская поликлиника №21, г. Астана", "astana", "org-1")
DOCTOR = rec.PractitionerRef("P0100007", "Исаева Сауле Жаксылыковна", "pr-1")
DIRECTORY = rec.Directory(
    organizations={POLYCLINIC.bin: POLYCLINIC},
    organizations_by_fhir_id={"org-1": POLYCLINIC},
    practitioners={DOCTOR.id: DOCTOR},
    practitioners_by_fhir_id={"pr-1": DOCTOR},
)


def test_the_register_names_a_reference_the_source_left_unnamed() -> None:
    names = Names(DIRECTORY)
    shaped = names.organization(rec.OrgRef("160140094944"))
    assert (shaped.bin, shaped.name, shaped.region) == (
        "160140094944",
        POLYCLINIC.name,
        "astana",
    )
    assert names.practitioner(rec.PractitionerRef("P0100007")).name == DOCTOR.name


def test_the_registers_name_wins_over_a_sources_display() -> None:
    shaped = Names(DIRECTORY).organization(rec.OrgRef("160140094944", "Polyclinic 21"))
    assert shaped.name == POLYCLINIC.name


def test_a_literal_reference_gets_the_registers_identifier() -> None:
    names = Names(DIRECTORY)
    assert names.organization(rec.OrgRef(None, fhir_id="org-1")).bin == POLYCLINIC.bin
    assert names.practitioner(rec.PractitionerRef(None, fhir_id="pr-1")).id == DOCTOR.id


def test_what_the_register_does_not_know_keeps_the_sources_display_or_is_left_out() -> None:
    names = Names(DIRECTORY)
    pharmacy = names.organization(rec.OrgRef("120741444488", "Аптека №15", "almaty"))
    assert (pharmacy.name, pharmacy.region) == ("Аптека №15", "almaty")
    assert names.organization(rec.OrgRef(None, fhir_id="org-9")) is None  # no BIN to show
    assert names.organization(None) is None


def test_references_are_collected_from_every_kind_of_record() -> None:
    provenance = rec.Provenance("ehr-astana", "astana", rec.OrgRef("1"), rec.PractitionerRef("2"))
    allergy = rec.Allergy(None, None, None, None, (), None, provenance)
    order = rec.LabOrder("L-1", "DONE", None, rec.OrgRef("3"), rec.PractitionerRef("4"))
    history = rec.LabHistory("lis", "900101300007", orders=(order,))
    organizations, practitioners = references([[allergy], history, None])
    assert {o.bin for o in organizations} == {"1", "3"}
    assert {p.id for p in practitioners} == {"2", "4"}
