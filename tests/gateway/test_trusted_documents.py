"""The trusted documents' manifest (build and load) and which text a request may run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from gateway.config import ConfigError
from gateway.errors import BadUserInput, PersistedQueryNotFound
from gateway.schema.manifest import (
    BuildError,
    Operation,
    build_manifest,
    graphql_files,
    load_manifest,
    render_manifest,
)
from gateway.schema.schema import build_schema
from gateway.schema.trusted import TrustedDocuments

ONE = """# Who I am.
query Me { me { role } }
"""
SEVERAL = """fragment Name on Identity { fullName }

query First($iin: IIN!) { passport(iin: $iin) { identity { ...Name } } }

fragment Unused on Identity { age }

query Second($iin: IIN!) { passport(iin: $iin) { identity { ...Outer } } }

fragment Outer on Identity { ...Name sex }
"""


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_file_of_one_operation_is_one_entry_whose_id_is_the_files_sha256(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "me.graphql", ONE)
    (operation,) = build_manifest([path], build_schema()._schema)
    assert (operation.name, operation.type, operation.body) == ("Me", "query", ONE)
    assert operation.id == sha(ONE)


def test_several_operations_each_take_the_fragments_they_use(tmp_path: Path) -> None:
    path = write(tmp_path, "two.graphql", SEVERAL)
    first, second = build_manifest([path], build_schema()._schema)
    assert first.body == (
        "query First($iin: IIN!) { passport(iin: $iin) { identity { ...Name } } }\n\n"
        "fragment Name on Identity { fullName }\n"
    )
    # Outer spreads Name: both come, in the file's order; Unused never does.
    assert second.body == (
        "query Second($iin: IIN!) { passport(iin: $iin) { identity { ...Outer } } }\n\n"
        "fragment Name on Identity { fullName }\n\n"
        "fragment Outer on Identity { ...Name sex }\n"
    )
    assert [first.id, second.id] == [sha(first.body), sha(second.body)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("query { me { role } }", "needs a name"),
        ("query Broken { me { role }", "Expected Name"),
        ("query Wrong { me { nothing } }", "Cannot query field 'nothing'"),
        ("query A { me { ...Gone } }", "Unknown fragment 'Gone'"),
        ("query A { me { ...Gone } } query B { me { role } }", "fragment Gone is used but not"),
    ],
)
def test_a_bad_source_stops_the_build_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, "bad.graphql", text)
    with pytest.raises(BuildError, match=message) as raised:
        build_manifest([path], build_schema()._schema)
    assert str(path) in str(raised.value)


def test_one_name_for_two_documents_stops_the_build(tmp_path: Path) -> None:
    first = write(tmp_path, "a.graphql", ONE)
    second = write(tmp_path, "b.graphql", "query Me { me { iin } }")
    with pytest.raises(BuildError, match="Me is also defined"):
        build_manifest([first, second])


def test_the_rendering_is_sorted_and_stable(tmp_path: Path) -> None:
    write(tmp_path, "z/me.graphql", ONE)
    write(tmp_path, "a/two.graphql", SEVERAL)
    write(tmp_path, "a/notes.txt", "not a document")
    files = graphql_files([tmp_path])
    assert [path.name for path in files] == ["two.graphql", "me.graphql"]
    text = render_manifest(build_manifest(files))
    assert text == render_manifest(build_manifest(list(reversed(files))))
    data = json.loads(text)
    assert data["format"] == "apollo-persisted-query-manifest" and data["version"] == 1
    assert [entry["name"] for entry in data["operations"]] == ["First", "Me", "Second"]


def test_a_manifest_loads_by_id(tmp_path: Path) -> None:
    path = write(
        tmp_path, "m.json", render_manifest(build_manifest([write(tmp_path, "me.graphql", ONE)]))
    )
    operations = load_manifest(path)
    assert list(operations) == [sha(ONE)]


def test_a_wrong_hash_is_refused_naming_the_entry(tmp_path: Path) -> None:
    entries = build_manifest(
        [write(tmp_path, "two.graphql", SEVERAL), write(tmp_path, "me.graphql", ONE)]
    )
    data = json.loads(render_manifest(entries))
    data["operations"][1]["body"] += "# edited after the build\n"
    path = write(tmp_path, "m.json", json.dumps(data))
    with pytest.raises(
        ConfigError, match=r"operations\[1\] \(Me\): id [0-9a-f]{64} is not the SHA"
    ):
        load_manifest(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ('{"format": "relay"}', "apollo-persisted-query-manifest"),
        ('{"format": "apollo-persisted-query-manifest", "version": 2}', "unsupported version"),
        (
            '{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{}]}',
            r"operations\[0\]: `id` must be",
        ),
    ],
)
def test_a_bad_manifest_is_refused(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_manifest(write(tmp_path, "m.json", content))
    with pytest.raises(ConfigError, match="file not found"):
        load_manifest(tmp_path / "absent.json")


# --- which text a request runs ------------------------------------------------------------

LISTED = "query Me { me { role } }"
OTHER = "query Other { me { iin } }"


def documents(require: bool) -> TrustedDocuments:
    return TrustedDocuments({sha(LISTED): Operation(sha(LISTED), "Me", "query", LISTED)}, require)


def apollo(hex_id: str) -> dict[str, object]:
    return {"persistedQuery": {"version": 1, "sha256Hash": hex_id}}


@pytest.mark.parametrize("require", [True, False])
def test_a_listed_document_is_served_by_either_id(require: bool) -> None:
    trusted = documents(require)
    assert trusted.text(None, f"sha256:{sha(LISTED)}", None) == LISTED
    assert trusted.text(None, None, apollo(sha(LISTED))) == LISTED
    assert trusted.text(None, None, apollo(sha(LISTED).upper())) == LISTED
    assert trusted.text(LISTED, None, None) == LISTED  # its very text is trusted too
    assert trusted.text(LISTED, None, apollo(sha(LISTED))) == LISTED


def test_with_require_nothing_else_runs() -> None:
    trusted = documents(True)
    for query, named, extensions in [
        (OTHER, None, None),
        (None, None, None),
        (None, f"sha256:{sha(OTHER)}", None),
        (None, None, apollo(sha(OTHER))),
        (OTHER, None, apollo(sha(OTHER))),  # a matching pair, but not listed
        (None, f"md5:{sha(LISTED)[:32]}", None),
        (None, "sha256:not-hex", None),
    ]:
        with pytest.raises(PersistedQueryNotFound):
            trusted.text(query, named, extensions)


def test_without_require_free_text_runs_but_unknown_ids_do_not() -> None:
    trusted = documents(False)
    assert trusted.text(OTHER, None, None) == OTHER
    assert trusted.text(OTHER, None, apollo(sha(OTHER))) == OTHER
    with pytest.raises(PersistedQueryNotFound):
        trusted.text(None, f"sha256:{sha(OTHER)}", None)


@pytest.mark.parametrize("require", [True, False])
def test_a_text_and_a_hash_that_disagree_are_bad_input(require: bool) -> None:
    trusted = documents(require)
    with pytest.raises(BadUserInput, match="does not match"):
        trusted.text(OTHER, None, apollo(sha(LISTED)))
    with pytest.raises(BadUserInput, match="different documents"):
        trusted.text(None, f"sha256:{sha(LISTED)}", apollo(sha(OTHER)))
    with pytest.raises(BadUserInput, match="version"):
        trusted.text(None, None, {"persistedQuery": {"version": 2, "sha256Hash": sha(LISTED)}})
