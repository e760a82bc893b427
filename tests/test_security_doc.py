"""docs/security.md names the tests that hold each defence: every one it names must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "security.md"
# `tests/x.py::test_name`, `test_x.py::test_name` (a file named before in the row) or
# `::test_name` (the file named last before it).
REFERENCE = re.compile(r"`((?:tests/)?[\w/]*test_\w+\.py)?(?:::(\w+))?")


def references() -> list[tuple[str, str | None, str]]:
    """(file, test or None, the row) for every test file and test the document names."""
    found = []
    for row in DOCUMENT.read_text(encoding="utf-8").splitlines():
        if not row.startswith("|"):
            continue
        last: str | None = None
        for match in REFERENCE.finditer(row):
            path, name = match.groups()
            if path is None and name is None:
                continue
            if path is not None:
                last = path if path.startswith("tests/") else _find(path, last)
            assert last is not None, f"a test named before any file: {row}"
            found.append((last, name, row[:60]))
    return found


def _find(name: str, last: str | None) -> str:
    """A file named by its name alone: beside the last file of the row, else the one of tests/."""
    if last is not None and (ROOT / Path(last).parent / name).is_file():
        return str(Path(last).parent / name)
    matches = list(ROOT.joinpath("tests").rglob(Path(name).name))
    assert len(matches) == 1, f"{name}: {len(matches)} files of that name"
    return str(matches[0].relative_to(ROOT))


def test_every_file_and_test_the_security_page_names_exists() -> None:
    named = references()
    assert len(named) > 60  # the page lists dozens of defences
    missing = []
    for path, name, row in named:
        file = ROOT / path
        if not file.is_file():
            missing.append(f"{path} ({row})")
        elif name is not None and not re.search(
            rf"^(async )?def {name}\b", file.read_text(encoding="utf-8"), re.M
        ):
            missing.append(f"{path}::{name} ({row})")
    assert missing == []
