"""``python -m bench.http_clients``: the CPU each HTTP client spends per upstream call.

An upstream (a bare ASGI app under uvicorn, answering a JSON body of ``--bytes`` after
``--latency-ms``) runs pinned to CPU 1; each client runs in its own process pinned to CPU 0
(uvloop, as the gateway), sends ``--requests`` GETs at ``--concurrency`` through one pool of
``--concurrency`` connections, and reports its own CPU time per request. Clients:

- ``httpcore``, ``httpx-aiohttp``, ``aiohttp-direct``: ``gateway.sources.http`` as the gateway
  uses it (``new_client`` + ``fetch``: request hook, streamed size cap), with that
  ``TRANSPORT``;
- ``httpx-pyreqwest``: the same over pyreqwest's httpx transport (if installed);
- ``aiohttp``, ``pyreqwest``: each library alone, reading the body with the same cap.

Rounds alternate the clients, so a busy machine hurts each alike; the best round counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.stack import free_port

REPO = Path(__file__).resolve().parent.parent
GATEWAY = {"httpcore": "httpcore", "httpx-aiohttp": "httpx-aiohttp", "aiohttp-direct": "aiohttp"}
CLIENTS = (*GATEWAY, "httpx-pyreqwest", "aiohttp", "pyreqwest")
MAX_BYTES = 16 * 1024 * 1024


def _upstream_app(body: bytes, latency_s: float):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await asyncio.sleep(latency_s)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def serve(port: int, latency_ms: float, size: int) -> None:
    """The upstream: one JSON body of about ``size`` bytes after ``latency_ms``."""
    import uvicorn

    item = {"orderNo": "0" * 10, "status": "DONE", "results": [{"value": "5.4", "ref": "x"}]}
    items, text = [], b""
    while len(text) < size:
        items.append(item)
        text = json.dumps({"orders": items, "total": len(items)}).encode()
    app = _upstream_app(text, latency_ms / 1000)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _httpx_driver(name: str, url: str, concurrency: int):
    from gateway.config import SourceSettings
    from gateway.sources import http

    settings = SourceSettings(
        name="lis", kind="lis-json", base_url=url, timeout_ms=5000, max_connections=concurrency
    )
    options = http.ClientOptions(headers={"Accept": "application/json", "X-Api-Key": "k"})
    extra = {}
    if name == "httpx-pyreqwest":
        from pyreqwest.client import ClientBuilder
        from pyreqwest.compatibility.httpx import HttpxTransport

        extra["transport"] = HttpxTransport(ClientBuilder().max_connections(concurrency).build())
    else:
        http.TRANSPORT = GATEWAY[name]
    client = http.new_client(settings, options, **extra)

    async def one(path: str) -> int:
        reply = await http.fetch(client, "lis", "GET", path, params=[("page", "1")])
        return len(reply.body)

    return one, client.aclose


async def _aiohttp_driver(url: str, concurrency: int):
    import aiohttp

    session = aiohttp.ClientSession(
        base_url=url,
        connector=aiohttp.TCPConnector(limit=concurrency, keepalive_timeout=30),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=5),
    )
    headers = {"Accept": "application/json", "X-Api-Key": "k"}

    async def one(path: str) -> int:
        async with session.get(path, params=[("page", "1")], headers=headers) as response:
            chunks, size = [], 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise RuntimeError("too large")
                chunks.append(chunk)
            return len(b"".join(chunks))

    return one, session.close


async def _pyreqwest_driver(url: str, concurrency: int):
    from datetime import timedelta

    from pyreqwest.client import ClientBuilder

    client = (
        ClientBuilder()
        .base_url(url)
        .max_connections(concurrency)
        .timeout(timedelta(seconds=5))
        .default_headers({"Accept": "application/json", "X-Api-Key": "k"})
        .build()
    )

    async def one(path: str) -> int:
        async with client.get(f"{path}?page=1").build_streamed() as response:
            chunks, size = [], 0
            while (chunk := await response.body_reader.read()) is not None:
                size += len(chunk)
                if size > MAX_BYTES:
                    raise RuntimeError("too large")
                chunks.append(bytes(chunk))
            return len(b"".join(chunks))

    return one, client.close


async def drive(name: str, url: str, requests: int, concurrency: int) -> dict:
    """Send ``requests`` GETs at ``concurrency``; CPU microseconds per request and the rate."""
    if name in GATEWAY or name == "httpx-pyreqwest":
        one, close = await _httpx_driver(name, url, concurrency)
    elif name == "aiohttp":
        one, close = await _aiohttp_driver(url, concurrency)
    elif name == "pyreqwest":
        one, close = await _pyreqwest_driver(url, concurrency)
    else:
        raise ValueError(name)
    paths = [f"/api/v2/patients/{900101300000 + i}/orders" for i in range(50)]

    async def worker(count: int, start: int) -> int:
        total = 0
        for i in range(count):
            total += await one(paths[(start + i) % len(paths)])
        return total

    per_worker = max(1, requests // concurrency)
    await asyncio.gather(*(worker(20, i) for i in range(concurrency)))  # open the pool
    cpu, wall = time.process_time(), time.perf_counter()
    sizes = await asyncio.gather(*(worker(per_worker, i) for i in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await close()
    done = per_worker * concurrency
    return {
        "client": name,
        "cpu_us_per_request": 1e6 * cpu / done,
        "rps": done / wall,
        "bytes": sum(sizes) // done,
    }


def _drive_process(name: str, url: str, requests: int, concurrency: int) -> dict:
    command = [
        "taskset",
        "-c",
        "0",
        sys.executable,
        "-m",
        "bench.http_clients",
        "drive",
        name,
        url,
        str(requests),
        str(concurrency),
    ]
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"client": name, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    """Start the upstream, run every client ``--rounds`` times, print the best of each."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        serve(int(argv[1]), float(argv[2]), int(argv[3]))
        return 0
    if argv[:1] == ["drive"]:
        import uvloop

        result = uvloop.run(drive(argv[1], argv[2], int(argv[3]), int(argv[4])))
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.http_clients")
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--bytes", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    port = free_port()
    server = subprocess.Popen(
        [
            "taskset",
            "-c",
            "1",
            sys.executable,
            "-m",
            "bench.http_clients",
            "serve",
            str(port),
            str(args.latency_ms),
            str(args.bytes),
        ],
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        best: dict[str, dict] = {}
        for _ in range(args.rounds):
            for name in args.clients.split(","):
                result = _drive_process(name, url, args.requests, args.concurrency)
                print(json.dumps(result), flush=True)
                kept = best.get(name)
                if "error" not in result and (
                    kept is None or result["cpu_us_per_request"] < kept["cpu_us_per_request"]
                ):
                    best[name] = result
    finally:
        server.terminate()
        server.wait(timeout=10)
    print("| client | CPU us per request (best round) | req/s |")
    print("|---|---:|---:|")
    for name, result in best.items():
        print(f"| {name} | {result['cpu_us_per_request']:.0f} | {result['rps']:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
