"""The trusted documents' manifest: the frontends' operations by SHA-256, in Apollo's format.

```json
{"format": "apollo-persisted-query-manifest", "version": 1,
 "operations": [{"id": "<sha256 hex of body>", "name": "NursingView", "type": "query",
                 "body": "<the document text>"}]}
```

``build_manifest`` makes it from ``.graphql`` files, one entry per operation: a file holding
one operation is one entry whose body is the whole file, as written (so its id is the file's
``sha256sum``, and a frontend sending the file's text is sending a trusted document); in a file
holding several, each operation's body is its own text followed by the fragments it uses, as
written, separated by blank lines. Entries are sorted by name: the same files give the same
bytes. ``load_manifest`` reads one at start-up and refuses an entry whose id is not the
SHA-256 of its body, naming it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    Visitor,
    parse,
    validate,
    visit,
)

from gateway.config import ConfigError

FORMAT = "apollo-persisted-query-manifest"
VERSION = 1
OPERATION_TYPES = ("query", "mutation", "subscription")


class BuildError(ValueError):
    """A ``.graphql`` source cannot become a manifest entry; the message names the file."""


@dataclass(frozen=True)
class Operation:
    """One trusted document: its id (SHA-256 hex of ``body``), operation name and type."""

    id: str
    name: str
    type: str
    body: str


def document_id(body: str) -> str:
    """The id of a document text: the SHA-256 of its UTF-8 bytes, in lower-case hex."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def load_manifest(path: Path) -> dict[str, Operation]:
    """The operations of the manifest at ``path`` by id; ConfigError naming the bad entry."""
    where = f"documents.path ({path})"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{where}: cannot read: {error}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{where}: not JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f'{where}: expected {{"format": "{FORMAT}", ...}}')
    if data.get("version") != VERSION:
        raise ConfigError(f"{where}: unsupported version {data.get('version')!r}")
    entries = data.get("operations")
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: `operations` must be a list")
    operations: dict[str, Operation] = {}
    for index, entry in enumerate(entries):
        operation = _entry(entry, f"{where}: operations[{index}]")
        operations[operation.id] = operation
    return operations


def _entry(entry: object, where: str) -> Operation:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected an object")
    fields = {}
    for name in ("id", "name", "type", "body"):
        value = entry.get(name)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: `{name}` must be a non-empty string")
        fields[name] = value
    where = f"{where} ({fields['name']})"
    if fields["type"] not in OPERATION_TYPES:
        raise ConfigError(f"{where}: unknown operation type {fields['type']!r}")
    actual = document_id(fields["body"])
    if fields["id"] != actual:
        raise ConfigError(
            f"{where}: id {fields['id']} is not the SHA-256 of its body ({actual}); "
            "rebuild it with `python -m gateway documents build`"
        )
    try:
        parse(fields["body"])
    except GraphQLError as error:
        raise ConfigError(f"{where}: body does not parse: {error.message}") from None
    return Operation(**fields)


def graphql_files(sources: Iterable[Path]) -> list[Path]:
    """The ``.graphql`` files named or found (recursively) under ``sources``, sorted."""
    found: set[Path] = set()
    for source in sources:
        if source.is_dir():
            found.update(path for path in source.rglob("*.graphql") if path.is_file())
        elif source.is_file():
            found.add(source)
        else:
            raise BuildError(f"{source}: no such file or folder")
    return sorted(found)


def build_manifest(files: Sequence[Path], schema: GraphQLSchema | None = None) -> list[Operation]:
    """One entry per operation of ``files``, each checked against ``schema`` when given."""
    by_name: dict[str, tuple[Operation, Path]] = {}
    for path in files:
        for operation in file_operations(path):
            if schema is not None:
                _check_valid(operation, schema, path)
            known = by_name.get(operation.name)
            if known is not None and known[0].id != operation.id:
                raise BuildError(
                    f"{path}: operation {operation.name} is also defined, differently, "
                    f"in {known[1]}"
                )
            by_name[operation.name] = (operation, path)
    return [by_name[name][0] for name in sorted(by_name)]


def file_operations(path: Path) -> list[Operation]:
    """The operations of one ``.graphql`` file (see the module's docstring for the bodies)."""
    text = path.read_text(encoding="utf-8")
    try:
        document = parse(text)
    except GraphQLError as error:
        raise BuildError(f"{path}: {error.message}") from None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        if operation.name is None:
            raise BuildError(f"{path}: every operation needs a name (the manifest lists them)")
    if len(operations) == 1:
        only = operations[0]
        return [Operation(document_id(text), _name(only), only.operation.value, text)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    found = []
    for operation in operations:
        used = {id(fragment) for fragment in _used_fragments(operation, fragments, path)}
        parts = [operation, *(d for d in document.definitions if id(d) in used)]
        body = "\n\n".join(_source_text(text, part) for part in parts) + "\n"
        kind = operation.operation.value
        found.append(Operation(document_id(body), _name(operation), kind, body))
    return found


def render_manifest(operations: Sequence[Operation]) -> str:
    """The manifest's JSON text: stable key order, indented, ending with a line break."""
    data = {
        "format": FORMAT,
        "version": VERSION,
        "operations": [
            {"id": op.id, "name": op.name, "type": op.type, "body": op.body} for op in operations
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _name(operation: OperationDefinitionNode) -> str:
    assert operation.name is not None  # checked by file_operations
    return operation.name.value


def _source_text(text: str, node: OperationDefinitionNode | FragmentDefinitionNode) -> str:
    assert node.loc is not None  # parse() keeps locations
    return text[node.loc.start : node.loc.end]


def _used_fragments(
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    path: Path,
) -> list[FragmentDefinitionNode]:
    """The fragments ``operation`` spreads, directly or through other fragments."""
    used: dict[str, FragmentDefinitionNode] = {}
    pending: list[OperationDefinitionNode | FragmentDefinitionNode] = [operation]
    while pending:
        for name in _spread_names(pending.pop()):
            if name in used:
                continue
            if name not in fragments:
                raise BuildError(f"{path}: fragment {name} is used but not defined in this file")
            used[name] = fragments[name]
            pending.append(fragments[name])
    return list(used.values())


def _spread_names(node: OperationDefinitionNode | FragmentDefinitionNode) -> list[str]:
    names: list[str] = []

    class Spreads(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_: object) -> None:
            names.append(spread.name.value)

    visit(node, Spreads())
    return names


def _check_valid(operation: Operation, schema: GraphQLSchema, path: Path) -> None:
    document: DocumentNode = parse(operation.body)
    errors = validate(schema, document)
    if errors:
        raise BuildError(f"{path}: {operation.name}: {errors[0].message}")
