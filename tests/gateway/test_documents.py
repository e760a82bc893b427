"""Documents parsed once per text and validated once per document, limits unchanged."""

from __future__ import annotations

import strawberry
from graphql import parse

from gateway.config import ServerSettings
from gateway.schema.documents import DocumentStore
from gateway.schema.schema import build_schema


def _schema(server: ServerSettings | None = None) -> strawberry.Schema:
    return build_schema(server)


def _codes(result: strawberry.types.ExecutionResult) -> list[str]:
    return [e.message for e in result.errors or []]


def test_the_same_text_is_parsed_once_and_validated_once() -> None:
    store = DocumentStore(max_documents=8)
    text = "{ hello }"
    document = parse(text)
    store.remember_parsed(text, document)
    store.remember_validation(document, [])
    assert store.parsed(text) is document
    assert store.validation(document) == ()
    # An equal document that is another object was not validated: identity, not equality.
    assert store.validation(parse(text)) is None


def test_the_store_is_bounded_and_evicts_the_least_recently_used() -> None:
    store = DocumentStore(max_documents=2)
    documents = {text: parse(text) for text in ("{ a }", "{ b }", "{ c }")}
    store.remember_parsed("{ a }", documents["{ a }"])
    store.remember_parsed("{ b }", documents["{ b }"])
    assert store.parsed("{ a }") is documents["{ a }"]  # a is now the most recently used
    store.remember_parsed("{ c }", documents["{ c }"])
    assert store.parsed("{ b }") is None
    assert store.parsed("{ a }") is documents["{ a }"]
    assert store.parsed("{ c }") is documents["{ c }"]


def test_an_invalid_document_gives_the_same_errors_every_time() -> None:
    schema = _schema()
    query = "{ me { nosuchfield } }"
    first = schema.execute_sync(query)
    second = schema.execute_sync(query)
    assert _codes(first) and _codes(first) == _codes(second)
    assert "nosuchfield" in _codes(first)[0]


def test_a_text_that_does_not_parse_is_a_syntax_error_every_time() -> None:
    schema = _schema()
    for _ in range(2):
        result = schema.execute_sync("{ me { ")
        assert result.errors is not None
        assert "Syntax Error" in result.errors[0].message


def test_the_token_limit_still_applies_to_a_new_text() -> None:
    schema = _schema(ServerSettings(max_tokens=20))
    long_query = "{ " + " ".join(f"a{i}: __typename" for i in range(20)) + " }"
    result = schema.execute_sync(long_query)
    assert result.errors is not None
    assert "token" in result.errors[0].message.lower()


def test_introspection_is_refused_on_every_request_when_off() -> None:
    schema = _schema(ServerSettings(introspection=False))
    for _ in range(2):
        result = schema.execute_sync("{ __schema { queryType { name } } }")
        assert result.errors is not None
        assert "introspection" in result.errors[0].message.lower()
    allowed = _schema(ServerSettings(introspection=True)).execute_sync(
        "{ __schema { queryType { name } } }"
    )
    assert allowed.errors is None
    assert allowed.data == {"__schema": {"queryType": {"name": "Query"}}}


# A misspelt field, type, argument and enum value (in the query and in a variable): each
# with its name in the schema, which graphql-core suggests ("Did you mean ...?").
MISSPELT = [
    ("{ me { rol } }", None, "role"),
    ("query($i: IIn!) { me { role } }", None, "IIN"),
    ('query { passport(iin: "x", breakGlassReasn: "y") { iin } }', None, "breakGlassReason"),
    ("mutation { restrictSection(section: LAB_RESULT, restricted: true) }", None, "LAB_RESULTS"),
    (
        "mutation($s: Section!) { restrictSection(section: $s, restricted: true) }",
        {"s": "LAB_RESULT"},
        "LAB_RESULTS",
    ),
]


def test_without_introspection_errors_suggest_no_names() -> None:
    quiet = _schema(ServerSettings(introspection=False))
    talkative = _schema(ServerSettings(introspection=True))
    for query, variables, name in MISSPELT:
        shown = " ".join(_codes(talkative.execute_sync(query, variable_values=variables)))
        assert "Did you mean" in shown and f"'{name}'" in shown, query  # what is hidden
        hidden = " ".join(_codes(quiet.execute_sync(query, variable_values=variables)))
        assert hidden, query
        assert "Did you mean" not in hidden and f"'{name}'" not in hidden, hidden


def test_a_document_over_a_limit_is_refused_with_its_code_before_the_other_rules() -> None:
    schema = _schema()
    # Over max_fields, and also invalid (no such field): only the limit is reported.
    query = "{ " + "me { role nosuchfield } " * 200 + "}"
    for _ in range(2):  # and the same from the validation cache
        result = schema.execute_sync(query)
        assert result.errors is not None and len(result.errors) == 1
        assert result.errors[0].extensions == {"code": "QUERY_TOO_COMPLEX"}
        assert "600 fields" in result.errors[0].message
