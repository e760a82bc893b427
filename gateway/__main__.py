"""``python -m gateway {serve,demo,token,audit verify}``: the commands of CONFIG.md."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.config import ConfigError, load_settings


def _config_path(value: str | None) -> Path:
    path = value or os.environ.get("EHP_CONFIG")
    if not path:
        raise SystemExit("error: give --config PATH or set EHP_CONFIG")
    return Path(path)


def _serve(argv: Sequence[str]) -> int:
    import uvicorn

    from gateway.app import create_app
    from gateway.logs import configure_logging

    parser = argparse.ArgumentParser(prog="python -m gateway serve")
    parser.add_argument("--config")
    args = parser.parse_args(argv)
    settings = load_settings(_config_path(args.config))
    configure_logging(os.environ.get("EHP_LOG_LEVEL", "INFO"))
    uvicorn.run(
        create_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        log_level="warning",
        log_config=None,  # keep our redacting handler
    )
    return 0


def _audit(argv: Sequence[str]) -> int:
    from gateway.audit.verify import run_verify

    parser = argparse.ArgumentParser(prog="python -m gateway audit")
    parser.add_argument("action", choices=["verify"])
    parser.add_argument("--config")
    args = parser.parse_args(argv)
    settings = load_settings(_config_path(args.config))
    return run_verify(settings.audit.database_url)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to one command; a bad config stops with a message naming the key."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = ("serve", "demo", "token", "audit")
    if not argv or argv[0] not in commands:
        sys.stderr.write(f"usage: python -m gateway {{{','.join(commands)}}} ...\n")
        return 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "serve":
            return _serve(rest)
        if command == "audit":
            return _audit(rest)
        if command == "token":
            from gateway.auth.issuer import main as token_main

            return token_main(rest)
        # The demo lives outside the product (it starts the emulators): hand the process over.
        os.execv(sys.executable, [sys.executable, "-m", "demo", *rest])  # noqa: S606
    except ConfigError as error:
        sys.stderr.write(f"config error: {error}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
