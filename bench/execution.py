"""The GraphQL layer's own cost per request, in process, before and after our changes.

``python -m bench.execution [--rounds 7] [--requests 2000]`` measures, with no HTTP and no
source, the CPU time of:

- **documents**: parsing, validation and limits of the full passport query (its fields
  skipped, so nothing resolves), with strawberry's stock extensions (``ParserCache``,
  ``ValidationCache``, ``MaxTokensLimiter``, ``AddValidationRules``, ``DisableIntrospection``)
  and with ours (``gateway.schema.documents``);
- **completion**: 60 lab results with their provenance (the passport's real types), completed
  by graphql-core field by field and by ``gateway.schema.execution``'s plans.

Each figure is the best of ``--rounds`` rounds (CPU time, ``time.process_time``), in
microseconds per request; the script prints a markdown table and a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from gateway.config import ServerSettings
from gateway.contract.enums import LabFlag
from gateway.contract.scalars import IIN, IIN_SCALAR
from gateway.contract.types import Coding, LabResult, Organization, Practitioner, Provenance
from gateway.schema.documents import CachedDocuments, DocumentStore
from gateway.schema.execution import PlainDataExecutionContext
from gateway.schema.query import Mutation, Query
from tests.e2e.test_passport import FULL_PASSPORT

# The passport query with every field skipped: only parsing, validation and limits run.
SKIPPED_PASSPORT = FULL_PASSPORT.replace(
    "passport(iin: $iin) {", "__typename skipped: passport(iin: $iin) @skip(if: true) {"
)
LAB_QUERY = """{ labResults { test { system code display } value numericValue unit
  referenceRange flag resultedAt orderNumber
  provenance { source region organization { bin name } practitioner { id name } } } }"""


def _stock_schema(server: ServerSettings) -> strawberry.Schema:
    """The schema as it was: strawberry's own caching and limit extensions."""
    rules = [
        *QueryDepthLimiter(max_depth=server.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=server.max_aliases).validation_rules,
    ]
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=server.max_tokens),
            lambda: AddValidationRules(rules),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            DisableIntrospection,
        ],
        config=StrawberryConfig(scalar_map={IIN: IIN_SCALAR}),
    )


def _our_schema(server: ServerSettings) -> strawberry.Schema:
    """The schema as served now: one extension with a document store."""
    rules = [
        *QueryDepthLimiter(max_depth=server.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=server.max_aliases).validation_rules,
        NoSchemaIntrospectionCustomRule,
    ]
    store = DocumentStore(max_documents=256)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=[lambda: CachedDocuments(store, server.max_tokens, rules)],
        config=StrawberryConfig(scalar_map={IIN: IIN_SCALAR}),
    )


@strawberry.type
class LabQuery:
    """Lab results as stored attributes, like a section resolver's answer."""

    lab_results: list[LabResult]


def _lab_results(count: int) -> list[LabResult]:
    """``count`` lab results shaped as the passport shapes them."""
    at = dt.datetime(2026, 11, 1, 9, 30, tzinfo=dt.UTC)
    return [
        LabResult(
            test=Coding(system="http://loinc.org", code="2345-7", display="Glucose"),
            value=f"{5 + i / 10:.1f}",
            numeric_value=5 + i / 10,
            unit="mmol/L",
            reference_range="3.9-6.1",
            flag=LabFlag.HIGH if i % 3 == 0 else LabFlag.NORMAL,
            resulted_at=at - dt.timedelta(days=i),
            order_number=f"LIS-{i:06d}",
            provenance=Provenance(
                source="lis",
                region="almaty",
                organization=Organization(bin="123456789012", name="Lab"),
                practitioner=Practitioner(id="p-1", name="Әсел Нұрланқызы"),
            ),
        )
        for i in range(count)
    ]


def _cached_documents() -> Callable[[], CachedDocuments]:
    """A factory of our document extension, with no extra rules."""
    store = DocumentStore(max_documents=8)
    return lambda: CachedDocuments(store, ServerSettings().max_tokens, [])


def _best_us(run: Callable[[], Any], rounds: int, requests: int) -> float:
    """The best round's CPU microseconds per call of ``run``."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            run()
        best = min(best, (time.process_time() - started) / requests * 1e6)
    return best


def _documents(rounds: int, requests: int) -> dict[str, float]:
    server = ServerSettings()
    variables = {"iin": "000000000000"}
    loop = asyncio.new_event_loop()
    figures = {}
    for name, schema in (("stock", _stock_schema(server)), ("ours", _our_schema(server))):
        result = loop.run_until_complete(
            schema.execute(SKIPPED_PASSPORT, variable_values=variables)
        )
        assert result.errors is None, result.errors

        def run(schema: strawberry.Schema = schema) -> None:
            loop.run_until_complete(schema.execute(SKIPPED_PASSPORT, variable_values=variables))

        figures[name] = _best_us(run, rounds, requests)
    loop.close()
    return figures


def _completion(rounds: int, requests: int) -> dict[str, float]:
    root = LabQuery(lab_results=_lab_results(60))
    # Both parse and validate once (our document store), so only completion differs.
    general = strawberry.Schema(query=LabQuery, extensions=[_cached_documents()])
    planned = strawberry.Schema(
        query=LabQuery,
        extensions=[_cached_documents()],
        execution_context_class=PlainDataExecutionContext,
    )
    expected = general.execute_sync(LAB_QUERY, root_value=root)
    assert expected.errors is None and planned.execute_sync(LAB_QUERY, root_value=root) == expected
    return {
        name: _best_us(
            lambda s=schema: s.execute_sync(LAB_QUERY, root_value=root), rounds, requests
        )
        for name, schema in (("graphql-core", general), ("plans", planned))
    }


def main(argv: list[str] | None = None) -> int:
    """Measure and print both comparisons."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)
    documents = _documents(args.rounds, args.requests)
    completion = _completion(args.rounds, max(1, args.requests // 10))
    print("| per request | before | after |")
    print("|---|---:|---:|")
    print(
        f"| parse, validate, limits of the passport query (us) | {documents['stock']:.0f} "
        f"(strawberry's extensions) | {documents['ours']:.0f} (one document store) |"
    )
    print(
        f"| complete 60 lab results with provenance (us) | {completion['graphql-core']:.0f} "
        f"(field by field) | {completion['plans']:.0f} (plans) |"
    )
    print(json.dumps({"documents_us": documents, "completion_us": completion}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
