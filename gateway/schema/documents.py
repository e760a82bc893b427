"""Query documents parsed once per text and validated once per document, with our limits.

strawberry's ``ParserCache`` and ``ValidationCache`` key their caches on the document's
hash, which walks every node of the syntax tree on each request (about 5% of a warm
passport's CPU), and each extension adds its own hooks to every request. This one extension
does the work of five (parser cache, validation cache, token limit, added rules, disabled
introspection): a document is found by its text, and its validation by the identity of the
parsed document, which the parse cache hands back unchanged for the same text.

Validation is done here, not by strawberry: first our limits (``gateway.schema.limits``,
linear in the document), and only a document within them meets graphql-core's rules, told
to hide suggestions of field and enum names when introspection is off.

A text that does not parse is left to strawberry, which parses it (within the token limit)
and reports the error as usual; only documents that parsed are remembered.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, validate
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from gateway.schema.limits import DocumentLimits

# The rules strawberry adds to graphql-core's when it validates (its ``validate_document``).
STRAWBERRY_RULES: tuple[type[ASTValidationRule], ...] = (
    MaybeNullValidationRule,
    OneOfInputValidationRule,
)


class DocumentStore:
    """Parsed documents by text and validation results by document, both bounded (LRU)."""

    def __init__(self, max_documents: int) -> None:
        self.max_documents = max_documents
        self._parsed: OrderedDict[str, DocumentNode] = OrderedDict()
        # id of a document -> (the document, kept alive so the id is not reused; its errors)
        self._validated: OrderedDict[int, tuple[DocumentNode, tuple[GraphQLError, ...]]] = (
            OrderedDict()
        )

    def parsed(self, text: str) -> DocumentNode | None:
        """The document parsed from ``text`` before, if any."""
        document = self._parsed.get(text)
        if document is not None:
            self._parsed.move_to_end(text)
        return document

    def remember_parsed(self, text: str, document: DocumentNode) -> None:
        """Keep ``document`` as the parse of ``text``."""
        _bounded_put(self._parsed, text, document, self.max_documents)

    def validation(self, document: DocumentNode) -> tuple[GraphQLError, ...] | None:
        """The errors found when ``document`` was validated before, or None if it was not."""
        known = self._validated.get(id(document))
        if known is None or known[0] is not document:
            return None
        self._validated.move_to_end(id(document))
        return known[1]

    def remember_validation(self, document: DocumentNode, errors: Sequence[GraphQLError]) -> None:
        """Keep the errors found in ``document`` (none for a valid one)."""
        _bounded_put(self._validated, id(document), (document, tuple(errors)), self.max_documents)


class CachedDocuments(SchemaExtension):
    """Parse and validate through a ``DocumentStore``, with the token limit, our limits and
    extra rules."""

    def __init__(
        self,
        store: DocumentStore,
        max_tokens: int,
        rules: Sequence[type[ASTValidationRule]],
        limits: DocumentLimits | None = None,
        hide_suggestions: bool = False,
    ) -> None:
        super().__init__()
        self.store = store
        self.max_tokens = max_tokens
        self.rules = tuple(rules)
        self.limits = limits
        self.hide_suggestions = hide_suggestions

    def on_operation(self) -> Iterator[None]:
        """Set the token limit of the parser."""
        self.execution_context.parse_options["max_tokens"] = self.max_tokens
        yield

    def on_parse(self) -> Iterator[None]:
        """Hand over the document parsed before from the same text; remember a new one."""
        context = self.execution_context
        text = context.query
        known = self.store.parsed(text) if text else None
        if known is not None:
            context.graphql_document = known
        yield
        if known is None and text and context.graphql_document is not None:
            self.store.remember_parsed(text, context.graphql_document)

    def on_validate(self) -> Iterator[None]:
        """Validate a new document (limits first), or reuse the errors found before; either
        way strawberry, seeing them set, does not validate again."""
        context = self.execution_context
        document: Any = context.graphql_document
        if document is not None:
            known = self.store.validation(document)
            if known is None:
                known = tuple(self._validate(document))
                self.store.remember_validation(document, known)
            context.pre_execution_errors = list(known)
        yield

    def _validate(self, document: DocumentNode) -> list[GraphQLError]:
        """Our limits' errors, or else those of graphql-core's, strawberry's and our rules."""
        errors = self.limits.check(document) if self.limits is not None else []
        if errors:
            return errors
        context = self.execution_context
        rules = (*context.validation_rules, *STRAWBERRY_RULES, *self.rules)
        # strawberry's schema wraps graphql-core's, which validation needs.
        schema = context.schema._schema  # type: ignore[attr-defined]
        return validate(schema, document, rules, hide_suggestions=self.hide_suggestions)


def _bounded_put(items: OrderedDict, key: Any, value: Any, limit: int) -> None:
    """Insert as most recently used and evict the least recently used beyond ``limit``."""
    items[key] = value
    items.move_to_end(key)
    while len(items) > limit:
        items.popitem(last=False)
