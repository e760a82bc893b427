"""The scenarios of issue 8 (S1 .. S5), each measuring one thing on a running bench stack."""
