"""Populations generated for a fixed day, and their databases, for the generator's tests."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from emulators.population import generate

TODAY = date(2026, 11, 25)


def generated(factory: pytest.TempPathFactory, name: str, size: int, seed: int) -> Path:
    """A population generated for TODAY into a fresh directory."""
    data_dir = factory.mktemp(name)
    generate(data_dir, size=size, seed=seed, today=TODAY)
    return data_dir


def read_truth(population: Path) -> dict:
    """The parsed ground truth."""
    return json.loads((population / "ground_truth.json").read_text(encoding="utf-8"))


def db(population: Path, system: str) -> sqlite3.Connection:
    """Open one system's database."""
    return sqlite3.connect(population / f"{system}.sqlite")
