"""Generating in two fixed shards (worker processes for large populations) and merging them."""

from __future__ import annotations

import gc
import multiprocessing
import random
import shutil
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import date
from pathlib import Path

import orjson

from emulators.clock import today_in_almaty
from emulators.population.base import EDGE_CASES
from emulators.population.directory import Directory, directory_truth
from emulators.population.generator import Population
from emulators.population.sinks import merge_shards
from emulators.storage import DATABASES

SHARDS = 2  # people are split by index parity; fixed, so the output never depends on the CPUs
IN_PROCESS_BELOW = 5000  # small populations are generated shard after shard, without processes


def generate_shard(shard_dir: Path, size: int, seed: int, today: date, shard: int) -> None:
    """Generate one shard's people into scratch databases and ground-truth fragments."""
    # Nothing generated here forms reference cycles; the collector would only rescan the heap.
    collecting = gc.isenabled()
    gc.disable()
    try:
        population = Population(shard_dir, size, seed, today, shard, SHARDS)
        cases = population.run()
        population.close()
    finally:
        if collecting:
            gc.enable()
    (shard_dir / "cases.json").write_bytes(orjson.dumps(cases))


def generate(data_dir: Path, size: int = 300, seed: int = 7, today: date | None = None) -> Path:
    """Write every system's database and ground_truth.json; returns the ground truth's path."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    today = today or today_in_almaty()
    scratch = data_dir / ".shards"
    shutil.rmtree(scratch, ignore_errors=True)
    shard_dirs = [scratch / str(k) for k in range(SHARDS)]
    for shard_dir in shard_dirs:
        shard_dir.mkdir(parents=True)
    if size < IN_PROCESS_BELOW:
        for k, shard_dir in enumerate(shard_dirs):
            generate_shard(shard_dir, size, seed, today, k)
    else:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=SHARDS, mp_context=context) as pool:
            jobs = [
                pool.submit(generate_shard, shard_dir, size, seed, today, k)
                for k, shard_dir in enumerate(shard_dirs)
            ]
            for job in jobs:
                job.result()
    with ThreadPoolExecutor(max_workers=SHARDS) as pool:  # sqlite releases the GIL
        merges = [pool.submit(merge_shards, data_dir, shard_dirs, system) for system in DATABASES]
        truth_path = write_truth(data_dir, shard_dirs, size, seed, today)
        for merge in merges:
            merge.result()
    shutil.rmtree(scratch)
    return truth_path


def write_truth(data_dir: Path, shard_dirs: list[Path], size: int, seed: int, today: date) -> Path:
    """Assemble ground_truth.json from the shards' fragments, without parsing them again."""
    organizations, practitioners = directory_truth(Directory(random.Random(seed), size, today))
    cases: dict[str, list[str]] = {name: [] for name in EDGE_CASES}
    for shard_dir in shard_dirs:
        for name, iins in orjson.loads((shard_dir / "cases.json").read_bytes()).items():
            cases[name].extend(iins)
    head = orjson.dumps(
        {
            "seed": seed,
            "size": size,
            "today": today.isoformat(),
            "organizations": organizations,
            "practitioners": practitioners,
        }
    )
    truth_path = data_dir / "ground_truth.json"
    with truth_path.open("wb") as out:
        out.write(head[:-1])
        out.write(b',"people":{')
        separator = b""
        for shard_dir in shard_dirs:  # each holds '"iin":{...},"iin":{...}' members
            people = shard_dir / "people.json"
            if people.stat().st_size:
                out.write(separator)
                with people.open("rb") as members:
                    shutil.copyfileobj(members, out, 1 << 20)
                separator = b","
        out.write(b'},"edgeCases":')
        out.write(orjson.dumps(cases))
        out.write(b"}")
    return truth_path
