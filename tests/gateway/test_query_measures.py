"""Depth, aliases, fields and repeated fields of a document, fragments expanded, in linear time.

Expected figures are counted by hand from each document's text, with every fragment spread
written out in place.
"""

from __future__ import annotations

from graphql import parse

from gateway.schema.measures import Measures, measure_operations
from tests.e2e.test_query_limits import fan_out


def measures(text: str) -> list[Measures]:
    """The measures of each operation of ``text``, in document order."""
    return list(measure_operations(parse(text, max_tokens=None)).values())


def test_a_plain_query_is_measured_as_written() -> None:
    assert measures("{ me { role subject } }") == [Measures(1, 0, 3, 0)]


def test_depth_counts_fields_below_the_root_field_as_strawberry_did() -> None:
    # passport (0) > allergies (1) > provenance (2) > organization (3) > name (4)
    query = "query($i: IIN!) { passport(iin: $i) { allergies { provenance { organization { name "
    query += "} } } } }"
    assert measures(query)[0].depth == 4


def test_a_fragment_adds_its_depth_where_it_is_spread() -> None:
    query = """
      fragment Org on Provenance { organization { name } }
      fragment Source on Allergy { provenance { ...Org } }
      query($i: IIN!) { passport(iin: $i) { allergies { ...Source } iin } }
    """
    assert measures(query) == [Measures(depth=4, aliases=0, fields=6, repeated=0)]


def test_inline_fragments_add_no_depth() -> None:
    assert measures("{ me { ... on Me { ... { role } } } }") == [Measures(1, 0, 2, 0)]


def test_introspection_is_counted_as_fields_but_not_as_depth() -> None:
    query = "{ __schema { types { fields { type { name } } } } }"
    assert measures(query) == [Measures(depth=0, aliases=0, fields=5, repeated=0)]


def test_aliases_and_fields_count_again_for_each_spread() -> None:
    query = "fragment A on Me { a: role b: subject } { me { ...A ...A } }"
    # me { a b a b }: 4 aliases, 5 fields, `a` and `b` each repeated once
    assert measures(query) == [Measures(depth=1, aliases=4, fields=5, repeated=2)]


def test_repeated_response_keys_are_counted_per_level() -> None:
    cases = {
        "{ me { role } me { role } }": 1,  # me twice at the root (role once in each)
        "{ me { role role } }": 1,
        "{ a: me { role } me { role } }": 0,  # other response keys: nothing to merge
        "fragment M on Query { me { role } } { ...M ...M me { role } }": 2,
        "fragment R on Me { role } { me { role ...R ... on Me { role } } }": 2,
        "fragment R on Me { role ...S } fragment S on Me { role subject } { me { ...R } }": 1,
    }
    for query, repeated in cases.items():
        assert measures(query)[0].repeated == repeated, query


def test_the_fragment_fan_out_is_measured_without_expanding_it() -> None:
    # 2^29 fields at N = 30, and 2^199 at N = 200: a walk of the expansion would never end.
    assert measures(fan_out(30)) == [
        Measures(depth=1, aliases=0, fields=2**29 + 1, repeated=2**29 - 1)
    ]
    assert measures(fan_out(200))[0].fields == 2**199 + 1


def test_a_long_chain_of_fragments_needs_no_recursion() -> None:
    # Deeper than the interpreter's recursion limit (1000), and each level one field deeper.
    n = 3000
    fragments = ["fragment C0 on Me { role }"]
    fragments += [f"fragment C{i} on Me {{ ...C{i - 1} }}" for i in range(1, n)]
    query = " ".join(fragments) + f" {{ me {{ ...C{n - 1} }} }}"
    assert measures(query) == [Measures(depth=1, aliases=0, fields=2, repeated=0)]


def test_a_fragment_cycle_ends_and_counts_its_fields_once() -> None:
    # NoFragmentCycles reports the cycle; the measure must only end, with finite figures.
    two = "fragment A on Me { role ...B } fragment B on Me { subject ...A } { me { ...A } }"
    assert measures(two) == [Measures(depth=1, aliases=0, fields=3, repeated=0)]
    itself = "fragment A on Me { role ...A } { me { ...A ...A } }"
    assert measures(itself) == [Measures(depth=1, aliases=0, fields=3, repeated=1)]


def test_an_unknown_fragment_adds_nothing() -> None:
    assert measures("{ me { ...Nowhere role } }") == [Measures(1, 0, 2, 0)]


def test_each_operation_is_measured_on_its_own() -> None:
    query = """
      fragment R on Me { role }
      query Small { me { ...R } }
      query Large { a: me { ...R } b: me { ...R subject } }
    """
    assert measures(query) == [Measures(1, 0, 2, 0), Measures(1, 2, 5, 0)]
