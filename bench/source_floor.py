"""The physical floor of a passport: the same upstream requests, all at once, with no gateway.

After the gateway served a passport, the emulators' ``__requests`` logs say exactly what it
asked. Replaying those requests concurrently from a plain client, and timing until the last
answer, gives the slowest source as it really is (its set latency plus its own work), which
is what a gateway that must wait for every source can at best achieve.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from emulators.serve import Credentials

FHIR_JSON = "application/fhir+json"


class SourceReplayer:
    """Replays recorded emulator requests with the emulators' credentials."""

    def __init__(self, urls: dict[str, str], credentials: Credentials | None = None) -> None:
        self.urls = urls
        self.credentials = credentials or Credentials()
        self._dps_token: str | None = None

    def _origin(self, name: str) -> str:
        parts = urlsplit(self.urls[name])
        return f"{parts.scheme}://{parts.netloc}"

    async def _headers(self, client: httpx.AsyncClient, name: str) -> dict[str, str]:
        c = self.credentials
        if name == "register" or name.startswith("ehr-"):
            return {"Authorization": f"Bearer {c.fhir_token}"}
        if name == "lis":
            return {"X-Api-Key": c.lis_key}
        if name == "dps":
            if self._dps_token is None:
                answer = await client.post(
                    f"{self.urls['dps']}/oauth/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": c.dps_client_id,
                        "client_secret": c.dps_secret,
                        "scope": "read",
                    },
                )
                self._dps_token = answer.json()["access_token"]
            return {"Authorization": f"Bearer {self._dps_token}"}
        return {}

    async def _one(self, client: httpx.AsyncClient, name: str, request: dict[str, Any]) -> None:
        headers = await self._headers(client, name)
        url = f"{self._origin(name)}{request['path']}"
        if request["query"]:
            url += f"?{request['query']}"
        if request["method"] == "POST" and "batch" in request:
            body = {
                "resourceType": "Bundle",
                "type": "batch",
                "entry": [{"request": {"method": "GET", "url": u}} for u in request["batch"]],
            }
            answer = await client.post(
                url, json=body, headers={**headers, "Content-Type": FHIR_JSON}
            )
        else:
            auth = None
            if name == "ambulance":
                auth = (self.credentials.ambulance_user, self.credentials.ambulance_password)
            answer = await client.get(url, headers=headers, auth=auth)
        if answer.status_code >= 500:  # a 404 (no lab history) is an answer, a 5xx is not
            answer.raise_for_status()

    async def replay(self, client: httpx.AsyncClient, requests: dict[str, list[dict]]) -> float:
        """Send every request at once; seconds until the last one has answered."""
        for name in requests:  # credentials first, so token calls are not timed
            await self._headers(client, name)
        started = time.perf_counter()
        await asyncio.gather(
            *(self._one(client, name, r) for name, rs in requests.items() for r in rs)
        )
        return time.perf_counter() - started
