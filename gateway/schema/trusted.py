"""Trusted documents on a request: which text runs, decided before anything is parsed.

A request names a document by ``{"documentId": "sha256:<hex>"}`` (GraphQL over HTTP's
persisted documents) or by Apollo's ``{"extensions": {"persistedQuery": {"version": 1,
"sha256Hash": "<hex>"}}}``, in a POST body or GET parameters, or sends the text itself. With
``[documents] require = true`` only a document of the manifest runs, named or sent as text;
anything else is refused with PERSISTED_QUERY_NOT_FOUND. Without it, named documents are
served from the manifest and free text runs as before.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gateway.errors import BadUserInput, PersistedQueryNotFound
from gateway.schema.manifest import Operation, document_id

ID_PREFIX = "sha256:"
APOLLO_EXTENSION = "persistedQuery"
_HEX_ID = re.compile(r"[0-9a-f]{64}")


class TrustedDocuments:
    """The manifest's documents by id, and the rule of ``[documents] require``."""

    def __init__(self, operations: Mapping[str, Operation], require: bool) -> None:
        self.operations = dict(operations)
        self.require = require

    def text(
        self, query: str | None, named_id: str | None, extensions: Mapping[str, Any] | None
    ) -> str | None:
        """The document text to run for a request's ``query``, ``documentId`` and
        ``extensions``; PersistedQueryNotFound or BadUserInput when it may not run."""
        wanted = _wanted_id(named_id, extensions)
        if wanted is None:
            if self.require and (query is None or document_id(query) not in self.operations):
                raise PersistedQueryNotFound
            return query
        if query is not None:
            # Apollo's clients send text and hash together: they must be the same document.
            if document_id(query) != wanted:
                raise BadUserInput("provided sha does not match query")
            if self.require and wanted not in self.operations:
                raise PersistedQueryNotFound
            return query
        operation = self.operations.get(wanted)
        if operation is None:
            raise PersistedQueryNotFound
        return operation.body


def _wanted_id(named_id: object, extensions: Mapping[str, Any] | None) -> str | None:
    """The SHA-256 hex a request names, if any (both ways at once must agree)."""
    wanted = None
    if named_id is not None:
        if not isinstance(named_id, str) or not named_id.startswith(ID_PREFIX):
            raise PersistedQueryNotFound  # another kind of id: none this gateway knows
        wanted = _hex(named_id[len(ID_PREFIX) :])
    persisted = (extensions or {}).get(APOLLO_EXTENSION)
    if persisted is not None:
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise BadUserInput("unsupported persistedQuery version (1 is)")
        hashed = _hex(persisted.get("sha256Hash"))
        if wanted is not None and hashed != wanted:
            raise BadUserInput("documentId and persistedQuery name different documents")
        wanted = hashed
    return wanted


def _hex(value: object) -> str:
    if not isinstance(value, str) or not _HEX_ID.fullmatch(value.lower()):
        raise PersistedQueryNotFound
    return value.lower()
