"""Sampling profiles of the gateway under a scenario's load, with py-spy, aggregated per function.

``Recording(pid, seconds)`` runs ``py-spy record -f raw`` against the gateway (on the load
CPU) while the caller drives load; ``aggregate(raw)`` turns the collapsed stacks into
inclusive and self shares per function, ``by_package(raw)`` per top-level package.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.scenarios.load import LOAD_CPU

_LINE = re.compile(r":\d+\)$")
_SITE = re.compile(r"\(/[^)]*?/(site-packages|lib/python3\.\d+)/")
_REPO = str(Path(__file__).resolve().parent.parent.parent) + "/"
# Leaf frames of threads that wait for work: py-spy does not always see them as idle.
IDLE_LEAVES = frozenset({"_worker (concurrent/futures/thread.py)", "wait (threading.py)"})


def py_spy() -> str | None:
    """The py-spy executable (next to this interpreter, or on PATH), or None."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recording:
    """py-spy sampling one process for a fixed time, writing collapsed stacks to ``out``."""

    def __init__(
        self, pid: int, seconds: int, out: Path, rate: int = 500, native: bool = False
    ) -> None:
        executable = py_spy()
        if executable is None:
            raise RuntimeError("py-spy is not installed (.venv/bin/pip install py-spy)")
        self.out = out
        command = [
            "taskset",
            "-c",
            str(LOAD_CPU),
            executable,
            "record",
            "-p",
            str(pid),
            "-f",
            "raw",
            "-o",
            str(out),
            "-d",
            str(seconds),
            "-r",
            str(rate),
            "--full-filenames",
            *(["--native"] if native else []),
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )

    def running(self) -> bool:
        """Whether py-spy is still sampling."""
        return self.process.poll() is None

    def wait(self) -> Path:
        """Wait for the recording to end; the raw file."""
        _, err = self.process.communicate()
        if self.process.returncode != 0 or not self.out.exists():
            raise RuntimeError(f"py-spy failed: {err[-500:]}")
        return self.out


def _frame(text: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (package/file.py)``."""
    return _SITE.sub("(", _LINE.sub(")", text)).replace("(" + _REPO, "(")


def stacks(raw: Path) -> Counter[tuple[str, ...]]:
    """The busy stacks of a raw py-spy file, frames without line numbers, with counts."""
    out: Counter[tuple[str, ...]] = Counter()
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = tuple(_frame(f) for f in stack.split(";"))
            if frames[-1] not in IDLE_LEAVES:
                out[frames] += int(count)
    return out


def aggregate(raw: Path, top: int = 25) -> list[dict]:
    """The ``top`` functions by self time, with inclusive and self shares of all samples."""
    return _shares(stacks(raw), lambda frame: frame, top, order="self")


def inclusive(raw: Path, top: int = 25) -> list[dict]:
    """The ``top`` functions by inclusive time (the caller frames of the hot paths)."""
    return _shares(stacks(raw), lambda frame: frame, top, order="inclusive")


def by_package(raw: Path, top: int = 12) -> list[dict]:
    """Self and inclusive shares per top-level package (graphql, strawberry, gateway, ...)."""
    return _shares(stacks(raw), _package, top, order="self")


# Where gateway CPU goes, by component: a sample goes to the component of its innermost frame
# that has one (standard-library frames such as asyncio's go to the code that called them).
COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "HTTP client",
        (
            "httpx/",
            "httpcore/",
            "h11/",
            "anyio/",
            "sniffio/",
            "aiohttp/",
            "httpx_aiohttp/",
            "yarl/",
            "multidict/",
            "aiohappyeyeballs/",
            "authlib/",
            "gateway/sources/http.py",
            "gateway/sources/pool.py",
        ),
    ),
    ("record codec", ("gateway/records.py", "msgspec/")),
    (
        "source adapters (parse, map)",
        (
            "gateway/sources/lis.py",
            "gateway/sources/dps.py",
            "gateway/sources/fhir",
            "gateway/sources/ambulance.py",
            "gateway/sources/ownership.py",
            "gateway/sources/errors.py",
        ),
    ),
    ("cache, single-flight, resilience", ("gateway/sources/",)),
    ("audit", ("gateway/audit/", "gateway/db/", "_write_audit (gateway/view.py)")),
    ("auth and policy", ("gateway/auth/", "joserfc/", "cryptography/")),
    (
        "GraphQL execution",
        ("graphql/", "strawberry/", "gateway/schema/", "gateway/resolvers/", "gateway/contract/"),
    ),
    (
        "HTTP server",
        ("uvicorn/", "starlette/", "httptools/", "cross_web/", "gateway/view.py", "gateway/app"),
    ),
)
OTHER = "other (event loop, GC, ...)"


def component(stack: tuple[str, ...]) -> str:
    """The component of one sampled stack (``COMPONENTS``), by its innermost known frame
    below the event loop (the frames that start the loop are nobody's work)."""
    for frame in reversed(stack):
        if frame.startswith("Runner.run "):
            break
        for name, marks in COMPONENTS:
            if any(mark in frame for mark in marks):
                return name
    return OTHER


def components(raw: Path, main_only: bool = True) -> list[dict]:
    """Shares of busy samples per component (of the event loop's thread when ``main_only``)."""
    counts: Counter[str] = Counter()
    for stack, count in stacks(raw).items():
        if main_only and not any(f.startswith("Runner.run ") for f in stack):
            continue
        counts[component(stack)] += count
    total = sum(counts.values()) or 1
    return [
        {"function": name, "inclusive_pct": 100 * n / total, "self_pct": 100 * n / total}
        for name, n in counts.most_common()
    ]


def _package(frame: str) -> str:
    match = re.search(r"\((?:site-packages/)?([^)/]+)", frame)
    name = match.group(1) if match else frame
    return name.removesuffix(".py")


def gc_share(raw: Path) -> dict[str, float]:
    """From a ``--native`` recording: the event loop's busy samples, and the share in the GC.

    Pure-Python profiles charge a garbage collection to whatever frame allocated when it
    started; only native frames (``gc_collect_main``) show how much time it takes.
    """
    busy = gc = 0
    for stack, count in stacks(raw).items():
        if not any(f.startswith("Runner.run ") for f in stack):
            continue  # another thread (the audit executor, mostly waiting)
        if stack[-1].startswith(("epoll_wait", "epoll_pwait")):
            continue  # the event loop waiting: idle
        busy += count
        if any(f.startswith("gc_collect_main") for f in stack):
            gc += count
    return {"busy samples": busy, "GC share of busy %": 100 * gc / busy if busy else 0.0}


def _shares(samples: Counter[tuple[str, ...]], key, top: int, order: str) -> list[dict]:
    total = sum(samples.values()) or 1
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    for stack, count in samples.items():
        for name in {key(frame) for frame in stack}:
            incl[name] += count
        if stack:
            self_[key(stack[-1])] += count
    ranking = self_ if order == "self" else incl
    return [
        {
            "function": name,
            "inclusive_pct": 100 * incl[name] / total,
            "self_pct": 100 * self_[name] / total,
        }
        for name, _ in ranking.most_common(top)
    ]
