"""What tracing costs a warm full passport, in process (issue 15.4).

``python -m bench.tracing [--rounds 7] [--requests 500] [--people 50]``

Starts the seven emulators over a 300-person population, then three gateways in this process
(``create_app``): ``off`` without ``[telemetry] otlp_endpoint``, ``on`` with it pointing at an
OTLP/HTTP sink that runs as its own process (so the collector's work is not counted), and
``sampled``, the same keeping one trace in ten (the SDK's ``OTEL_TRACES_SAMPLER`` variables). Each
reads 50 people's full passports once (the cache is then warm), and then, in alternating
rounds, answers ``--requests`` passports one after another through an in-process ASGI
client. The figure is the process's CPU time (``time.process_time``: the event loop and the
exporter's thread) per passport, best of ``--rounds``; a traced round ends with a flush, so
its spans are encoded and sent within it. No HTTP between client and gateway, so the
difference is the gateway's own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.stack import free_port
from bench.warm_passport import PASSPORT, SAMPLED, SEED, write_config
from emulators.serve import ensure_population, start_emulators
from gateway.app import create_app
from gateway.auth.issuer import DemoIssuer
from gateway.config import load_settings

# A collector stand-in in its own process: accepts every export, answers 200.
SINK = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
"""


async def _round(client: httpx.AsyncClient, bodies: list[tuple[bytes, str]], count: int) -> None:
    for i in range(count):
        body, token = bodies[i % len(bodies)]
        response = await client.post(
            "/graphql",
            content=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        if response.status_code != 200 or b'"errors"' in response.content:
            raise RuntimeError(f"passport read failed: {response.status_code}")


async def measure(
    apps: dict[str, Any], bodies: list[tuple[bytes, str]], rounds: int, requests: int
) -> dict[str, float]:
    """Best CPU microseconds per passport of each app, rounds alternating between them."""
    best = dict.fromkeys(apps, float("inf"))
    async with _running(apps) as clients:
        for client in clients.values():
            await _round(client, bodies, len(bodies))  # warm every cache
        for _ in range(rounds):
            for mode, client in clients.items():
                tracing = apps[mode].state.tracing
                started = time.process_time()
                await _round(client, bodies, requests)
                if tracing is not None:
                    await asyncio.to_thread(tracing.provider.force_flush)
                spent = time.process_time() - started
                best[mode] = min(best[mode], spent / requests * 1e6)
    return best


class _running:
    """The apps' lifespans entered, with an in-process client each."""

    def __init__(self, apps: dict[str, Any]) -> None:
        self.apps = apps
        self.stack: list[Any] = []

    async def __aenter__(self) -> dict[str, httpx.AsyncClient]:
        clients = {}
        for mode, app in self.apps.items():
            lifespan = app.router.lifespan_context(app)
            await lifespan.__aenter__()
            client = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://gateway"
            )
            self.stack.append((lifespan, client))
            clients[mode] = client
        return clients

    async def __aexit__(self, *exc: object) -> None:
        for lifespan, client in reversed(self.stack):
            await client.aclose()
            await lifespan.__aexit__(None, None, None)


def main(argv: list[str] | None = None) -> int:
    """Measure and print a markdown table and a JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.tracing")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--people", type=int, default=50)
    args = parser.parse_args(argv)
    data_dir = Path(tempfile.gettempdir()) / f"ehp-bench-population-300-{SEED}"
    ensure_population(data_dir, 300, SEED)
    truth = json.loads((data_dir / "ground_truth.json").read_text(encoding="utf-8"))
    iins = sorted(truth["people"])[: args.people]
    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(sink_port)])
    try:
        with tempfile.TemporaryDirectory(prefix="ehp-bench-") as tmp:
            directory = Path(tmp)
            issuer = DemoIssuer.create(directory / "keys")
            bodies = [
                (
                    json.dumps({"query": PASSPORT, "variables": {"iin": iin}}).encode(),
                    issuer.issue("patient", f"bench-{iin}", ttl_s=3600, iin=iin),
                )
                for iin in iins
            ]
            with start_emulators(data_dir, free_port(7)) as emulators:
                apps = {}
                sink_url = f"http://127.0.0.1:{sink_port}"
                for mode, endpoint in (("off", ""), ("on", sink_url), ("sampled", sink_url)):
                    config = directory / f"{mode}.toml"
                    write_config(config, emulators.urls, issuer, free_port(), False, endpoint)
                    # The SDK reads its sampler from the environment when the app is made.
                    sampler = SAMPLED if mode == "sampled" else {}
                    os.environ.update(sampler)
                    apps[mode] = create_app(load_settings(config))
                    for name in sampler:
                        os.environ.pop(name)
                best = asyncio.run(measure(apps, bodies, args.rounds, args.requests))
    finally:
        sink.terminate()
        sink.wait(timeout=10)
    print(f"best of {args.rounds} rounds of {args.requests} warm full passports, in process")
    print("| tracing | CPU µs per passport |\n|---|---:|")
    for mode, micros in best.items():
        print(f"| {mode} | {micros:,.0f} |")
    for mode in ("on", "sampled"):
        extra = best[mode] - best["off"]
        print(f"{mode} - off: {extra:,.0f} µs ({best[mode] / best['off'] - 1:+.0%})")
    print(json.dumps({"cpu_us_per_passport": best}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
