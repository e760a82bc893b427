"""The FHIR face: the passport as an HL7 International Patient Summary document Bundle."""
