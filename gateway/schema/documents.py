"""Query documents parsed once per text and validated once per document, with our limits.

strawberry's ``ParserCache`` and ``ValidationCache`` key their caches on the document's
hash, which walks every node of the syntax tree on each request (about 5% of a warm
passport's CPU), and each extension adds its own hooks to every request. This one extension
does the work of five (parser cache, validation cache, token limit, added rules, disabled
introspection): a document is found by its text, and its validation by the identity of the
parsed document, which the parse cache hands back unchanged for the same text.

A text that does not parse is left to strawberry, which parses it (within the token limit)
and reports the error as usual; only documents that parsed are remembered.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError
from strawberry.extensions import SchemaExtension


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
    """Parse and validate through a ``DocumentStore``, with the token limit and extra rules."""

    def __init__(
        self,
        store: DocumentStore,
        max_tokens: int,
        rules: Sequence[type[ASTValidationRule]],
    ) -> None:
        super().__init__()
        self.store = store
        self.max_tokens = max_tokens
        self.rules = tuple(rules)

    def on_operation(self) -> Iterator[None]:
        """Set the token limit of the parser and add our validation rules."""
        context = self.execution_context
        context.parse_options["max_tokens"] = self.max_tokens
        context.validation_rules = context.validation_rules + self.rules
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
        """Reuse the errors of a document validated before (the rules never change)."""
        context = self.execution_context
        document: Any = context.graphql_document
        known = self.store.validation(document) if document is not None else None
        if known is not None:
            context.pre_execution_errors = list(known)
        yield
        if known is None and document is not None and context.pre_execution_errors is not None:
            self.store.remember_validation(document, context.pre_execution_errors)


def _bounded_put(items: OrderedDict, key: Any, value: Any, limit: int) -> None:
    """Insert as most recently used and evict the least recently used beyond ``limit``."""
    items[key] = value
    items.move_to_end(key)
    while len(items) > limit:
        items.popitem(last=False)
