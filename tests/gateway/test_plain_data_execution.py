"""Completing plain-data subtrees by plan gives exactly graphql-core's answer, errors included.

The same schema is executed with strawberry's execution context and with ours, over data
that is mostly well-formed and sometimes not (nulls in non-null fields, values a scalar
refuses, exceptions as values), for queries with aliases, fragments, ``__typename``,
directives and a field with a resolver. Data and errors (message and path) must be equal.
"""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Any

import pytest
import strawberry
from graphql import parse
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.schema.documents import CachedDocuments, DocumentStore
from gateway.schema.execution import PlainDataExecutionContext, _SharedPlans


@strawberry.enum
class Colour(Enum):
    """A leaf of enum type."""

    RED = "red"
    BLUE = "blue"


@strawberry.type
class Tag:
    """A nested object."""

    code: str
    label: str | None


@strawberry.type
class Item:
    """An object of every kind of plain field, and one field with a resolver."""

    name: str
    count: int | None
    ratio: float
    colour: Colour | None
    born: date | None
    tag: Tag | None
    main_tag: Tag
    tags: list[Tag]
    maybe_tags: list[Tag | None] | None
    words: list[str]
    maybe_words: list[str | None] | None

    @strawberry.field
    def shout(self) -> str:
        """Not plain data: graphql-core's general path completes it."""
        return self.name.upper()


@strawberry.type
class Query:
    """Items as stored attributes of the root value."""

    items: list[Item]
    first: Item | None


def _schema(plain: bool) -> strawberry.Schema:
    extra = {"execution_context_class": PlainDataExecutionContext} if plain else {}
    return strawberry.Schema(query=Query, **extra)


GENERAL = _schema(plain=False)
PLAIN = _schema(plain=True)

QUERIES = [
    "{ items { name count ratio colour born words maybeWords } }",
    "{ items { __typename n: name mainTag { code label } tag { code } tags { code label } } }",
    "{ first { name maybeTags { __typename code label } tags { code } } items { shout name } }",
    "fragment T on Tag { code label } fragment I on Item { name tag { ...T } tags { ...T } }"
    " { items { ...I ... on Item { ratio mainTag { ...T } } } first { ...I } }",
    "query ($on: Boolean!) { items { name count @include(if: $on) tag @skip(if: $on) { code } }"
    " first { ... @include(if: $on) { colour born } words } }",
]


def _odd(good: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly good values, sometimes a null, a value of the wrong type, or an exception."""
    bad = st.sampled_from([None, "not a number", ValueError("boom"), object()])
    return st.one_of(good, good, good, good, bad)


tags = st.builds(
    Tag, code=_odd(st.text(max_size=3)), label=st.one_of(st.none(), st.text(max_size=3))
)
items = st.builds(
    Item,
    name=_odd(st.text(max_size=4)),
    count=_odd(st.one_of(st.none(), st.integers(-5, 5))),
    ratio=_odd(st.floats(allow_nan=False, allow_infinity=False)),
    colour=_odd(st.one_of(st.none(), st.sampled_from(Colour))),
    born=_odd(st.one_of(st.none(), st.dates())),
    tag=st.one_of(st.none(), tags),
    main_tag=st.one_of(tags, st.none()),
    tags=st.lists(tags, max_size=3),
    maybe_tags=st.one_of(st.none(), st.lists(st.one_of(st.none(), tags), max_size=3)),
    words=_odd(st.lists(_odd(st.text(max_size=2)), max_size=3)),
    maybe_words=st.one_of(st.none(), st.lists(st.one_of(st.none(), st.text(max_size=2)))),
)
roots = st.builds(Query, items=st.lists(items, max_size=3), first=st.one_of(st.none(), items))


def _plain_item() -> Item:
    """A well-formed item with a nested tag and lists."""
    tag = Tag(code="A", label="a")
    return Item(
        name="n",
        count=1,
        ratio=1.0,
        colour=None,
        born=None,
        tag=tag,
        main_tag=tag,
        tags=[tag],
        maybe_tags=None,
        words=["w"],
        maybe_words=None,
    )


def _outcome(schema: strawberry.Schema, query: str, root: Query, on: bool) -> tuple[Any, list]:
    result = schema.execute_sync(query, root_value=root, variable_values={"on": on})
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or [])
    return result.data, errors


@pytest.mark.parametrize("query", QUERIES)
@given(root=roots, on=st.booleans())
@settings(max_examples=150, deadline=None)
def test_plain_completion_answers_as_graphql_core_does(query: str, root: Query, on: bool) -> None:
    assert _outcome(PLAIN, query, root, on) == _outcome(GENERAL, query, root, on)


def test_well_formed_data_is_completed_by_plan_and_answers_the_same() -> None:
    tag = Tag(code="A1", label=None)
    item = Item(
        name="Әлия",
        count=3,
        ratio=0.5,
        colour=Colour.BLUE,
        born=date(2001, 2, 3),
        tag=tag,
        main_tag=tag,
        tags=[tag, Tag(code="B", label="b")],
        maybe_tags=[None, tag],
        words=["a", "b"],
        maybe_words=[None, "c"],
    )
    root = Query(items=[item, item], first=item)
    for query in QUERIES:
        data, errors = _outcome(PLAIN, query, root, True)
        assert errors == []
        assert (data, errors) == _outcome(GENERAL, query, root, True)
    data, _ = _outcome(PLAIN, QUERIES[0], root, True)
    assert data["items"][0] == {
        "name": "Әлия",
        "count": 3,
        "ratio": 0.5,
        "colour": "BLUE",
        "born": "2001-02-03",
        "words": ["a", "b"],
        "maybeWords": [None, "c"],
    }


def test_only_fields_with_resolvers_go_through_graphql_cores_field_execution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    executed: list[str] = []
    general = PlainDataExecutionContext.execute_field

    def spy(self: Any, parent_type: Any, source: Any, fields: Any, *rest: Any) -> Any:
        executed.append(fields[0].node.name.value)
        return general(self, parent_type, source, fields, *rest)

    monkeypatch.setattr(PlainDataExecutionContext, "execute_field", spy)
    item = _plain_item()
    result = PLAIN.execute_sync(QUERIES[2], root_value=Query(items=[item, item], first=item))
    assert result.errors is None
    # `first` selects only stored attributes: completed by plan. Each of `items` selects
    # `shout`, which has a resolver, so its selection goes field by field.
    assert sorted(executed) == ["first", "items", "name", "name", "shout", "shout"]


def test_plans_of_a_known_document_are_built_once_across_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = DocumentStore(max_documents=4)
    schema = strawberry.Schema(
        query=Query,
        execution_context_class=PlainDataExecutionContext,
        extensions=[lambda: CachedDocuments(store, 2000, [])],
    )
    builds: list[str] = []
    build = PlainDataExecutionContext._build

    def spy(self: Any, object_type: Any, group: Any) -> Any:
        builds.append(object_type.name)
        return build(self, object_type, group)

    monkeypatch.setattr(PlainDataExecutionContext, "_build", spy)
    item = _plain_item()
    root = Query(items=[item], first=item)
    first = schema.execute_sync(QUERIES[1], root_value=root)
    built_once = list(builds)
    second = schema.execute_sync(QUERIES[1], root_value=root)
    assert first.errors is None and second.data == first.data
    assert built_once and builds == built_once  # the second request built nothing
    # With a directive the plans depend on the variables: built again for each request.
    builds.clear()
    schema.execute_sync(QUERIES[4], root_value=root, variable_values={"on": True})
    per_request = len(builds)
    schema.execute_sync(QUERIES[4], root_value=root, variable_values={"on": True})
    assert per_request and len(builds) == 2 * per_request


def test_shared_plan_tables_are_bounded_by_operations() -> None:
    shared = _SharedPlans(max_operations=2)
    operations = [parse(f"{{ f{i} }}").definitions[0] for i in range(5)]
    tables = [shared.table(operation, {}) for operation in operations]
    assert all(table == {} for table in tables)
    assert len(shared._tables) == 2
    assert shared.table(operations[-1], {}) is tables[-1]  # still known: the same table
    assert shared.table(operations[0], {}) is not tables[0]  # dropped: a new one
