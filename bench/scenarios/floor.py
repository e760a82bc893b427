"""The floor of S3: the same passport JSON served by a bare Starlette endpoint from memory.

``python -m bench.scenarios.floor --bodies FILE --port PORT`` serves ``POST /graphql``: it
parses the request body, looks the ``iin`` variable up in the pre-rendered answers the
gateway gave (FILE: JSON object IIN -> answer text) and returns those bytes. No token check,
no GraphQL, no sources: what is left is uvicorn + Starlette + JSON parsing of the request, so
the gateway's warm throughput can be set beside what the same stack does with no work.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def create_floor_app(bodies: dict[str, bytes]) -> Starlette:
    """The bare endpoint over ``bodies`` (IIN -> the gateway's answer, bytes as served)."""

    async def graphql(request: Request) -> Response:
        payload = await request.json()
        body = bodies.get(payload.get("variables", {}).get("iin", ""))
        if body is None:
            return JSONResponse({"errors": [{"message": "not pre-rendered"}]}, status_code=404)
        return Response(body, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response("ok")

    return Starlette(
        routes=[Route("/graphql", graphql, methods=["POST"]), Route("/healthz", healthz)]
    )


def main(argv: list[str] | None = None) -> None:
    """Serve the floor with the gateway's server settings: one uvicorn worker, uvloop, httptools."""
    parser = argparse.ArgumentParser(prog="python -m bench.scenarios.floor")
    parser.add_argument("--bodies", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    texts = json.loads(args.bodies.read_text(encoding="utf-8"))
    bodies = {iin: text.encode("utf-8") for iin, text in texts.items()}
    uvicorn.run(
        create_floor_app(bodies),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
