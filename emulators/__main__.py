"""``python -m emulators {generate,serve,run-one}``: the emulators' command line."""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date
from pathlib import Path

from emulators.population.cli import population_size
from emulators.serve import SYSTEMS, Credentials, run_one, serve


def _add_credentials(parser: argparse.ArgumentParser) -> None:
    defaults = Credentials()
    parser.add_argument("--fhir-token", default=defaults.fhir_token)
    parser.add_argument("--lis-key", default=defaults.lis_key)
    parser.add_argument("--dps-client-id", default=defaults.dps_client_id)
    parser.add_argument("--dps-secret", default=defaults.dps_secret)
    parser.add_argument("--ambulance-user", default=defaults.ambulance_user)
    parser.add_argument("--ambulance-password", default=defaults.ambulance_password)
    parser.add_argument(
        "--lis-max-rps", type=float, default=None, help="LIS answers 429 above this request rate"
    )


def _credentials(args: argparse.Namespace) -> Credentials:
    return Credentials(
        fhir_token=args.fhir_token,
        lis_key=args.lis_key,
        dps_client_id=args.dps_client_id,
        dps_secret=args.dps_secret,
        ambulance_user=args.ambulance_user,
        ambulance_password=args.ambulance_password,
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``serve`` and ``run-one`` commands (``generate`` belongs to emulators.population)."""
    parser = argparse.ArgumentParser(prog="python -m emulators")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate", help="generate a population (see generate --help)")

    serve_cmd = commands.add_parser("serve", help="generate a population and serve all emulators")
    serve_cmd.add_argument(
        "--population", type=population_size, default=1000, help="number of people"
    )
    serve_cmd.add_argument("--seed", type=int, default=7)
    serve_cmd.add_argument("--port-base", type=int, default=9101)
    serve_cmd.add_argument("--data-dir", type=Path, default=None)
    serve_cmd.add_argument("--write-config", type=Path, default=None)
    serve_cmd.add_argument("--today", type=date.fromisoformat, default=None)
    serve_cmd.add_argument(
        "--latency-ms", type=float, default=0, help="initial latency fault for every emulator"
    )
    _add_credentials(serve_cmd)

    one = commands.add_parser("run-one", help="serve one emulator in this process")
    one.add_argument("--system", choices=SYSTEMS, required=True)
    one.add_argument("--port", type=int, required=True)
    one.add_argument("--data-dir", type=Path, required=True)
    one.add_argument("--host", default="127.0.0.1")
    _add_credentials(one)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a command; return its exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "generate":
        from emulators.population import main as generate_main

        return generate_main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    if args.command == "run-one":
        run_one(
            args.system, args.port, args.data_dir, _credentials(args), args.lis_max_rps, args.host
        )
        return 0
    data_dir = args.data_dir or Path(tempfile.gettempdir()) / (
        f"ehp-population-seed{args.seed}-size{args.population}"
    )
    return serve(
        data_dir,
        args.port_base,
        args.population,
        args.seed,
        _credentials(args),
        today=args.today,
        write_config=args.write_config,
        latency_ms=args.latency_ms,
        lis_max_rps=args.lis_max_rps,
    )


if __name__ == "__main__":
    sys.exit(main())
