"""The side-by-side report of issue 8: what each scenario measured, in markdown and JSON.

``write_report(run, directory)`` writes ``report.md`` and ``report.json``; ``render(run)``
is the markdown alone (what ``bench/README.md`` quotes). Scenario modules fill in
``Measurement``; nothing here measures anything.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass
class Measurement:
    """One scenario's figures (None where a figure does not apply)."""

    scenario: str  # "S1" .. "S5", or "S3 floor"
    title: str
    requests: int
    duration_s: float
    rps: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    errors: int
    upstream_calls_per_request: float | None
    gateway_cpu_pct: float | None
    gateway_peak_rss_mb: float | None
    emulator_cpu_pct: float | None
    goal: str = ""
    measured: str = ""  # the figure the goal is about, in words
    goal_met: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Machine:
    """What the figures ran on and how busy it was."""

    cpus: int
    cpu_model: str
    python: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]

    @classmethod
    def now(cls) -> Machine:
        """This machine, with the current load average as both before and after."""
        model = "unknown CPU"
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        load = os.getloadavg()
        return cls(os.cpu_count() or 0, model, platform.python_version(), load, load)


@dataclass
class Run:
    """A whole benchmark run: settings, machine, measurements, profiles."""

    started: str
    quick: bool
    settings: dict[str, Any]
    machine: Machine
    measurements: list[Measurement]
    profiles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def begin(cls, quick: bool, settings: dict[str, Any]) -> Run:
        """A run starting now on this machine."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return cls(stamp, quick, settings, Machine.now(), [])


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _verdict(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "–"}[met]


def _load(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def render(run: Run) -> str:
    """The markdown report."""
    m = run.machine
    mode = "quick (smoke) mode: short runs, figures indicative only" if run.quick else "full run"
    settings = ", ".join(f"{k} = {v}" for k, v in run.settings.items())
    lines = [
        f"Run {run.started}, {mode}.",
        "",
        f"Machine: {m.cpus} CPUs ({m.cpu_model}), Python {m.python}. Load average (1/5/15 min) "
        f"before: {_load(m.load_before)}, after: {_load(m.load_after)}.",
        "",
        f"Settings: {settings}.",
        "",
        "### Goals",
        "",
        "| scenario | goal | measured | met |",
        "|---|---|---|---|",
    ]
    for r in run.measurements:
        if r.goal:
            lines.append(f"| {r.scenario} | {r.goal} | {r.measured} | {_verdict(r.goal_met)} |")
    lines += [
        "",
        "### Figures",
        "",
        "| scenario | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | errors "
        "| upstream calls/req | gateway CPU | gateway peak RSS MiB | emulator CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in run.measurements:
        cpu = f"{_num(r.gateway_cpu_pct, 0)}%" if r.gateway_cpu_pct is not None else "–"
        emu = f"{_num(r.emulator_cpu_pct, 0)}%" if r.emulator_cpu_pct is not None else "–"
        lines.append(
            f"| {r.scenario} {r.title} | {r.requests:,} | {_num(r.rps)} | {_num(r.p50_ms)} "
            f"| {_num(r.p95_ms)} | {_num(r.p99_ms)} | {_num(r.max_ms)} | {r.errors} "
            f"| {_num(r.upstream_calls_per_request, 2)} | {cpu} | {_num(r.gateway_peak_rss_mb, 0)} "
            f"| {emu} |"
        )
    lines += [
        "",
        "CPU figures are the process's user + system time over the measured window as a share",
        "of one core (`/proc/PID/stat`); emulator CPU is the sum over the seven emulators. Peak",
        "RSS is the gateway's `VmHWM` at the end of the scenario (a high-water mark since start).",
    ]
    details = [r for r in run.measurements if r.details]
    if details:
        lines += ["", "### Details", ""]
        for r in details:
            text = "; ".join(f"{k}: {_detail(v)}" for k, v in r.details.items())
            lines.append(f"- **{r.scenario}**: {text}")
    for name, rows in run.profiles.items():
        lines += [
            "",
            f"### Profile: {name}",
            "",
            "| function | inclusive | self |",
            "|---|---:|---:|",
        ]
        for row in rows:
            lines.append(
                f"| `{row['function']}` | {row['inclusive_pct']:.1f}% | {row['self_pct']:.1f}% |"
            )
    return "\n".join(lines) + "\n"


def _detail(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_detail(v)}" for k, v in value.items())
    return str(value)


def write_report(run: Run, directory: Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.json`` into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    markdown = directory / "report.md"
    markdown.write_text(render(run), encoding="utf-8")
    data = directory / "report.json"
    data.write_text(json.dumps(asdict(run), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return markdown, data
