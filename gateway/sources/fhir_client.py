"""FHIR R4 REST mechanics the adapters need: search with paging, ``_summary=count``, batch."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import orjson

from gateway.sources.errors import (
    BAD_RESPONSE,
    SourceError,
    operation_outcome_detail,
)
from gateway.sources.http import fetch, query_string, raise_for_reply, resolve_within

FHIR_JSON = "application/fhir+json"
MAX_PAGES = 50  # 50 pages of 500 is far beyond one person's record; stops a looping server
MAX_BATCH = 50  # entries per batch Bundle (SOURCES.md)
MAX_OR_VALUES = 100  # comma-separated values per search parameter (SOURCES.md)

Params = Sequence[tuple[str, str]]


class FhirClient:
    """Talks FHIR R4 JSON to one server; every failure comes out as SourceError."""

    def __init__(self, source: str, client: httpx.AsyncClient) -> None:
        self.source = source
        self.client = client

    async def _get_bundle(self, url: str, params: Params | None = None) -> dict[str, Any]:
        reply = await fetch(self.client, self.source, "GET", url, params=params)
        raise_for_reply(self.source, reply)
        return self._bundle(reply.body)

    def _bundle(self, body: bytes) -> dict[str, Any]:
        """Parse a 2xx body that must be a Bundle (an OperationOutcome there is an error)."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise SourceError(self.source, BAD_RESPONSE, "not JSON") from None
        if not isinstance(data, dict):
            raise SourceError(self.source, BAD_RESPONSE, "not a JSON object")
        kind = data.get("resourceType")
        if kind == "OperationOutcome":
            raise SourceError(self.source, BAD_RESPONSE, operation_outcome_detail(data))
        if kind != "Bundle":
            raise SourceError(self.source, BAD_RESPONSE, f"expected Bundle, got {kind!r}")
        return data

    def _next_link(self, bundle: dict[str, Any]) -> str | None:
        """The ``next`` link, resolved against the base URL; an error unless it stays within
        the server we were configured with (our bearer token goes nowhere else)."""
        for link in bundle.get("link") or ():
            if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
                url = link["url"]
                if not isinstance(url, str):
                    raise SourceError(self.source, BAD_RESPONSE, "next link is not a string")
                return str(resolve_within(self.source, self.client.base_url, url))
        return None

    async def search(
        self, resource_type: str, params: Params, *, max_pages: int = MAX_PAGES
    ) -> list[dict[str, Any]]:
        """Search and follow ``next`` links verbatim; return the entries of every page."""
        first = await self._get_bundle(resource_type, params)
        return await self._entries_of_pages(first, max_pages)

    async def search_batch(
        self, searches: Sequence[tuple[str, Params]], *, max_pages: int = MAX_PAGES
    ) -> list[list[dict[str, Any]]]:
        """Several searches in one batch round trip; each one's entries, its pages followed."""
        answers = await self.batch([request_url(kind, params) for kind, params in searches])
        results = []
        for entry in answers:
            if not entry_ok(entry):
                status = (entry.get("response") or {}).get("status")
                raise SourceError(self.source, BAD_RESPONSE, f"batch search failed: {status}")
            bundle = entry["resource"]
            if bundle.get("resourceType") != "Bundle":
                raise SourceError(self.source, BAD_RESPONSE, "batch search without a Bundle")
            results.append(await self._entries_of_pages(bundle, max_pages))
        return results

    async def _entries_of_pages(
        self, bundle: dict[str, Any], max_pages: int
    ) -> list[dict[str, Any]]:
        """The entries of ``bundle`` and of the pages its ``next`` links lead to.

        More pages than ``max_pages`` is an error, never a silently shortened record.
        """
        entries = list(_entries(bundle))
        for _ in range(max_pages - 1):
            url = self._next_link(bundle)
            if url is None:
                break
            bundle = await self._get_bundle(url)
            entries.extend(_entries(bundle))
        else:
            if self._next_link(bundle) is not None:
                raise SourceError(self.source, BAD_RESPONSE, "too many pages")
        return entries

    async def search_pages(
        self, resource_type: str, params: Params
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield the entries page by page, so a caller can stop as soon as it has its answer."""
        bundle = await self._get_bundle(resource_type, params)
        yield list(_entries(bundle))
        for _ in range(MAX_PAGES - 1):
            url = self._next_link(bundle)
            if url is None:
                return
            bundle = await self._get_bundle(url)
            yield list(_entries(bundle))

    async def count(self, resource_type: str, params: Params) -> int:
        """``_summary=count``: the number of matches, without the resources."""
        bundle = await self._get_bundle(resource_type, [*params, ("_summary", "count")])
        total = bundle.get("total")
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise SourceError(self.source, BAD_RESPONSE, "no total in count answer")
        return total

    async def batch(self, requests: Sequence[str]) -> list[dict[str, Any]]:
        """POST GET-requests as batch Bundles (<= 50 each); the response entries, in order."""
        answers: list[dict[str, Any]] = []
        for start in range(0, len(requests), MAX_BATCH):
            chunk = requests[start : start + MAX_BATCH]
            body = {
                "resourceType": "Bundle",
                "type": "batch",
                "entry": [{"request": {"method": "GET", "url": url}} for url in chunk],
            }
            reply = await fetch(
                self.client,
                self.source,
                "POST",
                "",
                content=orjson.dumps(body),
                headers={"Content-Type": FHIR_JSON},
            )
            raise_for_reply(self.source, reply)
            bundle = self._bundle(reply.body)
            entries = [e if isinstance(e, dict) else {} for e in bundle.get("entry") or ()]
            if len(entries) != len(chunk):
                raise SourceError(self.source, BAD_RESPONSE, "batch answer of another length")
            answers.extend(entries)
        return answers


def request_url(resource_type: str, params: Params) -> str:
    """A relative search URL for a batch entry."""
    return f"{resource_type}?{query_string(params)}"


def _entries(bundle: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for entry in bundle.get("entry") or ():
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            yield entry


def entry_ok(entry: dict[str, Any]) -> bool:
    """Whether a batch-response entry succeeded (``response.status`` 2xx)."""
    status = str((entry.get("response") or {}).get("status") or "")
    return status[:1] == "2" and isinstance(entry.get("resource"), dict)


def chunked(values: Sequence[str], size: int = MAX_OR_VALUES) -> list[Sequence[str]]:
    """Split values into OR lists the server accepts."""
    return [values[i : i + size] for i in range(0, len(values), size)]
