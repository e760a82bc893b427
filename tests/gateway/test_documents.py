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
