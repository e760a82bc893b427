"""docs/contracts/ is the repository's copy of the shared contracts and must not fall behind.

Where the shared folder sits beside the repository (`../shared/contracts/`, or the folder
named by EHP_SHARED_CONTRACTS), the copy must be byte-identical to it; a fresh clone alone
still checks that no contract is missing from the copy.
"""

from __future__ import annotations

import os
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
COPY = REPOSITORY / "docs" / "contracts"
SHARED = Path(os.environ.get("EHP_SHARED_CONTRACTS") or REPOSITORY.parent / "shared" / "contracts")
# The contracts the gateway and the emulators are written against (README "contracts").
CONTRACTS = frozenset(
    {"ACCESS.md", "CONFIG.md", "SOURCES.md", "passport.graphql", "passport-2026-12.graphql"}
)


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}


def test_docs_contracts_is_a_current_copy_of_the_shared_contracts() -> None:
    copy = _files(COPY)
    missing = sorted(CONTRACTS - copy.keys())
    assert missing == [], f"docs/contracts/ lacks {missing}"
    assert all(copy[name].strip() for name in CONTRACTS), "an empty contract in docs/contracts/"
    if SHARED.is_dir():
        shared = _files(SHARED)
        fix = f"refresh the copy: cp {SHARED}/* {COPY}/"
        assert sorted(copy) == sorted(shared), (
            f"docs/contracts/ and {SHARED} list other files; {fix}"
        )
        stale = sorted(name for name in shared if copy[name] != shared[name])
        assert stale == [], f"docs/contracts/ differs from {SHARED} in {stale}; {fix}"
