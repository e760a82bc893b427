"""How long validating a hostile document takes, before and after our own limits (issue 11).

``python -m bench.query_limits [--rounds 3]`` validates, in process, against the served
schema:

- the fragment fan-out of the issue (F0 selects one field, each next fragment spreads the
  previous twice, the query spreads the last) at N = 10, 20 and 30 fragments;
- 600 duplicated fields (``{ me { role } }`` 300 times, the most under the token limit);
- the heaviest documents our limits still let through: 50 repeated ``me`` fields, and every
  field of the passport (447 fields, within ``server.max_fields``);

**before** as the schema did it (graphql-core's rules with strawberry's ``QueryDepthLimiter``
and ``MaxAliasesLimiter``; the fan-out only up to N = 20, since N = 30 takes about an hour)
and **after** as ``gateway.schema.documents`` does it now (``gateway.schema.limits`` first,
graphql-core's rules only for a document within them). Each figure is the best of
``--rounds`` runs (5), CPU time (``time.process_time``) in milliseconds; the script prints a
markdown table and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLSchema,
    Lexer,
    Source,
    TokenKind,
    get_named_type,
    is_object_type,
    is_required_argument,
    parse,
    specified_rules,
    validate,
)
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter

from gateway.config import LimitsSettings, ServerSettings
from gateway.schema.documents import STRAWBERRY_RULES
from gateway.schema.limits import DocumentLimits
from gateway.schema.schema import build_schema
from tests.e2e.test_query_limits import fan_out

BEFORE_UP_TO = 20  # the old limiters double their time with each fragment: 2^29 at N = 30


def every_passport_field(schema: GraphQLSchema) -> str:
    """A passport query selecting every field that needs no argument, down every object type."""

    def below(type_name: str, seen: frozenset[str]) -> str:
        names = []
        for name, definition in schema.type_map[type_name].fields.items():  # type: ignore[attr-defined]
            inner = get_named_type(definition.type)
            if any(map(is_required_argument, definition.args.values())):
                continue  # a field that cannot be asked without arguments (doseCheck)
            if is_object_type(inner):
                if inner.name not in seen:
                    names.append(f"{name} {{ {below(inner.name, seen | {inner.name})} }}")
            else:
                names.append(name)
        return " ".join(names)

    return f"query($iin: IIN!) {{ passport(iin: $iin) {{ {below('Passport', frozenset())} }} }}"


def documents(schema: GraphQLSchema) -> dict[str, str]:
    """The measured documents, by the name of their table row."""
    found = {f"fan-out N = {n}": fan_out(n) for n in (10, 20, 30)}
    found["600 duplicated fields"] = "{ " + "me { role } " * 300 + "}"
    found["50 repeated fields (served)"] = "{ " + "me { readableSections } " * 51 + "}"
    found["every passport field (served)"] = every_passport_field(schema)
    return found


def tokens(text: str) -> int:
    """The lexical tokens of ``text``, as ``server.max_tokens`` counts them."""
    lexer, count = Lexer(Source(text)), 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


def best_ms(run: Callable[[], Any], rounds: int) -> float:
    """The best CPU milliseconds of ``rounds`` calls of ``run``."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        run()
        best = min(best, (time.process_time() - started) * 1000)
    return best


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    server = ServerSettings()
    schema = build_schema(server)._schema
    old_rules = (
        *specified_rules,
        *STRAWBERRY_RULES,
        *QueryDepthLimiter(max_depth=server.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=server.max_aliases).validation_rules,
    )
    limits = DocumentLimits.of(server, LimitsSettings())
    new_rules = (*specified_rules, *STRAWBERRY_RULES)

    def before(document: DocumentNode) -> list[Any]:
        return validate(schema, document, old_rules)

    def after(document: DocumentNode) -> list[Any]:
        return limits.check(document) or validate(schema, document, new_rules)

    rows: dict[str, dict[str, Any]] = {}
    for name, text in documents(schema).items():
        document = parse(text, max_tokens=server.max_tokens)
        slow = name.startswith("fan-out") and int(name.rsplit(" ", 1)[1]) > BEFORE_UP_TO
        refused = bool(limits.check(document))
        rows[name] = {
            "tokens": tokens(text),
            "before_ms": None if slow else best_ms(lambda d=document: before(d), args.rounds),
            "after_ms": best_ms(lambda d=document: after(d), args.rounds),
            "after": "refused" if refused else "served",
        }
    print("| document | tokens | before (ms CPU) | after (ms CPU) | after |")
    print("|---|---:|---:|---:|---|")
    for name, row in rows.items():
        before_ms = (
            "not run (about an hour)" if row["before_ms"] is None else f"{row['before_ms']:.1f}"
        )
        print(
            f"| {name} | {row['tokens']} | {before_ms} | {row['after_ms']:.2f} | {row['after']} |"
        )
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
