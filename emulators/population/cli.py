"""The ``emulators generate`` command line."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

from emulators.population.sharding import generate
from emulators.storage import database_path


def population_size(text: str) -> int:
    """An argparse type: a number of people, at least 1."""
    size = int(text)
    if size < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return size


def main(argv: list[str] | None = None) -> int:
    """CLI: generate a population into a data directory."""
    parser = argparse.ArgumentParser(prog="emulators generate", description=main.__doc__)
    parser.add_argument("--population", type=population_size, default=300, help="number of people")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="the day the population is generated for (YYYY-MM-DD)",
    )
    args = parser.parse_args(argv)
    began = time.perf_counter()
    truth_path = generate(args.data_dir, size=args.population, seed=args.seed, today=args.today)
    elapsed = time.perf_counter() - began
    names = ", ".join(
        database_path(args.data_dir, s).name for s in ("register", "lis", "dps", "ambulance")
    )
    print(
        f"generated {args.population} people (seed {args.seed}) in {elapsed:.1f}s: "
        f"{names}, ehr-*.sqlite, {truth_path}",
        file=sys.stderr,
    )
    return 0
