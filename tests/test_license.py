"""The LICENSE file is the licence pyproject.toml declares (Apache-2.0), in full."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def test_license_file_is_the_declared_licence_in_full() -> None:
    declared = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    text = " ".join((REPOSITORY / "LICENSE").read_text(encoding="utf-8").split())
    assert text.startswith("Apache License Version 2.0, January 2004")
    # The whole text, not a notice: its nine sections and the appendix.
    assert "9. Accepting Warranty or Additional Liability." in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "APPENDIX: How to apply the Apache License to your work." in text
